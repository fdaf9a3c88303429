"""Telemetry ingest: parsing both doors' records, the webhook signature check, the detector (arrival,
parked, departure; duplicates, out-of-order records and GPS jumps), and the ingest service resuming the
booking's waiting step exactly once (real repositories on moto, a recording WorkflowPort)."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driveway_hub.data.bookings import Booking, BookingRepository
from driveway_hub.data.vehicles import DrivewayPlaces, DynamoPositionStore, DynamoTrackStore
from driveway_hub.domain.booking_status import Status
from driveway_hub.domain.bookings import BookingContext, observe, resume_if_observed
from driveway_hub.telemetry_signing import sign
from driveway_hub.tesla.geofence import Geofence
from driveway_hub.tesla.telemetry import (
    MalformedTelemetry,
    TelemetryIngest,
    TelemetryRecord,
    TelemetryUnauthorized,
    TrackState,
    advance,
    attach_booking,
    authenticate_webhook,
    parse_batch,
    parse_record,
)
from tests.unit.test_tesla_fixtures import (
    T0,
    VIN,
    AwsEnv,
    RecordingNotifier,
    RecordingWorkflow,
    aws_client,
    aws_environment,
)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsEnv]:
    with aws_environment(monkeypatch) as env:
        yield env

DRIVEWAY = (45.529, -122.671)
FENCE = Geofence(DRIVEWAY[0], DRIVEWAY[1], 40.0)
M_PER_DEG_LAT = 111_195.0
SECRET = b"unit-test-telemetry-secret"


def north_of_driveway(meters: float) -> tuple[float, float]:
    return round(DRIVEWAY[0] + meters / M_PER_DEG_LAT, 6), DRIVEWAY[1]


def record(t: float, *, at_m: float | None = None, gear: str | None = None, speed: float | None = None,
           minutes: float | None = None, vin: str = VIN) -> TelemetryRecord:
    """A record in fleet-telemetry's JSON form (parsed, so the parser is exercised too)."""
    data: list[dict[str, Any]] = []
    if at_m is not None:
        lat, lng = north_of_driveway(at_m)
        data.append({"key": "Location", "value": {"locationValue": {"latitude": lat, "longitude": lng}}})
    if gear is not None:
        data.append({"key": "Gear", "value": {"shiftStateValue": f"ShiftState{gear}"}})
    if speed is not None:
        data.append({"key": "VehicleSpeed", "value": {"doubleValue": speed}})
    if minutes is not None:
        data.append({"key": "MinutesToArrival", "value": {"doubleValue": minutes}})
    created = (T0 + timedelta(seconds=t)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return parse_record({"vin": vin, "createdAt": created, "data": data})


def trip_to_the_kerb() -> list[TelemetryRecord]:
    """Approach from 500 m south at 11 m/s (a fix every 5 s), stop at the kerb 15 m short in D."""
    records = [record(0, at_m=-500, gear="D", speed=24.6, minutes=0.8)]
    for i, meters in enumerate((-445, -390, -335, -280, -225, -170, -115, -60), start=1):
        records.append(record(5 * i, at_m=meters, minutes=round((-meters) / 660, 2)))
    records.append(record(45, at_m=-15, speed=0.0))  # stopped at the kerb: the last thing a still car sends
    return records


def parking_manoeuvre() -> list[TelemetryRecord]:
    """The driver reacts after 20 s, creeps onto the driveway, shifts to P (what the simulator sends)."""
    return [record(65, at_m=-12, speed=3.1), record(70, at_m=-5), record(75, at_m=0, gear="P", speed=0.0)]


def departure() -> list[TelemetryRecord]:
    return [record(300, at_m=-40, gear="D", speed=20.0), record(305, at_m=-95), record(310, at_m=-150)]


def for_booking(state: TrackState | None = None) -> TrackState:
    return attach_booking(state or TrackState(VIN), "bk-1", FENCE)


def milestones(*batches: Sequence[TelemetryRecord], state: TrackState | None = None) -> list[str]:
    current = state or for_booking()
    found: list[str] = []
    for batch in batches:
        result = advance(current, batch)
        current = result.state
        found += [d.milestone for d in result.detections]
    return found


# ---- parsing and the webhook door -----------------------------------------------------------------


def test_a_simulator_batch_parses_with_invalid_route_values_and_unknown_keys() -> None:
    body = json.dumps({"records": [{"vin": VIN, "createdAt": "2026-11-24T10:00:00.000Z", "data": [
        {"key": "Location", "value": {"locationValue": {"latitude": 45.52, "longitude": -122.68}}},
        {"key": "Gear", "value": {"shiftStateValue": "ShiftStateD"}},
        {"key": "MinutesToArrival", "value": {"invalid": True}},
        {"key": "Odometer", "value": {"doubleValue": 1234.5}},
    ]}]}).encode()
    [parsed] = parse_batch(body)
    assert parsed.location == (45.52, -122.68)
    assert parsed.signals["Gear"] == "D" and parsed.signals["MinutesToArrival"] is None
    assert "Odometer" not in parsed.signals and parsed.created_at == T0


@pytest.mark.parametrize("body", [
    b"not json",
    b'{"rows": []}',
    b'{"records": [{"createdAt": "2026-11-24T10:00:00Z", "data": []}]}',
    b'{"records": [{"vin": "5YJ3E1EA7KF000001", "createdAt": "yesterday", "data": []}]}',
    b'{"records": [{"vin": "5YJ3E1EA7KF000001", "createdAt": "2026-11-24T10:00:00", "data": []}]}',
    b'{"records": [{"vin": "5YJ3E1EA7KF000001", "createdAt": "2026-11-24T10:00:00Z", "data": [{"key": "Location",'
    b' "value": {"locationValue": {"latitude": 123.0, "longitude": 0}}}]}]}',
    b'{"records": [{"vin": "5YJ3E1EA7KF000001", "createdAt": "2026-11-24T10:00:00Z", "data": [{"key": "Gear",'
    b' "value": {"shiftStateValue": "ShiftStateX"}}]}]}',
], ids=["not-json", "no-records", "no-vin", "bad-time", "naive-time", "bad-latitude", "bad-gear"])
def test_a_malformed_batch_is_refused_whole(body: bytes) -> None:
    with pytest.raises(MalformedTelemetry):
        parse_batch(body)


def test_the_webhook_accepts_a_fresh_signature_and_the_previous_secret_during_rotation() -> None:
    body = b'{"records": []}'
    authenticate_webhook([SECRET], body, sign(SECRET, body, 1_000), now=1_100)
    authenticate_webhook([b"new-secret", SECRET], body, sign(SECRET, body, 1_000), now=1_100)


@pytest.mark.parametrize(("headers", "now"), [
    ({}, 1_000),
    (sign(b"someone-else", b'{"records": []}', 1_000), 1_000),
    (sign(SECRET, b'{"records": [1]}', 1_000), 1_000),  # signed another body
    (sign(SECRET, b'{"records": []}', 1_000), 1_301),  # 301 s late: a replay
    (sign(SECRET, b'{"records": []}', 1_000), 699),  # from the future
], ids=["unsigned", "forged", "other-body", "stale", "future"])
def test_the_webhook_refuses_a_bad_or_stale_signature(headers: dict[str, str], now: int) -> None:
    with pytest.raises(TelemetryUnauthorized):
        authenticate_webhook([SECRET], b'{"records": []}', headers, now)


# ---- the detector ---------------------------------------------------------------------------------


def test_a_car_stopping_at_the_kerb_has_arrived_once_and_parks_once() -> None:
    assert milestones(trip_to_the_kerb(), parking_manoeuvre()) == ["arrival", "parked"]


def test_arrival_and_parking_times_are_the_records_times() -> None:
    result = advance(for_booking(), [*trip_to_the_kerb(), *parking_manoeuvre()])
    times = {d.milestone: d.at for d in result.detections}
    assert times == {"arrival": T0 + timedelta(seconds=45), "parked": T0 + timedelta(seconds=75)}


def test_driving_past_the_driveway_is_no_arrival() -> None:
    passing = [record(5 * i, at_m=-200 + 55 * i, gear="D", speed=24.6) for i in range(8)]
    assert milestones(passing) == []


def test_three_slow_fixes_inside_are_an_arrival_without_stopping() -> None:
    crawl = [record(0, at_m=-48, gear="D", speed=3.0), record(5, at_m=-38), record(10, at_m=-28)]
    assert milestones(crawl) == ["arrival"]


def test_a_single_gps_jump_into_the_geofence_is_ignored() -> None:
    far = [record(0, at_m=-800, gear="D", speed=0.0), record(5, at_m=-800)]
    jump = [record(10, at_m=0)]  # 800 m in 5 s: 160 m/s, and the car says it is stopped
    back = [record(15, at_m=-799)]
    result = advance(for_booking(), [*far, *jump, *back])
    assert result.detections == [] and result.rejected_jumps == 1
    assert all(abs(f.lat - north_of_driveway(0)[0]) > 1e-4 for f in result.fixes)  # the jump is not stored


def test_a_jump_confirmed_by_the_next_fix_is_where_the_car_is() -> None:
    state = advance(for_booking(), [record(0, at_m=-900, gear="D", speed=10.0)]).state
    state.location_at = T0 - timedelta(seconds=1)  # a stale position from before the car slept
    result = advance(state, [record(2, at_m=-30), record(7, at_m=-20, speed=0.0)])
    assert [d.milestone for d in result.detections] == ["arrival"]


def test_duplicated_batches_detect_once() -> None:
    trip = [*trip_to_the_kerb(), *parking_manoeuvre()]
    assert milestones(trip, trip, trip[-4:], trip) == ["arrival", "parked"]


def test_out_of_order_records_detect_once() -> None:
    trip = [*trip_to_the_kerb(), *parking_manoeuvre()]
    late, early = trip[-1:], trip[:-1]
    assert milestones(late, list(reversed(early))) == ["arrival", "parked"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), copies=st.integers(1, 3), batches=st.integers(1, 8))
