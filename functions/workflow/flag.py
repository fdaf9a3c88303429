"""Lifecycle task when money could not be settled after bounded retries: the booking is flagged for the
reconciler and operators (a metric drives the alarm), and the workflow goes on; nothing is lost."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub import booking_runtime as runtime
from driveway_hub import business_metrics
from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.observability import logger


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ctx = runtime.context(get_settings())
    booking = ctx.bookings.get(event["booking_id"], consistent=True)
    details = dict(booking.details.as_dict() if booking.details else {})
    error = event.get("error") or {}
    details["payment_problem"] = {"problem": event["problem"], "at": utcnow().isoformat(),
                                  "error": error.get("Error") if isinstance(error, dict) else str(error)}
    ctx.bookings.update_fields(booking, utcnow(), details=details)
    business_metrics.count(business_metrics.PAYMENT_SETTLEMENT_FAILURES)
    logger.error("booking flagged for payment follow-up", extra={"booking_id": booking.booking_id,
                                                                 "problem": event["problem"]})
    return {"flagged": event["problem"]}
