"""Lifecycle task at the navigation lead time: sends the driveway's address to the booking's Tesla.

A sleeping car raises ``VehicleAsleep`` after asking it to wake; the state machine retries with backoff
(never a sleep inside Lambda). No linked car, or any other failure, raises too: the state machine's
Catch then tells the driver to drive there themselves, and the booking goes on.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub import booking_runtime as runtime
from driveway_hub.config import get_settings
from driveway_hub.errors import Conflict
from driveway_hub.observability import logger


class NoVehicle(Conflict):
    code = "no_vehicle"


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    booking = runtime.context(settings).bookings.get(event["booking_id"], consistent=True)
    if not booking.vin:
        raise NoVehicle("The booking has no linked Tesla.")
    result = runtime.tesla_commands(settings).navigate_to_driveway(booking)
    return {"sent": True, **result}
