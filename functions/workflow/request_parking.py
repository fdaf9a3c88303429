"""Lifecycle task on arrival: asks for the parking manoeuvre through the parking port.

Tesla's Fleet API has no remote auto-park or Summon command, so the Tesla adapter answers
``driver_guided`` (the driver is prompted to park, using Autopark on the car's screen if they like)
and flashes the lights so the host sees the car; only the simulator's adapter parks by itself. With no
linked car the driver is prompted the same way. PARKED then comes from telemetry (Gear P inside the
geofence) or the host's confirmation, never from our say-so.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub import booking_runtime as runtime
from driveway_hub.adapters.notifier import live_event
from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.observability import logger

DRIVER_GUIDED = {
    "mode": "driver_guided",
    "reason": "Tesla's Fleet API has no remote auto-park or Summon command.",
    "instructions": "Park in the driveway (Autopark on your screen works); we confirm it from the car or the host.",
}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    ctx = runtime.context(settings)
    booking = ctx.bookings.get(event["booking_id"], consistent=True)
    answer = dict(DRIVER_GUIDED)
    if booking.vin:
        answer = runtime.tesla_commands(settings).request_parking(booking)
    ctx.notifier.publish((booking.driver_id, booking.host_id),
                         live_event("parking.requested", booking.booking_id, utcnow(), **answer))
    return answer
