"""Fleet telemetry ingest: ONE domain function behind two doors.

Doors
-----
- ``POST /v1/webhooks/tesla/telemetry`` (a relay, or the local simulator): ``authenticate_webhook``
  checks the HMAC over timestamp + raw body (constant time, 300 s tolerance), ``parse_batch`` reads
  ``{"records": [...]}``; anything wrong is refused before anything is stored.
- Kinesis (Tesla's fleet-telemetry server, ``transmit_decoded_records: true``): one JSON record per
  Kinesis record, read with ``parse_record``.
Both hand ``TelemetryRecord``s to ``TelemetryIngest.ingest``.

Records (fleet-telemetry's decoded ``Payload``, protojson style; see local/tesla_sim for a sample)
hold only the signals that CHANGED; a missing key means "unchanged". So the detector keeps, per VIN,
the last value of every signal with the time it was observed, and merges a record key by key, each
key only if the record is newer than what it knows for that key. Duplicated and out-of-order
records therefore change nothing they should not.

Detection (per VIN, for the VIN's live booking, against the booking driveway's geofence)
---------------------------------------------------------------------------------------
- **arrival**: a plausible fix inside the geofence, and either ``arrival_fixes`` consecutive inside
  fixes or the car stopped there (speed ~0 or gear P). Stopped matters because telemetry is sent on
  change only: a car waiting at the kerb sends nothing more.
- **parked**: gear P, inside, after being inside for at least ``parked_dwell_s`` (both observable on
  the record that carries ``Gear=P``, which is all a stationary car sends).
- **departure**: after parked, ``departure_fixes`` consecutive plausible fixes outside.
- A fix implausibly far from the previous one (``geofence.plausible``) is a GPS jump: ignored, unless
  the next fix confirms it. Positions older than the newest known one are kept as history only.
Times are the records' ``createdAt``, never the arrival time of the request.

Exactly once: the tracking item is written conditionally on its version (``TrackStore.save``); only
the invocation whose write moves a milestone from unset to set emits its event. Each detection is
handed to the bookings' facts protocol (``domain.bookings.observe``, see adapters/workflow.py): the
fact is recorded on the booking, then ``take_token`` + ``WorkflowPort.resume`` resume the step waiting
for it, at most once whatever the duplicates; a step that parks its token later finds the fact
(``resume_if_observed`` in the park-token task). Milestone names are the steps' ``waiting_for``
values: "arrival", "parked", "departure".
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from driveway_hub import business_metrics, telemetry_signing
from driveway_hub.adapters.notifier import NotifierPort, live_event
from driveway_hub.errors import Conflict, InvalidInput, NotAuthenticated
from driveway_hub.observability import logger
from driveway_hub.tesla.geofence import GPS_ACCURACY_M, MAX_PLAUSIBLE_MPS, Geofence, plausible

Milestone = Literal["arrival", "parked", "departure"]
MILESTONES: tuple[Milestone, ...] = ("arrival", "parked", "departure")
EVENT_FOR: dict[str, str] = {
    "arrival": "vehicle.arrived",
    "parked": "parking.completed",
    "departure": "vehicle.departed",
}
MAX_RECORDS_PER_BATCH = 500
MAX_SAVE_ATTEMPTS = 5
TRACK_TTL = timedelta(days=30)
# Signals kept besides Location: the value and when it was observed, per key.
_KEPT_SIGNALS = ("Gear", "VehicleSpeed", "GpsHeading", "MinutesToArrival", "MilesToArrival")


class MalformedTelemetry(InvalidInput):
    code = "malformed_telemetry"


class TelemetryUnauthorized(NotAuthenticated):
    code = "invalid_signature"


# === parsing ========================================================================================


@dataclass(frozen=True)
class TelemetryRecord:
    vin: str
    created_at: datetime
    # Key -> decoded value; a key present with None means "sent as invalid" (e.g. no active route).
    signals: Mapping[str, Any]

    @property
    def location(self) -> tuple[float, float] | None:
        value = self.signals.get("Location")
        return value if isinstance(value, tuple) else None


def _parse_time(raw: Any) -> datetime:
    if isinstance(raw, str):
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    elif isinstance(raw, Mapping) and "seconds" in raw:
        value = datetime.fromtimestamp(int(raw["seconds"]) + int(raw.get("nanos", 0)) / 1e9, UTC)
    else:
        raise ValueError("createdAt must be an RFC 3339 timestamp")
    if value.tzinfo is None:
        raise ValueError("createdAt must carry a time zone")
    return value


def _number(value: Mapping[str, Any]) -> float | None:
    for kind in ("doubleValue", "floatValue", "intValue", "longValue"):
        if kind in value:
            return float(value[kind])
    if "stringValue" in value:
        return float(value["stringValue"])
    return None


def _gear(value: Mapping[str, Any]) -> str | None:
    raw = value.get("shiftStateValue", value.get("stringValue"))
    if raw is None:
        return None
    text = str(raw).removeprefix("ShiftState")
    if text not in ("P", "R", "N", "D", "Invalid", "SNA"):
        raise ValueError(f"unknown gear {raw!r}")
    return text if text in ("P", "R", "N", "D") else None


def _location(value: Mapping[str, Any]) -> tuple[float, float]:
    loc = value["locationValue"]
    lat, lng = float(loc["latitude"]), float(loc["longitude"])
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
        raise ValueError("coordinates out of range")
    return lat, lng


def _decode(key: str, value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise ValueError(f"{key}: value must be an object")
    if value.get("invalid") is True:
        return None
    if key in ("Location", "DestinationLocation"):
        return _location(value)
    if key == "Gear":
        return _gear(value)
    return _number(value)


def parse_record(raw: Any) -> TelemetryRecord:
    """One fleet-telemetry record; MalformedTelemetry names what is wrong. Unknown keys are ignored."""
    try:
        if not isinstance(raw, Mapping):
            raise ValueError("a record must be an object")
        vin = raw.get("vin")
        if not isinstance(vin, str) or not vin.isalnum() or not 1 <= len(vin) <= 32:
            raise ValueError("vin is missing or malformed")
        created_at = _parse_time(raw.get("createdAt"))
        data = raw.get("data")
        if not isinstance(data, list):
            raise ValueError("data must be a list")
        signals: dict[str, Any] = {}
        for item in data:
            if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
                raise ValueError("each datum needs a key")
            key = item["key"]
            if key in ("Location", *_KEPT_SIGNALS, "DestinationLocation"):
                signals[key] = _decode(key, item.get("value"))
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedTelemetry(f"malformed telemetry record: {exc}") from exc
    return TelemetryRecord(vin=vin, created_at=created_at, signals=signals)


def parse_batch(body: bytes) -> list[TelemetryRecord]:
    """The webhook body ``{"records": [...]}``; all or nothing (a bad record refuses the batch)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MalformedTelemetry("the body is not valid JSON") from exc
    records = data.get("records") if isinstance(data, Mapping) else None
    if not isinstance(records, list):
        raise MalformedTelemetry('expected {"records": [...]}')
    if len(records) > MAX_RECORDS_PER_BATCH:
        raise MalformedTelemetry(f"at most {MAX_RECORDS_PER_BATCH} records per batch")
    return [parse_record(r) for r in records]


