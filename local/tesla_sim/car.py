"""One simulated car: where it is, what it is doing, and how it moves as virtual time passes.

Not thread-safe on its own: ``TeslaSimulator`` holds its lock around every call.

The trip a booking produces::

    idle/parked --navigation--> driving --(reaches the kerb, gear D)--> arrived
        --prompt (driver reacts after park_reaction_s)--> park_pending --> parking (creep)
        --(exact target point)--> parked (gear P) --depart--> departing --> idle (gear P, elsewhere)
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass, field
from typing import Literal

from local.tesla_sim.config import SimConfig, VehicleSpec, VehicleState
from local.tesla_sim.geo import LatLng, bearing_deg, destination, distance_m, interpolate, offset

Phase = Literal["idle", "driving", "arrived", "park_pending", "parking", "parked", "departing"]
Gear = Literal["P", "R", "N", "D"]
ParkMode = Literal["driver_guided", "automatic"]

KMH_PER_MPH = 1.609344
_MOVING: frozenset[Phase] = frozenset({"driving", "parking", "departing"})


class ParkingRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Route:
    """A polyline with cumulative distances; positions are looked up by distance travelled."""

    points: list[LatLng]
    cumulative_m: list[float]

    @classmethod
    def through(cls, points: list[LatLng]) -> Route:
        cumulative = [0.0]
        for a, b in itertools.pairwise(points):
            cumulative.append(cumulative[-1] + distance_m(a, b))
        return cls(points, cumulative)

    @classmethod
    def city_blocks(cls, start: LatLng, target: LatLng) -> Route:
        """North-south first, then east-west: a plausible grid-city route with one turn."""
        corner = LatLng(target.lat, start.lng)
        if distance_m(start, corner) < 1.0 or distance_m(corner, target) < 1.0:
            return cls.through([start, target])
        return cls.through([start, corner, target])

    @property
    def total_m(self) -> float:
        return self.cumulative_m[-1]

    def locate(self, along_m: float) -> tuple[LatLng, float]:
        """Position and heading after ``along_m`` metres."""
        along_m = min(max(along_m, 0.0), self.total_m)
        index = max(0, min(bisect.bisect_right(self.cumulative_m, along_m) - 1, len(self.points) - 2))
        a, b = self.points[index], self.points[index + 1]
        leg = self.cumulative_m[index + 1] - self.cumulative_m[index]
        fraction = 0.0 if leg == 0 else (along_m - self.cumulative_m[index]) / leg
        return interpolate(a, b, fraction), bearing_deg(a, b)


@dataclass(frozen=True)
class VehicleView:
    """A consistent snapshot of one car (what the Fleet API, telemetry and tests read)."""

    vin: str
    display_name: str
    state: VehicleState
    lat: float  # as the GPS reports it (with noise while moving)
    lng: float
    heading: float
    speed_mph: float
    gear: Gear
    phase: Phase
    destination: LatLng | None  # active navigation target, only while navigating
    minutes_to_arrival: float | None
    miles_to_arrival: float | None
    navigation_error: str | None
    locked: bool
    odometer_mi: float
    battery_level: int
    key_paired: bool
    requires_signed_commands: bool
    firmware_version: str
    owner_email: str
    parking_target: LatLng | None
    park_mode: ParkMode | None
    at: float


@dataclass
class Car:
    spec: VehicleSpec
    owner_email: str
    state: VehicleState
    position: LatLng
    heading: float
    key_paired: bool
    gear: Gear = "P"
    phase: Phase = "idle"
    speed_kmh: float = 0.0
    route: Route | None = None
    along_m: float = 0.0
    stop_m: float = 0.0  # where the current movement ends on ``route``
    target: LatLng | None = None  # the exact point navigation was sent to (the driveway)
    navigation_error: str | None = None
    park_requested: bool = False
    park_mode: ParkMode | None = None
    park_at: float | None = None
    locked: bool = True
    odometer_m: float = 0.0
    wake_polls_left: int | None = None
    wake_deadline: float | None = None
    last_active: float = 0.0
    gps_noise: tuple[float, float] = (0.0, 0.0)
    commands: list[tuple[float, str]] = field(default_factory=list)

    @classmethod
    def from_spec(cls, spec: VehicleSpec, owner_email: str, now: float) -> Car:
        return cls(
            spec=spec,
            owner_email=owner_email,
            state=spec.state,
            position=LatLng(spec.lat, spec.lng),
            heading=spec.heading % 360.0,
            key_paired=spec.key_paired,
            last_active=now,
        )

    # --- sleep and wake --------------------------------------------------------------------------

    def start_waking(self, now: float, cfg: SimConfig) -> None:
        if self.state == "asleep" and self.wake_polls_left is None:
            self.wake_polls_left = cfg.wake_after_polls
            self.wake_deadline = now + cfg.wake_after_s
            self._settle_wake(now)

    def note_poll(self, now: float) -> None:
        """A state poll while waking brings the car closer to online (Tesla: "poll until online")."""
        if self.wake_polls_left is not None:
            self.wake_polls_left -= 1
            self._settle_wake(now)

    def _settle_wake(self, now: float) -> None:
        polls_done = self.wake_polls_left is not None and self.wake_polls_left <= 0
        time_done = self.wake_deadline is not None and now >= self.wake_deadline
        if polls_done or time_done:
            self.set_state("online", now)

    def set_state(self, state: VehicleState, now: float) -> None:
        self.state = state
        self.wake_polls_left = self.wake_deadline = None
        self.last_active = now

    def touch(self, now: float) -> None:
        """Traffic keeps a car awake: that is why Tesla asks apps not to poll ``vehicle_data``."""
        if self.state == "online":
            self.last_active = now

    def wake_for_driver(self, now: float) -> None:
        """The driver got in: a car being driven is online whatever it was doing."""
        if self.state != "online":
            self.set_state("online", now)

    # --- trips -----------------------------------------------------------------------------------

    def navigate(self, target: LatLng, now: float, cfg: SimConfig) -> None:
        self.route = Route.city_blocks(self.position, target)
        self.along_m = 0.0
        self.stop_m = max(0.0, self.route.total_m - cfg.arrival_offset_m)
        self.target = target
        self.navigation_error = None
        self.park_requested = False
        self.park_mode = self.park_at = None
        self._move("driving", cfg.speed_kmh, now)
        if self.stop_m <= 0.0:
            self._arrive(now, cfg)

    def request_park(self, mode: ParkMode, now: float, cfg: SimConfig) -> str:
        """Ask for the final manoeuvre.

        Returns ``scheduled``, ``pending_arrival`` (driver-guided while still driving),
        ``in_progress`` (already creeping in) or ``already_parked``; raises ``ParkingRefused``.
        """
        if self.phase == "parked":
            return "already_parked"
        if self.phase == "parking":
            return "in_progress"
        if self.target is None or self.phase in ("idle", "departing"):
            raise ParkingRefused("no_destination", "the car has no navigation destination to park at")
        if self.phase == "driving" and mode == "automatic":
            raise ParkingRefused("not_at_destination", "the car has not reached its destination yet")
        self.park_requested = True
        self.park_mode = mode
        if self.phase == "driving":
            return "pending_arrival"  # a real driver parks once they get there
        self.wake_for_driver(now)
        if self.phase == "park_pending" and mode == "driver_guided":
            return "scheduled"  # the driver is already on it; a second prompt does not restart the clock
        self._schedule_park(now, cfg)
        return "scheduled"

    def depart(self, now: float, cfg: SimConfig) -> None:
        """Drive away: straight back the way the car came in, ``depart_distance_m`` far."""
        self.wake_for_driver(now)
        away = destination(self.position, (self.heading + 180.0) % 360.0, cfg.depart_distance_m)
        self.route = Route.through([self.position, away])
        self.along_m = 0.0
        self.stop_m = self.route.total_m
        self.target = None
        self.park_requested = False
        self.park_mode = self.park_at = None
        self._move("departing", cfg.speed_kmh, now)

    # --- time --------------------------------------------------------------------------------------

    def advance(self, t0: float, t1: float, cfg: SimConfig, rng: random.Random) -> None:
        """Move from virtual time ``t0`` to ``t1``, passing through as many phases as fit."""
        if self.wake_polls_left is not None:
            self._settle_wake(t1)
        t = t0
        while t < t1:
            if self.phase in _MOVING and self.route is not None:
                speed_mps = self.speed_kmh / 3.6
                needed = (self.stop_m - self.along_m) / speed_mps
                step = min(t1 - t, needed)
                self.odometer_m += step * speed_mps
                t += step
                if step >= needed:
                    self.along_m = self.stop_m
                    self._place()
                    self._end_of_movement(t, cfg)
                else:
                    self.along_m += step * speed_mps
                    self._place()
            elif self.phase == "park_pending" and self.park_at is not None and self.park_at <= t1:
                t = max(t, self.park_at)
                self._start_creep(t, cfg)
            else:
                break
        if self.phase in _MOVING:
            self.last_active = t1
            noise = cfg.gps_noise_m
            self.gps_noise = (rng.uniform(-noise, noise), rng.uniform(-noise, noise))
        else:
            self.gps_noise = (0.0, 0.0)
        self._maybe_fall_asleep(t1, cfg)

    def _maybe_fall_asleep(self, now: float, cfg: SimConfig) -> None:
        idle = self.phase in ("idle", "parked", "arrived")
        if (
            cfg.sleep_after_idle_s is not None
            and idle
            and self.state == "online"
            and now - self.last_active >= cfg.sleep_after_idle_s
        ):
            self.set_state("asleep", now)

    def _move(self, phase: Phase, speed_kmh: float, now: float) -> None:
        self.wake_for_driver(now)
        self.phase = phase
        self.gear = "D"
        self.speed_kmh = speed_kmh
        self.last_active = now
        self._place()

    def _place(self) -> None:
        if self.route is not None and self.route.total_m > 0:
            self.position, self.heading = self.route.locate(self.along_m)

    def _end_of_movement(self, now: float, cfg: SimConfig) -> None:
        if self.phase == "driving":
            self._arrive(now, cfg)
        elif self.phase == "parking":
            self._stop("parked", "P", now)
        else:  # departing
            self.route = None
            self._stop("idle", "P", now)

    def _arrive(self, now: float, cfg: SimConfig) -> None:
        # Navigation is over, the car waits at the kerb in D: parking is a separate, observable step.
        self._stop("arrived", "D", now)
        if self.park_requested and self.park_mode is not None:
            self._schedule_park(now, cfg)

    def _schedule_park(self, now: float, cfg: SimConfig) -> None:
        self.phase = "park_pending"
        reaction = 0.0 if self.park_mode == "automatic" else cfg.park_reaction_s
        self.park_at = now + reaction
        if reaction == 0.0:
            self._start_creep(now, cfg)

    def _start_creep(self, now: float, cfg: SimConfig) -> None:
        self.park_at = None
        if self.route is None:  # cannot happen after navigate(); keep the car consistent anyway
            self._stop("parked", "P", now)
            return
        self.stop_m = self.route.total_m
        self._move("parking", cfg.creep_speed_kmh, now)
        if self.along_m >= self.stop_m:
            self._stop("parked", "P", now)

    def _stop(self, phase: Phase, gear: Gear, now: float) -> None:
        self.phase = phase
        self.gear = gear
        self.speed_kmh = 0.0
        self.last_active = now
        if phase == "parked" and self.target is not None:
            self.position = self.target  # exactly on the driveway point

    # --- reading -------------------------------------------------------------------------------------

    def view(self, now: float) -> VehicleView:
        navigating = self.phase == "driving" and self.route is not None
        remaining_m = (self.route.total_m - self.along_m) if navigating and self.route else None
        speed_mph = self.speed_kmh / KMH_PER_MPH
        minutes = miles = None
        if remaining_m is not None:
            minutes = remaining_m / (self.speed_kmh / 3.6) / 60.0
            miles = remaining_m / (KMH_PER_MPH * 1000.0)
        reported = offset(self.position, *self.gps_noise) if self.gps_noise != (0.0, 0.0) else self.position
        return VehicleView(
            vin=self.spec.vin,
            display_name=self.spec.display_name,
            state=self.state,
            lat=reported.lat,
            lng=reported.lng,
            heading=self.heading,
            speed_mph=speed_mph,
            gear=self.gear,
            phase=self.phase,
            destination=self.target if navigating else None,
            minutes_to_arrival=minutes,
            miles_to_arrival=miles,
            navigation_error=self.navigation_error,
            locked=self.locked,
            odometer_mi=self.odometer_m / (KMH_PER_MPH * 1000.0),
            battery_level=self.spec.battery_level,
            key_paired=self.key_paired,
            requires_signed_commands=self.spec.requires_signed_commands,
            firmware_version=self.spec.firmware_version,
            owner_email=self.owner_email,
            parking_target=self.target,
            park_mode=self.park_mode,
            at=now,
        )
