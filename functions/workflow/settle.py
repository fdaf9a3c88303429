"""Lifecycle task for every ending that is not a completion (expired, payment failed, rejected, no-show,
compensation after a failure): terminal status, slot released, the PaymentIntent cancelled, captured
in part or refunded per policy, both sides notified."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub import booking_runtime as runtime
from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.domain.bookings import settle_ended_booking
from driveway_hub.observability import logger


def _error_text(error: Any) -> str | None:
    # Step Functions hands over {"Error": ..., "Cause": ...}; keep the error name, the cause is for logs.
    if isinstance(error, dict):
        return str(error.get("Error") or json.dumps(error)[:200])
    return None if error is None else str(error)[:200]


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    booking = settle_ended_booking(runtime.context(settings), payments=runtime.payments(settings),
                                   booking_id=event["booking_id"], outcome=event["outcome"],
                                   error=_error_text(event.get("error")), now=utcnow())
    return {"status": booking.status}
