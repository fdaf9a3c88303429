"""POST /v1/bookings/{booking_id}/cancel — applies the cancellation policy; a second cancel is a no-op."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from driveway_hub import booking_runtime as runtime
from driveway_hub.booking_views import booking_view
from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.domain.bookings import cancel_booking
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer

app = make_resolver("cancel_booking")


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


@app.post("/bookings/<booking_id>/cancel")
def post_cancel(booking_id: str, request: Annotated[CancelRequest | None, Body()] = None) -> dict[str, Any]:
    settings = get_settings()
    now = utcnow()
    booking = cancel_booking(runtime.context(settings), payments=runtime.payments(settings),
                             caller=runtime.caller_of(principal_of(app)), booking_id=booking_id,
                             reason=request.reason if request else None, now=now,
                             watch_payment=runtime.payment_watch(settings, now))
    return booking_view(booking)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
