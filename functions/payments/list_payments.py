"""GET /v1/payments?limit=&cursor= — the calling driver's payments and refunds, newest first."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

import driveway_hub.payments.runtime as runtime
from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer
from driveway_hub.payments.views import payment_view

app = make_resolver("list_payments")


@app.get("/payments")
def list_payments(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> dict[str, Any]:
    page = runtime.records(get_settings()).list_for_user(principal_of(app).user_id, limit=limit, cursor=cursor)
    return {"items": [payment_view(r) for r in page.items], "next_cursor": page.next_cursor}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
