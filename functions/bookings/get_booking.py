"""GET /v1/bookings/{booking_id} — the driver or host of the booking (or an admin)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub import booking_runtime as runtime
from driveway_hub.booking_views import booking_view
from driveway_hub.config import get_settings
from driveway_hub.domain.bookings import require_party
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer

app = make_resolver("get_booking")


@app.get("/bookings/<booking_id>")
def get_booking(booking_id: str) -> dict[str, Any]:
    booking = runtime.context(get_settings()).bookings.get(booking_id)
    require_party(booking, runtime.caller_of(principal_of(app)))
    return booking_view(booking)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
