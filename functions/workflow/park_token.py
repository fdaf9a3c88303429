"""Lifecycle task for every waiting step (``...waitForTaskToken``): stores the step's task token on the
booking, then resumes at once if the awaited fact was already observed (see adapters/workflow.py)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub import booking_runtime as runtime
from driveway_hub.adapters.notifier import live_event
from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.domain.bookings import resume_if_observed
from driveway_hub.observability import logger

WAITING_STEPS = frozenset({"payment", "approval", "arrival", "parked", "departure"})


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    booking_id, waiting_for = event["booking_id"], event["waiting_for"]
    if waiting_for not in WAITING_STEPS:
        raise ValueError(f"unknown waiting step {waiting_for!r}")
    ctx = runtime.context(get_settings())
    now = utcnow()
    ctx.bookings.park_token(booking_id, waiting_for, event["task_token"], now)
    if event.get("ask_host"):
        booking = ctx.bookings.get(booking_id)
        # No telemetry confirmed parking in time: the host, who can see the driveway, is asked instead.
        ctx.notifier.publish((booking.host_id,), live_event("parking.confirm_requested", booking_id, now))
    resumed = resume_if_observed(ctx, booking_id, waiting_for)
    logger.info("waiting", extra={"booking_id": booking_id, "waiting_for": waiting_for, "already_observed": resumed})
    return {"waiting_for": waiting_for, "resumed": resumed}
