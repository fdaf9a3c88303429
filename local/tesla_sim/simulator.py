"""``TeslaSimulator``: all simulator state behind one lock, and the Fleet API's rules.

The aiohttp app (``local.tesla_sim.app``) runs on its own event loop thread and only translates
HTTP to calls on this object; tests and the local cloud call it from other threads. Every public
method takes ``self._lock``, and each Fleet API method first brings the cars up to "now" so an
answer or a command always sees the car where it is at that virtual instant.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from local.tesla_sim.car import Car, ParkingRefused, ParkMode, VehicleView
from local.tesla_sim.config import REGION_PREFIXES, SimConfig, SimUser, VehicleSpec, VehicleState, stable_int
from local.tesla_sim.faults import Fault, FaultBoard, FaultKind
from local.tesla_sim.geo import LatLng, normalize_address, resolve_destination
from local.tesla_sim.oauth import AccessGrant, OAuthError, TokenStore
from local.tesla_sim.telemetry import TelemetryBatch, TelemetryTarget, build_batch, settle

VEHICLE_UNAVAILABLE = "vehicle unavailable: vehicle is offline or asleep"
PROTOCOL_REQUIRED = (
    "Tesla Vehicle Command Protocol required, please refer to the documentation here: "
    "https://developer.tesla.com/docs/fleet-api#2023-10-09-rest-api-vehicle-commands-endpoint-deprecation-warning"
)
KEY_NOT_PAIRED = "vehicle rejected request: your public key has not been paired with the vehicle"
SIMPLE_COMMANDS = frozenset({"flash_lights", "honk_horn", "door_lock", "door_unlock"})
DATA_ENDPOINTS_DEFAULT = frozenset({"charge_state", "drive_state", "vehicle_state"})

BillKind = Literal["wake", "data", "command"]


class FleetError(Exception):
    """A Fleet API error answer. ``bodyless`` is Tesla's 401 for a bad or expired access token."""

    def __init__(
        self,
        status: int,
        error: str = "",
        description: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        bodyless: bool = False,
    ) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error
        self.description = description
        self.headers = dict(headers or {})
        self.bodyless = bodyless


class SimError(Exception):
    """A control-plane request the simulator cannot honour (``code`` is snake_case)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class Counters:
    """Billable traffic in Tesla's pricing categories, plus refresh calls, for cost reports."""

    wakes: int = 0
    data_requests: int = 0
    commands: int = 0
    signals_streamed: int = 0
    refreshes: int = 0  # every refresh_token grant call, accepted or not
    refreshes_rejected: int = 0  # of which answered login_required

    def as_dict(self) -> dict[str, float]:
        # Tesla's published prices per $1: 50 wakes, 500 data requests, 1,000 commands, 150,000 signals.
        cost = self.wakes / 50 + self.data_requests / 500 + self.commands / 1000 + self.signals_streamed / 150_000
        return {
            "wakes": self.wakes,
            "data_requests": self.data_requests,
            "commands": self.commands,
            "signals_streamed": self.signals_streamed,
            "refreshes": self.refreshes,
            "refreshes_rejected": self.refreshes_rejected,
            "estimated_cost_usd": round(cost, 6),
        }


