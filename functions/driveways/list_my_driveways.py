"""GET /v1/driveways?mine=true — the caller's listings, newest first, paginated."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.config import get_settings
from driveway_hub.domain.driveways import MAX_PAGE_LIMIT
from driveway_hub.errors import InvalidInput
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer
from functions.driveways.models import fields_in
from functions.driveways.runtime import driveway_service

app = make_resolver("list_my_driveways")


@app.get("/driveways")
def list_my_driveways(
    mine: Annotated[bool, Query()],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> dict[str, Any]:
    if not mine:
        # Browsing other hosts' listings is what search is for.
        raise InvalidInput("only mine=true is supported; use /search/driveways to browse", field="query.mine")
    service = driveway_service(get_settings())
    with fields_in("query"):
        page = service.list_mine(principal_of(app), limit=limit, cursor=cursor)
    return {"items": [service.present(d, full=True) for d in page.items], "next_cursor": page.next_cursor}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
