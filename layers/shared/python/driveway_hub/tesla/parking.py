"""The parking-manoeuvre port: who moves the car from the kerb onto the driveway.

Tesla's Fleet API has no remote auto-park or Summon command (teslamotors/vehicle-command #114,
2025-01-22: "We currently do not have a roadmap for this"); the signed protocol's vehicle actions are
unlock, lock, remote drive, auto-secure and wake. So the Tesla adapter is honest: it answers
``driver_guided`` with that reason, flashes the lights so the host can see which car is theirs, and the
driver parks (Autopark on the car's screen if they like). The result is confirmed from telemetry
(``Gear = P`` inside the geofence: the ``parked`` milestone), never assumed.

The simulator adapter exists for the local cloud and its demo: the simulated car CAN park itself
(``POST /_sim/vehicles/{vin}/autopark``), so it answers ``automatic``. It never talks to Tesla.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import requests

from driveway_hub.errors import Conflict
from driveway_hub.observability import logger
from driveway_hub.tesla.errors import TeslaUnavailable
from driveway_hub.tesla.fleet_client import HttpSession, TeslaFleetClient

ParkingMode = Literal["automatic", "driver_guided"]

NO_REMOTE_PARK_REASON = (
    "Tesla's Fleet API offers no remote auto-park or Summon command, so the driver parks the car: use "
    "Autopark on the car's screen or park manually. We confirm parking from the car's telemetry."
)
DRIVER_INSTRUCTIONS = (
    "Pull onto the driveway and shift to Park. Tap the P icon on the screen to use Autopark if it is offered."
)


@dataclass(frozen=True)
class ParkingAnswer:
    mode: ParkingMode
    reason: str
    instructions: str | None = None
    lights_flashed: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"mode": self.mode, "reason": self.reason, "instructions": self.instructions,
                "lights_flashed": self.lights_flashed}


class ParkingPort(Protocol):
    def request_parking(self, vin: str, fleet: TeslaFleetClient) -> ParkingAnswer: ...


class TeslaParkingAdapter:
    """Real cars: driver-guided, with a best-effort ``flash_lights`` (one billed command)."""

    def __init__(self, flash_lights: bool = True):
        self._flash = flash_lights

    def request_parking(self, vin: str, fleet: TeslaFleetClient) -> ParkingAnswer:
        flashed = False
        if self._flash:
            try:
                flashed = fleet.flash_lights(vin).result
            except (TeslaUnavailable, Conflict) as exc:
                # Asleep, unpaired key, rate limited...: a nicety, never a reason to fail the request.
                logger.info("flash_lights skipped", extra={"code": exc.code})
            except Exception as exc:  # noqa: BLE001 - same: best effort, logged with its type
                logger.info("flash_lights skipped", extra={"error": type(exc).__name__})
        return ParkingAnswer("driver_guided", NO_REMOTE_PARK_REASON, DRIVER_INSTRUCTIONS, flashed)


class SimulatorParkingAdapter:
    """The local Tesla simulator's car parks itself through the simulator's control API."""

    def __init__(self, simulator_base: str, http: HttpSession, timeout: tuple[float, float] = (2.0, 5.0)):
        self._base = simulator_base.rstrip("/")
        self._http = http
        self._timeout = timeout

    def request_parking(self, vin: str, fleet: TeslaFleetClient) -> ParkingAnswer:
        try:
            response = self._http.request("POST", f"{self._base}/_sim/vehicles/{vin}/autopark", timeout=self._timeout)
        except requests.RequestException as exc:
            raise TeslaUnavailable("The Tesla simulator is unreachable.") from exc
        if response.status_code == 409:
            body = response.json() if response.content else {}
            error = body.get("error") or {}
            raise Conflict(str(error.get("message") or "The car cannot park now."),
                           code=str(error.get("code") or "cannot_park"))
        if response.status_code >= 300:
            raise TeslaUnavailable(f"The Tesla simulator answered {response.status_code}.")
        return ParkingAnswer("automatic", "The simulated car performs the parking manoeuvre itself.", None, False)