def test_any_delivery_order_duplication_and_batching_gives_exactly_one_arrival_and_one_parking(
        seed: int, copies: int, batches: int) -> None:
    rng = random.Random(seed)
    deliveries = [*trip_to_the_kerb(), *parking_manoeuvre()] * copies
    rng.shuffle(deliveries)
    cuts = sorted(rng.sample(range(1, len(deliveries)), min(batches - 1, len(deliveries) - 1)))
    split = [deliveries[a:b] for a, b in zip([0, *cuts], [*cuts, len(deliveries)], strict=True)]
    assert milestones(*split) == ["arrival", "parked"]


def test_departure_after_parking_needs_two_fixes_outside() -> None:
    state = advance(for_booking(), [*trip_to_the_kerb(), *parking_manoeuvre()]).state
    first = advance(state, departure()[:1])
    assert first.detections == []  # 40 m: still within radius + accuracy
    assert [d.milestone for d in advance(first.state, departure()[1:]).detections] == ["departure"]


def test_without_a_live_booking_nothing_is_detected_but_signals_are_kept() -> None:
    result = advance(TrackState(VIN), [*trip_to_the_kerb(), *parking_manoeuvre()], detecting=False)
    assert result.detections == [] and result.state.signal("Gear") == "P"
    assert len(result.fixes) == 13