def authenticate_webhook(secrets: Sequence[bytes], body: bytes, headers: Mapping[str, str], now: int) -> None:
    """Accept the request if any configured secret verifies it (two during a rotation)."""
    error: telemetry_signing.TelemetrySignatureError | None = None
    for secret in secrets:
        try:
            telemetry_signing.verify(secret, body, headers, now)
            return
        except telemetry_signing.TelemetrySignatureError as exc:
            error = exc
            if exc.reason in ("missing_header", "malformed", "stale_timestamp"):
                break  # another secret cannot fix these
    reason = error.reason if error else "bad_signature"
    logger.warning("telemetry webhook refused", extra={"reason": reason})
    business_metrics.count(business_metrics.WEBHOOK_SIGNATURE_FAILURES)
    raise TelemetryUnauthorized(f"Telemetry signature refused ({reason}).", code="invalid_signature")


# === tracking state and the detector ================================================================


@dataclass(frozen=True)
class Fix:
    vin: str
    at: datetime
    lat: float
    lng: float
    heading: float | None = None
    speed_mph: float | None = None
    gear: str | None = None


@dataclass(frozen=True)
class Detection:
    milestone: Milestone
    at: datetime
    lat: float
    lng: float


@dataclass(frozen=True)
class DetectionConfig:
    accuracy_m: float = GPS_ACCURACY_M
    arrival_fixes: int = 3
    stopped_mph: float = 0.5
    parked_dwell_s: float = 5.0
    departure_fixes: int = 2
    position_event_interval_s: float = 10.0
    max_plausible_mps: float = MAX_PLAUSIBLE_MPS


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass
class TrackState:
    """Everything the detector knows about one VIN (stored as JSON on the tracking item)."""

    vin: str
    booking_id: str | None = None
    geofence: Geofence | None = None
    lat: float | None = None
    lng: float | None = None
    location_at: datetime | None = None
    suspect: tuple[float, float, datetime] | None = None  # a rejected jump, kept to confirm or drop
    signals: dict[str, tuple[Any, datetime]] = field(default_factory=dict)
    last_record_at: datetime | None = None
    inside_streak: int = 0
    inside_since: datetime | None = None
    outside_streak: int = 0
    arrival_at: datetime | None = None
    parked_at: datetime | None = None
    departure_at: datetime | None = None
    last_position_event_at: datetime | None = None

    def signal(self, key: str) -> Any:
        entry = self.signals.get(key)
        return entry[0] if entry else None

    def milestone_at(self, milestone: str) -> datetime | None:
        return {"arrival": self.arrival_at, "parked": self.parked_at, "departure": self.departure_at}.get(milestone)

    def to_json(self) -> str:
        data = {
            "vin": self.vin,
            "booking_id": self.booking_id,
            "geofence": self.geofence.to_dict() if self.geofence else None,
            "lat": self.lat,
            "lng": self.lng,
            "location_at": _iso(self.location_at),
            "suspect": [self.suspect[0], self.suspect[1], self.suspect[2].isoformat()] if self.suspect else None,
            "signals": {k: [v, at.isoformat()] for k, (v, at) in self.signals.items()},
            "last_record_at": _iso(self.last_record_at),
            "inside_streak": self.inside_streak,
            "inside_since": _iso(self.inside_since),
            "outside_streak": self.outside_streak,
            "arrival_at": _iso(self.arrival_at),
            "parked_at": _iso(self.parked_at),
            "departure_at": _iso(self.departure_at),
            "last_position_event_at": _iso(self.last_position_event_at),
        }
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrackState:
        data = json.loads(text)
        suspect = data.get("suspect")
        return cls(
            vin=data["vin"],
            booking_id=data.get("booking_id"),
            geofence=Geofence.from_dict(data["geofence"]) if data.get("geofence") else None,
            lat=data.get("lat"),
            lng=data.get("lng"),
            location_at=_dt(data.get("location_at")),
            suspect=(suspect[0], suspect[1], datetime.fromisoformat(suspect[2])) if suspect else None,
            signals={k: (v, datetime.fromisoformat(at)) for k, (v, at) in (data.get("signals") or {}).items()},
            last_record_at=_dt(data.get("last_record_at")),
            inside_streak=int(data.get("inside_streak") or 0),
            inside_since=_dt(data.get("inside_since")),
            outside_streak=int(data.get("outside_streak") or 0),
            arrival_at=_dt(data.get("arrival_at")),
            parked_at=_dt(data.get("parked_at")),
            departure_at=_dt(data.get("departure_at")),
            last_position_event_at=_dt(data.get("last_position_event_at")),
        )


