"""The vehicle endpoints' domain with the real repositories (moto) and a fake Tesla: ownership, the booking
checks, navigation with bounded waking, location from telemetry or one bounded fallback, autopark."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast

import pytest

from driveway_hub.auth.permissions import Principal
from driveway_hub.data.bookings import Booking, BookingRepository
from driveway_hub.data.vehicles import DrivewayPlaces, DynamoPositionStore, DynamoTrackStore, VehicleRepository
from driveway_hub.domain.booking_status import Status
from driveway_hub.errors import Conflict, InvalidState, NotFound, NotOwner
from driveway_hub.tesla import runtime
from driveway_hub.tesla.errors import VehicleAsleep, VehicleUnavailable
from driveway_hub.tesla.fleet_client import TeslaApp, TeslaFleetClient, TeslaOAuthClient
from driveway_hub.tesla.parking import NO_REMOTE_PARK_REASON, SimulatorParkingAdapter, TeslaParkingAdapter
from driveway_hub.tesla.privacy import TeslaPersonalData
from driveway_hub.tesla.telemetry import Fix
from driveway_hub.tesla.token_store import TokenSet
from driveway_hub.tesla.vehicles import VehicleService, sync_vehicles
from tests.unit.test_tesla_fixtures import (
    NA_BASE,
    T0,
    TOKEN_URL,
    VIN,
    AwsEnv,
    FakeResponse,
    FakeTesla,
    ManualClock,
    RecordingNotifier,
    answer,
    aws_client,
    aws_environment,
)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsEnv]:
    with aws_environment(monkeypatch) as env:
        yield env

DRIVER = Principal.for_roles("driver-1", ["driver"])
OTHER_DRIVER = Principal.for_roles("driver-2", ["driver"])
VEHICLE_ID = "100021"
DRIVEWAY = (45.529, -122.671)


class Env:
    def __init__(self, aws: AwsEnv) -> None:
        self.aws = aws
        self.tesla = FakeTesla()
        self.clock = ManualClock(T0)
        self.notifier = RecordingNotifier()
        self.store = runtime.token_store(aws.settings)
        self.bookings = BookingRepository("us-east-1")
        access, refresh = self.tesla.issue()
        for user in ("driver-1", "driver-2"):
            self.store.begin_link(user, "h", int(T0.timestamp()) + 600, T0)
            self.store.link(user, TokenSet(access, refresh), access_expires_at=int(T0.timestamp()) + 28_800,
                            api_base_url=NA_BASE, scopes="", state_hash="h", now=T0)
        sync_vehicles(self.fleet("driver-1"), VehicleRepository(), "driver-1", T0, None)
        aws_client("dynamodb").put_item(TableName=aws.settings.tables.driveways, Item={
            "driveway_id": {"S": "dw-1"}, "host_id": {"S": "host-1"},
            "location": {"M": {"lat": {"N": str(DRIVEWAY[0])}, "lng": {"N": str(DRIVEWAY[1])}}},
            "address": {"M": {"line1": {"S": "1234 NE Example St"}, "city": {"S": "Portland"}}}})

    def fleet(self, user_id: str) -> TeslaFleetClient:
        oauth = TeslaOAuthClient(TeslaApp("client-id", "client-secret"), self.tesla, token_url=TOKEN_URL)
        return TeslaFleetClient(user_id, store=self.store, oauth=oauth, http=self.tesla, clock=self.clock,
                                default_api_base=NA_BASE)

    def service(self, parking: Any = None) -> VehicleService:
        return VehicleService(
            vehicles=VehicleRepository(), bookings=self.bookings,
            places=DrivewayPlaces(aws_client("dynamodb"),
                                  self.aws.settings.tables.driveways),
            positions=DynamoPositionStore(), tracks=DynamoTrackStore(), fleet_for=self.fleet, notifier=self.notifier,
            parking=parking or TeslaParkingAdapter(), clock=self.clock, linked=self.store.is_linked)

    def booking(self, booking_id: str = "bk-1", *, driver: str = "driver-1", status: Status = Status.CONFIRMED,
                vin: str | None = None) -> str:
        start = T0 + timedelta(minutes=30)
        booking = Booking(booking_id, driveway_id="dw-1", host_id="host-1", driver_id=driver,
                          start_at=start.isoformat(), end_at=(start + timedelta(hours=2)).isoformat(),
                          status=status.value, currency="usd", subtotal_cents=1000, platform_fee_cents=150,
                          total_cents=1150, created_at=T0.isoformat(), updated_at=T0.isoformat(), vin=vin)
        self.bookings.reserve(booking, by=driver, now=T0, is_free=lambda _others: True)
        return booking_id

    def commands(self, name: str) -> list[Any]:
        return [s for s in self.tesla.api_calls() if s.path.endswith(f"/{name}")]


@pytest.fixture
def env(aws: AwsEnv) -> Env:
    return Env(aws)


# ---- reads ----------------------------------------------------------------------------------------


def test_the_driver_lists_their_cars_and_nobody_else_sees_them(env: Env) -> None:
    mine = env.service().list(DRIVER, sync=False)
    assert [v["vin"] for v in mine["items"]] == [VIN] and mine["next_cursor"] is None
    assert env.service().list(OTHER_DRIVER, sync=False)["items"] == []
    with pytest.raises(NotFound):
        env.service().status(OTHER_DRIVER, VEHICLE_ID)


def test_location_comes_from_fresh_telemetry_without_asking_tesla(env: Env) -> None:
    DynamoPositionStore().put([Fix(VIN, T0 - timedelta(seconds=30), 45.52, -122.68, 90.0, 0.0, "P")])
    calls = len(env.tesla.api_calls())
    location = env.service().location(DRIVER, VEHICLE_ID)
    assert location == {"lat": 45.52, "lng": -122.68, "heading": 90.0, "at": (T0 - timedelta(seconds=30)).isoformat(),
                        "source": "telemetry", "stale": False}
    assert len(env.tesla.api_calls()) == calls


def test_without_fresh_telemetry_location_makes_one_vehicle_data_call(env: Env) -> None:
    location = env.service().location(DRIVER, VEHICLE_ID)
    [call] = [s for s in env.tesla.api_calls() if s.path.endswith("/vehicle_data")]
    assert call.kwargs["params"] == {"endpoints": "location_data"}
    assert location["source"] == "vehicle_data" and location["lat"] == 45.52
    assert DynamoPositionStore().newest(VIN) is not None  # kept, with the same 30-day expiry


def test_a_sleeping_car_is_not_woken_for_its_location(env: Env) -> None:
    DynamoPositionStore().put([Fix(VIN, T0 - timedelta(hours=2), 45.5, -122.6)])
    env.tesla.vehicles[0]["state"] = "asleep"
    location = env.service().location(DRIVER, VEHICLE_ID)
    assert location["stale"] is True and env.commands("wake_up") == []


def test_status_reads_the_cheap_state_and_the_battery_when_online(env: Env) -> None:
    status = env.service().status(DRIVER, VEHICLE_ID)
    assert status["state"] == "online" and status["battery_level"] == 80 and status["shift_state"] == "P"


# ---- navigation -------------------------------------------------------------------------------------


def test_navigate_sends_the_driveways_coordinates_and_attaches_the_car_to_the_booking(env: Env) -> None:
    booking_id = env.booking()
    answer_ = env.service().navigate(DRIVER, VEHICLE_ID, booking_id)
    assert answer_["status"] == "sent"
    [command] = env.commands("navigation_request")
    assert command.kwargs["json"]["value"]["android.intent.extra.TEXT"] == "https://maps.google.com/?q=45.529000,-122.671000"
    booking = env.bookings.get(booking_id)
    assert (booking.vin, booking.vehicle_id) == (VIN, VEHICLE_ID)


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"driver": "driver-2"}, NotOwner),
    ({"status": Status.PENDING_PAYMENT}, InvalidState),
    ({"vin": "7SAYGDEE1PA000003"}, Conflict),
], ids=["someone-elses-booking", "unpaid-booking", "booking-for-another-car"])
def test_navigate_only_for_the_drivers_own_live_booking_of_this_car(env: Env, kwargs: dict[str, Any],
                                                                   error: type[Exception]) -> None:
    booking_id = env.booking(**kwargs)
    with pytest.raises(error):
        env.service().navigate(DRIVER, VEHICLE_ID, booking_id)
    assert env.commands("navigation_request") == []


def test_a_sleeping_car_is_woken_with_bounded_wake_calls_then_navigated(env: Env) -> None:
    booking_id = env.booking()
    service = env.service()
    env.tesla.vehicles[0]["state"] = "asleep"
    first = service.navigate(DRIVER, VEHICLE_ID, booking_id)
    env.clock.advance(3)
    again_too_soon = service.navigate(DRIVER, VEHICLE_ID, booking_id)
    env.clock.advance(10)
    third = service.navigate(DRIVER, VEHICLE_ID, booking_id)
    assert [first["status"], again_too_soon["status"], third["status"]] == ["waking"] * 3
    assert len(env.commands("wake_up")) == 2  # one wake per 10 s, as Tesla's own SDK re-posts
    env.tesla.vehicles[0]["state"] = "online"
    env.clock.advance(10)
    assert service.navigate(DRIVER, VEHICLE_ID, booking_id)["status"] == "sent"
    # The first try met the sleeping car (408, billed as a command, cheaper than a state check first);
    # while it wakes, the cheap state poll comes first; then one command reaches the car.
    assert len(env.commands("navigation_request")) == 2
    vehicle = VehicleRepository().get("driver-1", VEHICLE_ID)
    assert vehicle is not None and vehicle.wake_started_at is None


def test_a_car_that_never_wakes_is_given_up_on_after_the_wake_window(env: Env) -> None:
    booking_id = env.booking()
    service = env.service()
    env.tesla.vehicles[0]["state"] = "asleep"
    for _ in range(10):
        service.navigate(DRIVER, VEHICLE_ID, booking_id)
        env.clock.advance(10)
    with pytest.raises(VehicleUnavailable):
        service.navigate(DRIVER, VEHICLE_ID, booking_id)
    assert len(env.commands("wake_up")) <= 10


def test_the_lifecycle_navigation_raises_vehicle_asleep_while_waking(env: Env) -> None:
    booking_id = env.booking(vin=VIN)
    env.tesla.vehicles[0]["state"] = "asleep"
    with pytest.raises(VehicleAsleep) as raised:
        env.service().navigate_to_driveway(env.bookings.get(booking_id))
    assert type(raised.value).__name__ == "VehicleAsleep"


# ---- parking ------------------------------------------------------------------------------------------


def test_autopark_on_a_tesla_is_driver_guided_with_the_reason_lights_and_a_live_prompt(env: Env) -> None:
    booking_id = env.booking()
    result = env.service().autopark(DRIVER, VEHICLE_ID, booking_id)
    assert result["mode"] == "driver_guided" and result["reason"] == NO_REMOTE_PARK_REASON
    assert result["lights_flashed"] is True and len(env.commands("flash_lights")) == 1
    [(users, event)] = env.notifier.events
    assert users == ("driver-1", "host-1") and event["type"] == "parking.requested"
    assert event["mode"] == "driver_guided" and event["instructions"]


def test_autopark_still_answers_when_the_lights_cannot_flash(env: Env) -> None:
    booking_id = env.booking()
    env.tesla.vehicles[0]["state"] = "asleep"
    result = env.service().autopark(DRIVER, VEHICLE_ID, booking_id)
    assert result["mode"] == "driver_guided" and result["lights_flashed"] is False


def test_the_simulator_adapter_parks_automatically_through_the_simulators_control_api() -> None:
    sent: list[str] = []

    class Sim:
        def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
            sent.append(f"{method} {url}")
            return answer(200, {"result": "scheduled"})

    unused_fleet = cast(TeslaFleetClient, None)  # the simulator adapter never talks to Tesla
    result = SimulatorParkingAdapter("http://127.0.0.1:8003", Sim()).request_parking(VIN, unused_fleet)
    assert result.mode == "automatic" and sent == [f"POST http://127.0.0.1:8003/_sim/vehicles/{VIN}/autopark"]


# ---- privacy -------------------------------------------------------------------------------------------


def test_export_holds_no_tokens_and_erasure_removes_account_vehicles_and_positions(env: Env) -> None:
    DynamoPositionStore().put([Fix(VIN, T0, 45.52, -122.68)])
    store = TeslaPersonalData()
    exported = store.export("driver-1")
    assert exported["account"]["status"] == "linked" and [v["vin"] for v in exported["vehicles"]] == [VIN]
    assert len(exported["positions"][VIN]) == 1
    assert "at-1" not in str(exported) and "rt-1" not in str(exported)
    store.erase("driver-1", T0)
    store.erase("driver-1", T0)  # idempotent
    assert store.export("driver-1") == {"account": None, "vehicles": [], "positions": {}}
    assert DynamoPositionStore().newest(VIN) is None
