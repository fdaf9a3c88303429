"""PATCH /v1/bookings/{booking_id} — extend ``end`` (re-priced, conflict-checked, the difference charged
by a second PaymentIntent) or change ``vehicle_id``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, model_validator

from driveway_hub import booking_runtime as runtime
from driveway_hub.booking_views import booking_view
from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.domain.bookings import extend_booking, require_party
from driveway_hub.errors import NotOwner
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer

app = make_resolver("update_booking")


class UpdateBookingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    end: datetime | None = None
    vehicle_id: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _something(self) -> UpdateBookingRequest:
        if self.end is None and self.vehicle_id is None:
            raise ValueError("send end and/or vehicle_id")
        return self


@app.patch("/bookings/<booking_id>")
def patch_booking(booking_id: str, request: Annotated[UpdateBookingRequest, Body()]) -> dict[str, Any]:
    settings = get_settings()
    ctx = runtime.context(settings)
    caller = runtime.caller_of(principal_of(app))
    now = utcnow()
    answer: dict[str, Any] = {}
    if request.vehicle_id is not None:
        booking = ctx.bookings.get(booking_id, consistent=True)
        if require_party(booking, caller) == "host":
            raise NotOwner("Only the booking's driver may change its vehicle.")
        vin = runtime.vin_for(settings, booking.driver_id, request.vehicle_id)
        ctx.bookings.update_fields(booking, now, vehicle_id=request.vehicle_id, vin=vin)
    if request.end is not None:
        extension = extend_booking(ctx, catalog=runtime.catalog(settings), payouts=runtime.payouts(settings),
                                   payments=runtime.payments(settings), caller=caller, booking_id=booking_id,
                                   new_end=request.end, now=now)
        if extension.payment_intent_id:
            answer["payment"] = {"payment_intent_id": extension.payment_intent_id,
                                 "client_secret": extension.client_secret,
                                 "amount_cents": extension.total_delta_cents}
    answer["booking"] = booking_view(ctx.bookings.get(booking_id, consistent=True))
    return answer


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