def attach_booking(state: TrackState, booking_id: str, geofence: Geofence | None,
                   config: DetectionConfig = DetectionConfig()) -> TrackState:
    """Start detecting for another booking: milestones and streaks start over, signals are kept.
    A car already standing inside the new geofence counts its last fix as the first inside fix."""
    fresh = copy.deepcopy(state)
    fresh.booking_id, fresh.geofence = booking_id, geofence
    fresh.inside_streak = fresh.outside_streak = 0
    fresh.inside_since = fresh.arrival_at = fresh.parked_at = fresh.departure_at = None
    fresh.last_position_event_at = None
    if geofence and fresh.lat is not None and fresh.lng is not None \
            and geofence.contains(fresh.lat, fresh.lng, config.accuracy_m):
        fresh.inside_streak, fresh.inside_since = 1, fresh.location_at
    return fresh


@dataclass
class Advance:
    state: TrackState
    detections: list[Detection] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)  # to store: accepted fixes and older history
    position_event: Fix | None = None
    rejected_jumps: int = 0
    backfilled: bool = False  # an older fix moved inside_since back (see _merge_location)


def _current_fix(state: TrackState, at: datetime) -> Fix:
    assert state.lat is not None and state.lng is not None
    return Fix(state.vin, at, state.lat, state.lng, state.signal("GpsHeading"), state.signal("VehicleSpeed"),
               state.signal("Gear"))