def test_a_car_already_on_the_driveway_when_the_booking_starts_counts_as_inside() -> None:
    parked_there = advance(TrackState(VIN), [record(0, at_m=0, gear="P", speed=0.0)], detecting=False).state
    attached = attach_booking(parked_there, "bk-2", FENCE)
    assert attached.inside_streak == 1 and attached.arrival_at is None
    assert [d.milestone for d in advance(attached, [record(30, speed=0.0, gear="P")]).detections] == [
        "arrival", "parked"]


def test_position_events_are_throttled_to_one_per_ten_seconds_of_record_time() -> None:
    state = for_booking()
    emitted = []
    for rec in trip_to_the_kerb():
        result = advance(state, [rec])
        state = result.state
        if result.position_event:
            emitted.append(result.position_event.at)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(emitted)]
    assert emitted and all(gap >= 10 for gap in gaps)


def test_the_tracking_state_survives_its_json_round_trip() -> None:
    state = advance(for_booking(), [*trip_to_the_kerb(), *parking_manoeuvre()]).state
    assert TrackState.from_json(state.to_json()) == state


# ---- the ingest service with the real repositories (moto) ---------------------------------------


def reserve_booking(aws: AwsEnv, booking_id: str = "bk-1", status: Status = Status.CONFIRMED) -> None:
    aws_client("dynamodb").put_item(TableName=aws.settings.tables.driveways, Item={
        "driveway_id": {"S": "dw-1"}, "host_id": {"S": "host-1"},
        "location": {"M": {"lat": {"N": str(DRIVEWAY[0])}, "lng": {"N": str(DRIVEWAY[1])}}},
        "geofence_radius_m": {"N": "40"}})
    start = T0 + timedelta(minutes=5)
    booking = Booking(booking_id, driveway_id="dw-1", host_id="host-1", driver_id="driver-1",
                      start_at=start.isoformat(), end_at=(start + timedelta(hours=2)).isoformat(),
                      status=status.value, currency="usd", subtotal_cents=1000, platform_fee_cents=150,
                      total_cents=1150, created_at=T0.isoformat(), updated_at=T0.isoformat(), vin=VIN,
                      vehicle_id="100021")
    BookingRepository("us-east-1").reserve(booking, by="driver-1", now=T0, is_free=lambda _others: True)