class TeslaSimulator:
    """A stateful Tesla account + Fleet API + cars, driven by an injected clock.

    Parameters
    ----------
    config:
        App registration, users, cars and tunables (``SimConfig()`` has a usable default app).
    now:
        Unix seconds. The local cloud passes its virtual clock; tests pass a manual one.
    """

    def __init__(self, config: SimConfig | None = None, *, now: Callable[[], float] = time.time) -> None:
        self.config = config or SimConfig()
        self._now = now
        self._lock = threading.RLock()
        self._rng = random.Random(self.config.seed)  # noqa: S311 - GPS noise, not security
        self._users: dict[str, SimUser] = {u.email: u for u in self.config.users}
        self._tokens = TokenStore(self.config)
        self._faults = FaultBoard()
        self._addresses: dict[str, LatLng] = {}
        self._targets: dict[str, TelemetryTarget] = {}
        self._deliveries: deque[dict[str, Any]] = deque(maxlen=200)
        self._specs: dict[str, VehicleSpec] = {}
        self._cars: dict[str, Car] = {}
        self.counters = Counters()
        self._last_tick = now()
        for spec in self.config.vehicles:
            self.add_vehicle(spec)

    # === set-up ======================================================================================

    def now(self) -> float:
        return self._now()

    def add_user(self, user: SimUser) -> None:
        with self._lock:
            self._users[user.email] = user

    def add_vehicle(self, spec: VehicleSpec) -> None:
        """Add (or replace) a car; it is restored to this spec by ``reset``."""
        with self._lock:
            owner = spec.owner_email or self.config.users[0].email
            if owner not in self._users:
                raise ValueError(f"vehicle {spec.vin}: unknown owner {owner}")
            self._specs[spec.vin] = spec
            self._cars[spec.vin] = Car.from_spec(spec, owner, self._now())

    def register_address(self, address: str, lat: float, lng: float) -> None:
        """Teach the car's navigation a free-text address (the local cloud's seed calls this)."""
        with self._lock:
            self._addresses[normalize_address(address)] = LatLng(lat, lng)

    def reset(self, *, tokens: bool = False) -> None:
        """Cars back to their specs; counters, faults and telemetry progress cleared.

        Registered addresses and telemetry targets are wiring, not scenario state, and stay. Tokens
        stay too unless ``tokens=True`` (linked accounts in the local cloud keep working).
        """
        with self._lock:
            now = self._now()
            self._cars = {
                vin: Car.from_spec(spec, spec.owner_email or self.config.users[0].email, now)
                for vin, spec in self._specs.items()
            }
            self.counters = Counters()
            self._faults.clear()
            self._deliveries.clear()
            for target in self._targets.values():
                target.last_emit.clear()
                target.last_sent.clear()
            if tokens:
                self._tokens.clear()
            self._last_tick = now

    # === time ==========================================================================================

    def tick(self) -> None:
        """Advance every car to the clock's "now" (idempotent for an unchanged clock)."""
        with self._lock:
            self._sync()

    def _sync(self) -> None:
        now = self._now()
        if now <= self._last_tick:
            return
        for car in self._cars.values():
            car.advance(self._last_tick, now, self.config, self._rng)
        self._last_tick = now

    # === the simulated world (control plane) ===========================================================

    def vehicles(self) -> list[VehicleView]:
        with self._lock:
            self._sync()
            return [car.view(self._last_tick) for car in self._cars.values()]

    def vehicle(self, vin: str) -> VehicleView:
        with self._lock:
            self._sync()
            return self._car(vin).view(self._last_tick)

    def set_vehicle_state(self, vin: str, state: VehicleState) -> None:
        """Put a car to sleep, take it offline or bring it online directly."""
        if state not in ("online", "asleep", "offline"):
            raise SimError(400, "invalid_state", "state must be online, asleep or offline")
        with self._lock:
            self._sync()
            car = self._car(vin)
            if state != "online" and car.phase in ("driving", "parking", "departing"):
                raise SimError(409, "vehicle_moving", "a moving car stays online")
            car.set_state(state, self._now())

    def pair_key(self, vin: str, paired: bool = True) -> None:
        """The owner approved (or removed) our virtual key in the car."""
        with self._lock:
            self._car(vin).key_paired = paired

    def pair_all_keys(self, owner_email: str | None = None) -> list[str]:
        """What opening ``https://tesla.com/_ak/<domain>`` and approving does, for each of a user's cars."""
        with self._lock:
            email = owner_email or self.config.users[0].email
            vins = [vin for vin, car in self._cars.items() if car.owner_email == email]
            for vin in vins:
                self._cars[vin].key_paired = True
            return vins

    def prompt_driver_to_park(self, vin: str) -> str:
        """The driver read "please park" in our app. Returns ``scheduled`` (parks after
        ``park_reaction_s``), ``pending_arrival`` (still driving: parks on arrival), ``in_progress``
        or ``already_parked``. Raises ``SimError`` 409 ``no_destination`` without a trip."""
        return self._park(vin, "driver_guided")

    def park_automatically(self, vin: str) -> str:
        """The simulator-parking adapter's ``automatic`` manoeuvre: starts at once. Raises ``SimError``
        409 ``not_at_destination`` while still driving, ``no_destination`` without a trip."""
        return self._park(vin, "automatic")

    def _park(self, vin: str, mode: ParkMode) -> str:
        with self._lock:
            self._sync()
            try:
                return self._car(vin).request_park(mode, self._now(), self.config)
            except ParkingRefused as exc:
                raise SimError(409, exc.code, str(exc)) from None

    def depart(self, vin: str) -> None:
        """The driver leaves: gear D, driving out of the geofence."""
        with self._lock:
            self._sync()
            self._car(vin).depart(self._now(), self.config)

    # === faults ========================================================================================

    def inject_fault(
        self,
        kind: FaultKind | str,
        count: int | None = 1,
        *,
        path_prefix: str | None = None,
        retry_after_s: int = 30,
        latency_s: float = 1.0,
    ) -> Fault:
        """The next ``count`` requests (matching ``path_prefix``) fail as ``kind``; None = until cleared."""
        fault = Fault.from_json(
            {
                "kind": str(kind),
                "count": count,
                "path_prefix": path_prefix,
                "retry_after_s": retry_after_s,
                "latency_s": latency_s,
            }
        )
        self.add_fault(fault)
        return fault

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.add(fault)

    def set_down(self, down: bool = True) -> None:
        """Every Fleet API and OAuth request answers 503 until switched back."""
        with self._lock:
            self._faults.down = down

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, path: str) -> Fault | None:
        """For the HTTP layer: the fault this request suffers, if any (a 503 fault when down)."""
        with self._lock:
            if self._faults.down:
                return Fault(FaultKind.UNAVAILABLE, None)
            return self._faults.take(path)

    def faults(self) -> dict[str, Any]:
        with self._lock:
            return self._faults.as_dict()

    # === telemetry =====================================================================================

    def stream_telemetry_to(
        self, url: str, secret: bytes, interval_s: float = 5.0, vins: Iterable[str] | None = None
    ) -> None:
        """POST signed telemetry batches to ``url`` (replacing any earlier target with that URL)."""
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        with self._lock:
            self._targets[url] = TelemetryTarget(url, secret, interval_s, None if vins is None else frozenset(vins))

    def stop_telemetry(self, url: str | None = None) -> None:
        with self._lock:
            if url is None:
                self._targets.clear()
            else:
                self._targets.pop(url, None)

    def telemetry_targets(self) -> list[dict[str, Any]]:
        with self._lock:
            return [t.as_dict() for t in self._targets.values()]

    def telemetry_batches(self) -> list[TelemetryBatch]:
        """Signed batches due now, one per target. Only online cars stream (as Tesla's do)."""
        with self._lock:
            self._sync()
            now = self._last_tick
            batches: list[TelemetryBatch] = []
            for target in self._targets.values():
                views: list[VehicleView] = []
                for vin, car in self._cars.items():
                    if not target.wants(vin):
                        continue
                    if car.state != "online":
                        # A car that reconnects streams its whole state again.
                        target.last_sent.pop(vin, None)
                        target.last_emit.pop(vin, None)
                        continue
                    views.append(car.view(now))
                batch = build_batch(target, views, now)
                if batch is not None:
                    self.counters.signals_streamed += batch.signal_count
                    batches.append(batch)
            return batches

    def telemetry_delivered(self, batch: TelemetryBatch, status: int | None, error: str | None = None) -> None:
        """Outcome of POSTing ``batch`` (``status`` None when the connection failed)."""
        accepted = status is not None and 200 <= status < 300
        with self._lock:
            settle(batch, accepted)
            self._deliveries.append(
                {
                    "url": batch.target.url,
                    "status": status,
                    "error": error,
                    "signals": batch.signal_count,
                    "records": len(batch.sent),
                    "at": self._now(),
                }
            )

    def telemetry_deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._deliveries)

    # === counters ======================================================================================

    def bill(self, kind: BillKind) -> None:
        """Count one billable Fleet API answer (the HTTP layer calls this for authenticated answers
        below 500, Tesla's billing rule). ``data`` covers the vehicle list, the vehicle, vehicle_data
        and fleet_status; ``users/region`` and OAuth calls are not billed."""
        with self._lock:
            if kind == "wake":
                self.counters.wakes += 1
            elif kind == "data":
                self.counters.data_requests += 1
            elif kind == "command":
                self.counters.commands += 1

    def counter_values(self) -> dict[str, float]:
        with self._lock:
            return self.counters.as_dict()

    # === OAuth =========================================================================================

    def authorize(self, params: Mapping[str, str]) -> str:
        """Redirect location for an authorize request, auto-consenting as ``login_hint`` or the first user."""
        with self._lock:
            hint = params.get("login_hint")
            user = self._users.get(hint) if hint else self.config.users[0]
            if user is None:
                raise OAuthError(400, "invalid_request", "login_hint names no simulated user")
            return self._tokens.authorize(params, user, self._now())

    def token(self, form: Mapping[str, str], issuer: str) -> dict[str, Any]:
        with self._lock:
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                return self._tokens.exchange_code(form, self._now(), issuer)
            if grant_type == "refresh_token":
                self.counters.refreshes += 1
                try:
                    return self._tokens.refresh(form, self._now(), issuer)
                except OAuthError as exc:
                    if exc.error == "login_required":
                        self.counters.refreshes_rejected += 1
                    raise
            raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    def expire_access_tokens(self) -> None:
        """As if 8 hours had passed for every access token: the next call gets a bodyless 401."""
        with self._lock:
            self._tokens.expire_access_tokens()

    def revoke_refresh_tokens(self) -> None:
        """As if the owner removed the app from their account: refresh answers ``login_required``."""
        with self._lock:
            self._tokens.revoke_refresh_tokens()

    # === Fleet API =====================================================================================

    def authenticate(self, authorization: str | None) -> AccessGrant:
        scheme, _, token = (authorization or "").partition(" ")
        with self._lock:
            grant = self._tokens.authenticate(token.strip(), self._now()) if scheme.lower() == "bearer" else None
        if grant is None:
            raise FleetError(401, bodyless=True)
        return grant

    def base_url(self, region: str, origin: str) -> str:
        return (self.config.public_base_url or origin).rstrip("/") + REGION_PREFIXES[region]

    def check_region(self, grant: AccessGrant, served_region: str | None, origin: str) -> None:
        """421 when this base URL serves another region than the user's (None: any region, the proxy)."""
        if served_region is not None and served_region != grant.user.region:
            raise self.wrong_region(grant.user.region, origin)

    def wrong_region(self, right_region: str, origin: str) -> FleetError:
        url = self.base_url(right_region, origin)
        return FleetError(
            421,
            f"user out of region, use base URL: {url}, see https://developer.tesla.com/docs/fleet-api#regional-requirements",
        )

    def region_of(self, authorization: str | None) -> str:
        """The caller's region if the token is good, else the first user's (for injected 421s)."""
        try:
            return self.authenticate(authorization).user.region
        except FleetError:
            return self.config.users[0].region

    def user_region(self, grant: AccessGrant, origin: str) -> dict[str, Any]:
        region = grant.user.region
        return {"region": region, "fleet_api_base_url": self.base_url(region, origin)}

    def list_vehicles(self, grant: AccessGrant) -> list[dict[str, Any]]:
        with self._lock:
            self._sync()
            cars = [car for car in self._cars.values() if car.owner_email == grant.user.email]
            for car in cars:
                car.note_poll(self._now())
            return [self._summary(car) for car in cars]

    def vehicle_summary(self, grant: AccessGrant, tag: str) -> dict[str, Any]:
        """``GET /api/1/vehicles/{tag}``: state only, never wakes the car."""
        with self._lock:
            self._sync()
            car = self._owned(grant, tag)
            car.note_poll(self._now())
            return self._summary(car)

    def vehicle_data(self, grant: AccessGrant, tag: str, endpoints: Iterable[str] | None) -> dict[str, Any]:
        with self._lock:
            self._sync()
            car = self._owned(grant, tag)
            car.note_poll(self._now())
            if car.state != "online":
                raise FleetError(408, VEHICLE_UNAVAILABLE)
            _require_scope(grant, "vehicle_device_data")
            car.touch(self._now())
            wanted = set(endpoints) if endpoints is not None else set(DATA_ENDPOINTS_DEFAULT)
            # Coordinates need both the endpoint and the vehicle_location scope; without the scope
            # Tesla leaves them out rather than failing the whole call.
            with_location = "location_data" in wanted and "vehicle_location" in grant.scopes
            if "location_data" in wanted:
                wanted.add("drive_state")
            view = car.view(self._last_tick)
            answer = self._summary(car) | {"user_id": stable_int(grant.user.user_id, "user", 15)}
            ms = int(view.at * 1000)
            if "drive_state" in wanted:
                answer["drive_state"] = _drive_state(view, with_location, ms)
            if "charge_state" in wanted:
                answer["charge_state"] = {
                    "battery_level": view.battery_level,
                    "battery_range": round(view.battery_level * 3.1, 2),
                    "charging_state": "Disconnected",
                    "timestamp": ms,
                }
            if "vehicle_state" in wanted:
                answer["vehicle_state"] = {
                    "locked": view.locked,
                    "odometer": round(view.odometer_mi, 3),
                    "car_version": view.firmware_version,
                    "timestamp": ms,
                }
            return answer

    def wake_up(self, grant: AccessGrant, tag: str) -> dict[str, Any]:
        """Starts waking and answers at once (usually still ``asleep``); re-posting counts as a poll."""
        with self._lock:
            self._sync()
            car = self._owned(grant, tag)
            now = self._now()
            if car.wake_polls_left is not None:
                car.note_poll(now)
            else:
                car.start_waking(now, self.config)
            return self._summary(car)

    def command(
        self, grant: AccessGrant, tag: str, name: str, body: Mapping[str, Any], *, signed: bool
    ) -> dict[str, Any]:
        """``POST .../command/{name}``; ``signed`` when it came through the proxy base URL."""
        with self._lock:
            self._sync()
            car = self._owned(grant, tag)
            if name == "navigation_gps_request":
                # tesla-http-proxy does not forward it (vehicle-command #188/#442).
                raise FleetError(
                    400, "invalid_command", "navigation_gps_request is not supported; use navigation_request"
                )
            if name != "navigation_request" and name not in SIMPLE_COMMANDS:
                raise FleetError(400, "invalid_command", f"unsupported command {name!r}")
            _require_scope(grant, "vehicle_cmds")
            if signed and tag != car.spec.vin:
                raise FleetError(400, "invalid_request", "the proxy needs the 17-character VIN, not the vehicle id")
            if car.spec.requires_signed_commands and not signed:
                raise FleetError(403, PROTOCOL_REQUIRED)
            if car.state != "online":
                raise FleetError(408, VEHICLE_UNAVAILABLE)
            if signed and car.spec.requires_signed_commands and not car.key_paired:
                raise FleetError(500, KEY_NOT_PAIRED)
            now = self._now()
            car.touch(now)
            del car.commands[:-49]  # keep a short history for /_sim
            car.commands.append((now, name))
            if name == "navigation_request":
                self._navigate(car, body, now)
                return {"result": True, "queued": True}
            if name in ("door_lock", "door_unlock"):
                car.locked = name == "door_lock"
            return {"result": True, "reason": ""}

    def _navigate(self, car: Car, body: Mapping[str, Any], now: float) -> None:
        value = body.get("value")
        text = value.get("android.intent.extra.TEXT") if isinstance(value, Mapping) else None
        if body.get("type") != "share_ext_content_raw" or not isinstance(text, str) or not text.strip():
            raise FleetError(
                400,
                "invalid_field",
                'expected {"type": "share_ext_content_raw", "value": {"android.intent.extra.TEXT": "..."}}',
            )
        target = resolve_destination(text, self._addresses)
        if target is None:
            # Like the real car: the share is accepted, the on-screen search just finds nothing.
            car.navigation_error = f"destination not found: {text}"
            return
        car.navigate(target, now, self.config)

    def fleet_status(self, grant: AccessGrant, vins: Iterable[str]) -> dict[str, Any]:
        with self._lock:
            cars = [self._cars[v] for v in vins if v in self._cars and self._cars[v].owner_email == grant.user.email]
            return {
                "key_paired_vins": [c.spec.vin for c in cars if c.key_paired],
                "unpaired_vins": [c.spec.vin for c in cars if not c.key_paired],
                "vehicle_info": {
                    c.spec.vin: {
                        "firmware_version": c.spec.firmware_version,
                        "vehicle_command_protocol_required": c.spec.requires_signed_commands,
                        "discounted_device_data": False,
                        "fleet_telemetry_version": "1.0.0",
                        "total_number_of_keys": 5,
                    }
                    for c in cars
                },
            }

    # === internals =====================================================================================

    def _car(self, vin: str) -> Car:
        car = self._cars.get(vin)
        if car is None:
            raise SimError(404, "unknown_vehicle", f"no simulated vehicle {vin}")
        return car

    def _owned(self, grant: AccessGrant, tag: str) -> Car:
        for car in self._cars.values():
            if car.owner_email == grant.user.email and tag in (car.spec.vin, str(car.spec.id)):
                return car
        raise FleetError(404, "not_found", f"vehicle {tag} not found for this account")

    def _summary(self, car: Car) -> dict[str, Any]:
        return {
            "id": car.spec.id,
            "vehicle_id": car.spec.vehicle_id,
            "vin": car.spec.vin,
            "display_name": car.spec.display_name,
            "state": car.state,
            "access_type": "OWNER",
            "in_service": False,
            "id_s": str(car.spec.id),
            "calendar_enabled": True,
            "api_version": 79,
        }


def _require_scope(grant: AccessGrant, scope: str) -> None:
    if scope not in grant.scopes:
        raise FleetError(403, "Unauthorized missing scopes", f"this call needs the {scope} scope")


def _drive_state(view: VehicleView, with_location: bool, ms: int) -> dict[str, Any]:
    moving = view.speed_mph > 0
    state: dict[str, Any] = {
        "heading": round(view.heading),
        # Tesla reports mph, and null speed when the car is in P.
        "speed": None if view.gear == "P" else round(view.speed_mph),
        "shift_state": view.gear,
        "power": 12 if moving else 0,
        "gps_as_of": int(view.at),
        "timestamp": ms,
    }
    if with_location:
        state |= {"latitude": round(view.lat, 6), "longitude": round(view.lng, 6)}
        if view.destination is not None and view.minutes_to_arrival is not None and view.miles_to_arrival is not None:
            state |= {
                "active_route_latitude": view.destination.lat,
                "active_route_longitude": view.destination.lng,
                "active_route_minutes_to_arrival": round(view.minutes_to_arrival, 1),
                "active_route_miles_to_arrival": round(view.miles_to_arrival, 2),
            }
    return state
