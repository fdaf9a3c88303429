"""Lifecycle task: moves the booking to the step's status (conditionally, with history and a live event)
and returns the timing plan the following Wait/timeout states use."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub import booking_runtime as runtime
from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.domain.booking_status import Status
from driveway_hub.domain.bookings import change_status, lifecycle_plan
from driveway_hub.observability import logger


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ctx = runtime.context(get_settings())
    now = utcnow()
    booking = change_status(ctx, event["booking_id"], Status(event["status"]), by="lifecycle",
                            reason=event.get("reason"), now=now)
    return lifecycle_plan(booking, now, ctx.timing)
