"""Lifecycle task after PARKED: captures a manual-capture hold (automatic-capture bookings were charged
at confirmation). Stripe outages raise StripeUnavailable so the state machine retries with backoff."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub import booking_runtime as runtime
from driveway_hub.adapters.notifier import live_event
from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.observability import logger


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    ctx = runtime.context(settings)
    booking = ctx.bookings.get(event["booking_id"], consistent=True)
    if booking.capture_method != "manual" or not booking.payment_intent_id:
        return {"captured": False, "reason": "charged at confirmation"}
    payments = runtime.payments(settings)
    intent = payments.retrieve(booking.payment_intent_id)
    if intent.status == "requires_capture":
        intent = payments.capture(booking.payment_intent_id, idempotency_key=f"booking:{booking.booking_id}:capture")
    ctx.notifier.publish((booking.driver_id, booking.host_id), live_event(
        "payment.updated", booking.booking_id, utcnow(), status=intent.status, amount_cents=int(booking.total_cents)))
    return {"captured": intent.status == "succeeded", "status": intent.status}