def _merge_location(s: TrackState, record: TelemetryRecord, result: Advance, config: DetectionConfig) -> bool:
    """Apply the record's Location; True if it is a new accepted fix."""
    location = record.location
    t = record.created_at
    if location is None:
        return False
    lat, lng = location
    if s.location_at is not None and t < s.location_at:
        # Out of order: true history, but the detector has moved past it. One thing it can still tell:
        # a car inside the geofence now was already inside then (so a Gear=P delivered early still
        # gets its dwell).
        result.fixes.append(Fix(s.vin, t, lat, lng))
        if s.inside_since is not None and t < s.inside_since and s.geofence is not None \
                and s.geofence.contains(lat, lng, config.accuracy_m):
            s.inside_since = t
            result.backfilled = True
        return False
    if s.location_at is not None and t == s.location_at:
        return False  # a duplicate
    ok = s.lat is None or s.lng is None or s.location_at is None or plausible(
        s.lat, s.lng, s.location_at.timestamp(), lat, lng, t.timestamp(), config.max_plausible_mps, config.accuracy_m)
    if not ok and s.suspect is not None:
        # Two fixes that agree with each other: the car is really here; the old position was wrong.
        slat, slng, sat = s.suspect
        ok = plausible(slat, slng, sat.timestamp(), lat, lng, t.timestamp(), config.max_plausible_mps,
                       config.accuracy_m)
    if not ok:
        s.suspect = (lat, lng, t)
        result.rejected_jumps += 1
        return False
    s.lat, s.lng, s.location_at, s.suspect = lat, lng, t, None
    return True


def _merge_signals(s: TrackState, record: TelemetryRecord) -> bool:
    changed = False
    for key in _KEPT_SIGNALS:
        if key not in record.signals:
            continue
        known = s.signals.get(key)
        if known is None or record.created_at > known[1]:
            s.signals[key] = (record.signals[key], record.created_at)
            changed = True
    return changed


def _detect(s: TrackState, new_fix: bool, at: datetime, config: DetectionConfig) -> list[Detection]:
    fence = s.geofence
    if fence is None or s.lat is None or s.lng is None:
        return []
    inside = fence.contains(s.lat, s.lng, config.accuracy_m)
    if new_fix:
        if inside:
            s.inside_streak += 1
            s.inside_since = s.inside_since or s.location_at
            s.outside_streak = 0
        else:
            s.inside_streak, s.inside_since = 0, None
            s.outside_streak += 1
    gear, speed = s.signal("Gear"), s.signal("VehicleSpeed")
    stopped = gear == "P" or (speed is not None and speed <= config.stopped_mph)
    found: list[Detection] = []
    if s.arrival_at is None and inside and s.inside_since is not None and (
            s.inside_streak >= config.arrival_fixes or stopped):
        s.arrival_at = at
        found.append(Detection("arrival", at, s.lat, s.lng))
    if (s.arrival_at is not None and s.parked_at is None and inside and gear == "P"
            and s.inside_since is not None and (at - s.inside_since).total_seconds() >= config.parked_dwell_s):
        s.parked_at = at
        found.append(Detection("parked", at, s.lat, s.lng))
    if s.parked_at is not None and s.departure_at is None and s.outside_streak >= config.departure_fixes:
        s.departure_at = at
        found.append(Detection("departure", at, s.lat, s.lng))
    return found