def ingest_service(aws: AwsEnv, workflow: RecordingWorkflow, notifier: RecordingNotifier) -> TelemetryIngest:
    context = BookingContext(bookings=BookingRepository("us-east-1"), notifier=notifier, workflow=workflow)

    def observer(booking_id: str, waiting_for: str, fact: dict[str, Any]) -> bool:
        return observe(context, booking_id, waiting_for, fact)

    return TelemetryIngest(
        positions=DynamoPositionStore(), tracks=DynamoTrackStore(), bookings=BookingRepository("us-east-1"),
        places=DrivewayPlaces(aws_client("dynamodb"), aws.settings.tables.driveways),
        observe=observer, notifier=notifier)


def test_arrival_resumes_the_waiting_step_once_even_when_the_batch_is_delivered_three_times(aws: AwsEnv) -> None:
    reserve_booking(aws)
    repository = BookingRepository("us-east-1")
    repository.park_token("bk-1", "arrival", "token-arrival", T0)
    workflow, notifier = RecordingWorkflow(), RecordingNotifier()
    ingest = ingest_service(aws, workflow, notifier)
    now = T0 + timedelta(minutes=1)
    for _ in range(3):
        ingest.ingest(trip_to_the_kerb(), now)
    assert [token for token, _output in workflow.resumed] == ["token-arrival"]
    assert workflow.resumed[0][1]["milestone"] == "arrival"
    types = notifier.types()
    assert types.count("vehicle.arrived") == 1
    assert types.index("vehicle.position") < types.index("vehicle.arrived")
    assert all(users == ("driver-1", "host-1") for users, _event in notifier.events)


def test_a_step_that_parks_its_token_after_the_car_parked_is_resumed_by_the_recorded_fact(aws: AwsEnv) -> None:
    reserve_booking(aws)
    workflow, notifier = RecordingWorkflow(), RecordingNotifier()
    ingest_service(aws, workflow, notifier).ingest([*trip_to_the_kerb(), *parking_manoeuvre()], T0)
    assert workflow.resumed == []  # nothing was waiting yet
    repository = BookingRepository("us-east-1")
    repository.park_token("bk-1", "parked", "token-parked", T0)
    context = BookingContext(bookings=repository, notifier=notifier, workflow=workflow)
    assert resume_if_observed(context, "bk-1", "parked")
    assert not resume_if_observed(context, "bk-1", "parked")
    assert [(token, output["milestone"]) for token, output in workflow.resumed] == [("token-parked", "parked")]


def test_positions_are_stored_per_vin_with_a_thirty_day_ttl_and_the_newest_is_found(aws: AwsEnv) -> None:
    workflow, notifier = RecordingWorkflow(), RecordingNotifier()
    report = ingest_service(aws, workflow, notifier).ingest(trip_to_the_kerb(), T0)
    assert report.positions_stored == 10 and notifier.events == []  # no booking: stored, nobody notified
    newest = DynamoPositionStore().newest(VIN)
    assert newest is not None and newest.at == T0 + timedelta(seconds=45)
    item = aws_client("dynamodb").query(
        TableName=aws.settings.tables.positions, KeyConditionExpression="vin = :v AND #at > :floor",
        ExpressionAttributeNames={"#at": "at"},
        ExpressionAttributeValues={":v": {"S": VIN}, ":floor": {"S": "0"}}, Limit=1)["Items"][0]
    first_fix = T0
    assert int(item["expires_at"]["N"]) == int((first_fix + timedelta(days=30)).timestamp())


def test_a_concurrent_writer_makes_the_ingest_fold_again_not_detect_twice(aws: AwsEnv) -> None:
    reserve_booking(aws)
    workflow, notifier = RecordingWorkflow(), RecordingNotifier()
    ingest = ingest_service(aws, workflow, notifier)
    raced: list[bool] = []

    class RacingTracks(DynamoTrackStore):
        def save(self, state: TrackState, expected_version: int | None, expires_at: int) -> bool:
            if not raced:
                # Another invocation ingests the same records first and wins the conditional write.
                raced.append(True)
                ingest_service(aws, RecordingWorkflow(), RecordingNotifier()).ingest(trip_to_the_kerb(), T0)
            return super().save(state, expected_version, expires_at)

    ingest.tracks = RacingTracks()
    ingest.ingest(trip_to_the_kerb(), T0)
    assert notifier.types().count("vehicle.arrived") == 0  # the rival announced it; this one folded again
    assert DynamoTrackStore().load(VIN) is not None
