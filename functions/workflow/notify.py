"""Lifecycle task: tells the driver that navigation could not be sent (no linked Tesla, car unreachable)
and that they should drive to the driveway themselves; the booking goes on."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub import booking_runtime as runtime
from driveway_hub.adapters.notifier import live_event
from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.observability import logger

MESSAGES = {
    "navigation_failed": "We could not send the destination to your car. Please drive to the driveway yourself.",
}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ctx = runtime.context(get_settings())
    booking = ctx.bookings.get(event["booking_id"])
    kind = event["kind"]
    delivered = ctx.notifier.publish((booking.driver_id,), live_event(
        "navigation.failed" if kind == "navigation_failed" else kind, booking.booking_id, utcnow(),
        message=MESSAGES.get(kind, kind)))
    return {"notified": delivered}