def advance(state: TrackState, records: Iterable[TelemetryRecord], config: DetectionConfig = DetectionConfig(),
            *, detecting: bool = True) -> Advance:
    """Fold ``records`` (one VIN) into ``state``: a new state, what was detected, what to store.
    ``detecting`` is False while the VIN has no live booking: signals are kept, nothing is detected."""
    s = copy.deepcopy(state)
    result = Advance(s)
    for record in sorted(records, key=lambda r: r.created_at):
        result.backfilled = False
        new_fix = _merge_location(s, record, result, config)
        changed = _merge_signals(s, record) or new_fix or result.backfilled
        if not changed:
            continue
        s.last_record_at = max(filter(None, (s.last_record_at, record.created_at)))
        if new_fix:
            result.fixes.append(_current_fix(s, record.created_at))
        if not detecting or s.booking_id is None:
            continue
        result.detections += _detect(s, new_fix, s.last_record_at, config)
        last_event = s.last_position_event_at
        if new_fix and (last_event is None
                        or (record.created_at - last_event).total_seconds() >= config.position_event_interval_s):
            s.last_position_event_at = record.created_at
            result.position_event = _current_fix(s, record.created_at)
    return result


# === ports ==========================================================================================


class BookingLike(Protocol):
    booking_id: str
    driver_id: str
    host_id: str
    driveway_id: str


class BookingLookup(Protocol):
    def active_for_vin(self, vin: str, now: datetime) -> Any: ...


class MilestoneObserver(Protocol):
    """``domain.bookings.observe``: record the fact on the booking, then resume its waiting step if the
    token is parked (at most once). Idempotent: the first fact of a step wins."""

    def __call__(self, booking_id: str, waiting_for: str, fact: dict[str, Any]) -> bool: ...


class GeofenceLookup(Protocol):
    def geofence(self, driveway_id: str) -> Geofence | None: ...


class PositionStore(Protocol):
    def put(self, fixes: Sequence[Fix], source: str = "telemetry") -> None: ...

    def newest(self, vin: str) -> Fix | None: ...


class TrackStore(Protocol):
    def load(self, vin: str) -> tuple[TrackState, int] | None: ...

    def save(self, state: TrackState, expected_version: int | None, expires_at: int) -> bool: ...


# === the ingest service =============================================================================


def milestone_fact(detection: Detection) -> dict[str, Any]:
    """What the booking records and the resumed step receives as its output."""
    return {"milestone": detection.milestone, "at": detection.at.isoformat(), "lat": detection.lat,
            "lng": detection.lng, "source": "telemetry"}


@dataclass
class IngestReport:
    records: int = 0
    vins: int = 0
    positions_stored: int = 0
    detections: list[dict[str, Any]] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    events: int = 0
    rejected_jumps: int = 0


