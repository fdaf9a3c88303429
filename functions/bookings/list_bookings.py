"""GET /v1/bookings?role=driver|host&status=&limit=&cursor= — the caller's bookings, newest first."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub import booking_runtime as runtime
from driveway_hub.booking_views import booking_view
from driveway_hub.config import get_settings
from driveway_hub.domain.booking_status import Status
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer

app = make_resolver("list_bookings")


@app.get("/bookings")
def list_bookings(
    role: Annotated[Literal["driver", "host"] | None, Query()] = None,
    status: Annotated[Status | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> dict[str, Any]:
    principal = principal_of(app)
    # A host-only user lists as host by default; everyone else as driver.
    side = role or ("host" if "host" in principal.roles and "driver" not in principal.roles else "driver")
    page = runtime.context(get_settings()).bookings.list_for(
        side, principal.user_id, limit=limit, cursor=cursor, status=status.value if status else None)
    return {"items": [booking_view(b) for b in page.items], "next_cursor": page.next_cursor}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