@dataclass
class TelemetryIngest:
    positions: PositionStore
    tracks: TrackStore
    bookings: BookingLookup
    places: GeofenceLookup
    observe: MilestoneObserver
    notifier: NotifierPort
    config: DetectionConfig = field(default_factory=DetectionConfig)
    # Business metric sink for latencies (driveway_hub.business_metrics.milliseconds in production).
    milliseconds: business_metrics.Milliseconds = business_metrics.no_milliseconds

    def ingest(self, records: Sequence[TelemetryRecord], now: datetime) -> IngestReport:
        """Store, detect, notify and resume for a batch (any VINs, any order, duplicates allowed)."""
        report = IngestReport(records=len(records))
        by_vin: dict[str, list[TelemetryRecord]] = {}
        for record in records:
            by_vin.setdefault(record.vin, []).append(record)
        report.vins = len(by_vin)
        for vin, vin_records in by_vin.items():
            self._ingest_vin(vin, vin_records, now, report)
        return report

    def _ingest_vin(self, vin: str, records: list[TelemetryRecord], now: datetime, report: IngestReport) -> None:
        booking = self.bookings.active_for_vin(vin, now)
        for _attempt in range(MAX_SAVE_ATTEMPTS):
            result = self._fold_and_save(vin, records, booking, now, report)
            if result is not None:
                break
        else:
            raise Conflict(f"telemetry for one vehicle changed concurrently {MAX_SAVE_ATTEMPTS} times")
        report.positions_stored += len(result.fixes)
        report.rejected_jumps += result.rejected_jumps
        if result.rejected_jumps:
            logger.info("gps jump ignored", extra={"count": result.rejected_jumps})
        if booking is not None:
            # Only the invocation whose write moved a milestone announces it: one event per detection.
            self._announce(booking, result, report)
            for detection in result.detections:
                if detection.milestone == "arrival":
                    # From the car's sample (createdAt) to the arrival recorded here, delivery delays included.
                    self.milliseconds(business_metrics.ARRIVAL_DETECTION_LATENCY,
                                      (now - detection.at).total_seconds() * 1000)

    def _fold_and_save(self, vin: str, records: list[TelemetryRecord], booking: BookingLike | None,
                       now: datetime, report: IngestReport) -> Advance | None:
        """One optimistic attempt; None when a concurrent batch for this VIN wrote first."""
        loaded = self.tracks.load(vin)
        state, version = loaded if loaded is not None else (TrackState(vin), None)
        if booking is not None and state.booking_id != booking.booking_id:
            geofence = self.places.geofence(booking.driveway_id)
            if geofence is None:
                logger.warning("driveway has no location: no detection", extra={"booking_id": booking.booking_id})
            state = attach_booking(state, booking.booking_id, geofence, self.config)
        result = advance(state, records, self.config, detecting=booking is not None)
        # Everything that must not be lost happens BEFORE the tracking write, and is idempotent: if the
        # write then fails, a redelivered batch would look like a duplicate and change nothing.
        if result.fixes:
            self.positions.put(result.fixes)
        for detection in result.detections if booking is not None else ():
            assert booking is not None
            resumed = self.observe(booking.booking_id, detection.milestone, milestone_fact(detection))
            if resumed and detection.milestone not in report.resumed:
                report.resumed.append(detection.milestone)
        if loaded is not None and result.state == loaded[0]:
            return result  # duplicates only: nothing to write
        expires = int((max(filter(None, (result.state.last_record_at, now))) + TRACK_TTL).timestamp())
        return result if self.tracks.save(result.state, version, expires) else None

    def _announce(self, booking: BookingLike, result: Advance, report: IngestReport) -> None:
        users = [booking.driver_id, booking.host_id]
        fix = result.position_event
        if fix is not None:
            minutes = result.state.signal("MinutesToArrival")
            eta = _iso(fix.at + timedelta(minutes=minutes)) if minutes is not None else None
            self.notifier.publish(users, live_event(
                "vehicle.position", booking.booking_id, fix.at, lat=fix.lat, lng=fix.lng, heading=fix.heading,
                speed=fix.speed_mph, speed_unit="mph", gear=fix.gear, eta=eta, minutes_to_arrival=minutes,
            ))
            report.events += 1
        for detection in result.detections:
            logger.info("vehicle milestone detected",
                        extra={"booking_id": booking.booking_id, "milestone": detection.milestone})
            report.detections.append({"milestone": detection.milestone, "at": detection.at.isoformat()})
            self.notifier.publish(users, live_event(
                EVENT_FOR[detection.milestone], booking.booking_id, detection.at, lat=detection.lat,
                lng=detection.lng, source="telemetry",
            ))
            report.events += 1


def report_as_dict(report: IngestReport) -> dict[str, Any]:
    return asdict(report)
