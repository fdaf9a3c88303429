"""Issue #6 acceptance, over HTTP through the running local cloud: a driver links the simulated Tesla and
sees the car; navigate makes it drive there; the driver's WebSocket receives vehicle.position then
vehicle.arrived; autopark answers driver_guided with the reason; the simulated driver parks and the
booking's parked step (a real Step Functions execution with .waitForTaskToken) is resumed.

The fixture starts its own Tesla simulator, registered with the local cloud's Tesla app credentials and
our callback, and points TESLA_API_BASE / TESLA_AUTH_BASE at it (restored afterwards). Its telemetry pump
is not used: each test step moves the virtual clock and delivers the due signed batches itself, so the
run is deterministic and takes no real-time sleeps.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from aiohttp import ClientSession

from driveway_hub.config import get_settings
from driveway_hub.data.base import bind_models
from driveway_hub.data.bookings import Booking, BookingRepository
from driveway_hub.domain.booking_status import Status
from driveway_hub.tesla.parking import NO_REMOTE_PARK_REASON
from local.clock import VirtualClock
from local.cloud import LocalCloud, Ports
from local.resources import TELEMETRY_SECRET, TESLA_SECRET
from local.tesla_sim import SimConfig, SimUser, TeslaSimulator, VehicleSpec, run_in_thread

pytestmark = pytest.mark.integration

VIN = "5YJ3E1EA7KF000001"
START = (45.5200, -122.6800)
DRIVEWAY = (45.5290, -122.6710)  # about 1.7 km away by grid streets
PASSWORD = "Correct-Horse-42"
TESLA_ENV = ("TESLA_API_BASE", "TESLA_AUTH_BASE", "TESLA_REDIRECT_URI", "TESLA_PARTNER_DOMAIN", "TESLA_PAIRING_BASE")
# Routes these tests exercise end to end (tests/unit/test_route_table.py checks every route is covered).
COVERS = ("tesla_connect", "tesla_callback", "list_vehicles", "vehicle_navigate", "vehicle_autopark",
          "tesla_telemetry_webhook", "vehicle_location")

AWAIT_ARRIVAL_THEN_PARKED = {
    "Comment": "Test fixture: the two telemetry-resumed steps of the booking lifecycle.",
    "StartAt": "AwaitArrival",
    "States": {
        "AwaitArrival": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "${Fn_wf_park_token}", "Payload": {
                "booking_id.$": "$.booking_id", "waiting_for": "arrival", "task_token.$": "$$.Task.Token"}},
            "TimeoutSeconds": 7200, "ResultPath": "$.arrival", "Next": "AwaitParked",
        },
        "AwaitParked": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "${Fn_wf_park_token}", "Payload": {
                "booking_id.$": "$.booking_id", "waiting_for": "parked", "task_token.$": "$$.Task.Token"}},
            "TimeoutSeconds": 7200, "ResultPath": "$.parked", "End": True,
        },
    },
}


@dataclass
class TeslaCloud:
    cloud: LocalCloud
    sim: TeslaSimulator
    sim_url: str

    @property
    def api(self) -> str:
        return str(self.cloud.urls["rest"])

    def step(self, seconds: float = 5.0) -> list[int]:
        """Move virtual time and deliver the telemetry that became due (what the sim's pump does)."""
        self.cloud.clock.advance(seconds)
        statuses = []
        for batch in self.sim.telemetry_batches():
            response = requests.post(batch.target.url, data=batch.body, headers=batch.headers, timeout=30)
            self.sim.telemetry_delivered(batch, response.status_code)
            statuses.append(response.status_code)
        return statuses


@pytest.fixture(scope="module")
def tesla_cloud() -> Iterator[TeslaCloud]:
    with LocalCloud(clock=VirtualClock.instant(), ports=Ports.ephemeral()) as cloud, \
            pytest.MonkeyPatch.context() as env:
        api = str(cloud.urls["rest"])
        config = SimConfig(
            client_id=TESLA_SECRET["client_id"], client_secret=TESLA_SECRET["client_secret"],
            redirect_uris=(f"{api}/tesla/callback",),
            users=(SimUser(email="driver@example.com", user_id="tesla-user-1"),),
            vehicles=(VehicleSpec(VIN, "Roadie", *START),),
        )
        sim = TeslaSimulator(config, now=lambda: cloud.clock.now().timestamp())
        # An hour between pump cycles: the tests deliver telemetry themselves (TeslaCloud.step).
        sim_url, stop = run_in_thread(sim, tick_interval_s=3600)
        try:
            for name, value in {"TESLA_API_BASE": sim_url, "TESLA_AUTH_BASE": sim_url,
                                "TESLA_REDIRECT_URI": f"{api}/tesla/callback",
                                "TESLA_PARTNER_DOMAIN": "driveway-hub.local",
                                "TESLA_PAIRING_BASE": f"{sim_url}/_ak"}.items():
                env.setenv(name, value)
            get_settings.cache_clear()
            sim.register_address("1234 NE Example St, Portland, OR 97212", *DRIVEWAY)
            sim.stream_telemetry_to(f"{api}/webhooks/tesla/telemetry", TELEMETRY_SECRET["hmac_secret"].encode(),
                                    interval_s=5)
            yield TeslaCloud(cloud, sim, sim_url)
        finally:
            stop()
    get_settings.cache_clear()


# ---- helpers ------------------------------------------------------------------------------------------


@dataclass
class User:
    user_id: str
    token: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def signed_in(api: str, role: str) -> User:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    registered = requests.post(f"{api}/auth/register", timeout=30, json={
        "email": email, "password": PASSWORD, "name": f"Pat {role}", "role": role})
    assert registered.status_code == 201, registered.text
    login = requests.post(f"{api}/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
    assert login.status_code == 200, login.text
    return User(registered.json()["user_id"], login.json()["access_token"])


class LiveEvents:
    """A WebSocket client on its own thread, collecting the frames it receives."""

    def __init__(self, url: str) -> None:
        self.frames: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(url),), daemon=True)
        self._stop: asyncio.Event | None = None
        self._thread.start()
        assert self._ready.wait(30), "WebSocket did not connect"

    async def _run(self, url: str) -> None:
        self._stop = asyncio.Event()
        async with ClientSession() as session, session.ws_connect(url) as ws:
            self._ready.set()
            receiver = asyncio.ensure_future(self._receive(ws))
            await self._stop.wait()
            receiver.cancel()

    async def _receive(self, ws: Any) -> None:
        async for message in ws:
            with self._changed:
                self.frames.append(json.loads(message.data))
                self._changed.notify_all()

    def types(self) -> list[str]:
        with self._changed:
            return [f.get("type", "") for f in self.frames]

    def wait_for(self, event_type: str, timeout: float = 30) -> dict[str, Any]:
        with self._changed:
            found = self._changed.wait_for(lambda: any(f.get("type") == event_type for f in self.frames), timeout)
            assert found, f"no {event_type} event; got {[f.get('type') for f in self.frames]}"
            return next(f for f in self.frames if f.get("type") == event_type)

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def link_tesla(tc: TeslaCloud, driver: User) -> dict[str, Any]:
    connect = requests.get(f"{tc.api}/tesla/connect", headers=driver.bearer, timeout=30)
    assert connect.status_code == 200, connect.text
    # The browser follows Tesla's authorize page (auto-consent in the simulator) back to our callback.
    callback = requests.get(connect.json()["authorize_url"], timeout=30, allow_redirects=True)
    assert callback.status_code == 200, callback.text
    answer: dict[str, Any] = callback.json()
    return answer


def confirmed_booking(tc: TeslaCloud, driver: User, host: User) -> str:
    """A paid booking for the driveway (the bookings flow is another issue's; its repository is used)."""
    settings = get_settings()
    bind_models(settings)
    driveway_id = f"dw-{uuid.uuid4().hex[:8]}"
    tc.cloud.client("dynamodb").put_item(TableName=settings.tables.driveways, Item={
        "driveway_id": {"S": driveway_id}, "host_id": {"S": host.user_id}, "title": {"S": "Sunny driveway"},
        "location": {"M": {"lat": {"N": str(DRIVEWAY[0])}, "lng": {"N": str(DRIVEWAY[1])}}},
        "address": {"M": {"line1": {"S": "1234 NE Example St"}, "city": {"S": "Portland"},
                          "region": {"S": "OR"}, "postal_code": {"S": "97212"}}},
        "geofence_radius_m": {"N": "40"}, "status": {"S": "active"}})
    now = tc.cloud.clock.now()
    start = now + timedelta(minutes=20)
    booking_id = f"bk-{uuid.uuid4().hex[:10]}"
    booking = Booking(booking_id, driveway_id=driveway_id, host_id=host.user_id, driver_id=driver.user_id,
                      start_at=start.isoformat(), end_at=(start + timedelta(hours=2)).isoformat(),
                      status=Status.CONFIRMED.value, currency="usd", subtotal_cents=1200, platform_fee_cents=180,
                      total_cents=1380, created_at=now.isoformat(), updated_at=now.isoformat())
    BookingRepository(settings.region, settings.aws_endpoint_url).reserve(
        booking, by=driver.user_id, now=now, is_free=lambda _others: True)
    return booking_id


def start_waiting_steps(tc: TeslaCloud, booking_id: str) -> tuple[Any, str]:
    sfn = tc.cloud.client("stepfunctions")
    resources = tc.cloud.resources
    assert resources is not None
    definition = json.dumps(AWAIT_ARRIVAL_THEN_PARKED).replace(
        "${Fn_wf_park_token}", resources.function_arns["wf_park_token"])
    machine = sfn.create_state_machine(name=f"await-{booking_id}", definition=definition,
                                       roleArn=resources.states_role_arn, type="STANDARD")["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"booking_id": booking_id}))
    return sfn, execution["executionArn"]


def wait_until(predicate: Any, tc: TeslaCloud, *, steps: int, seconds: float = 5.0) -> int:
    """Drive the simulation in ``seconds`` steps until ``predicate()``; returns the steps taken."""
    for taken in range(1, steps + 1):
        assert all(status == 200 for status in tc.step(seconds))
        if predicate():
            return taken
    raise AssertionError(f"not reached within {steps} steps of {seconds} s")


def waiting_for(tc: TeslaCloud, booking_id: str, step: str, attempts: int = 200) -> None:
    repository = BookingRepository(get_settings().region, get_settings().aws_endpoint_url)
    done = threading.Event()
    for _ in range(attempts):
        if repository.get(booking_id, consistent=True).waiting_for == step:
            return
        done.wait(0.05)  # the execution's task runs on moto's thread: give it a moment
    raise AssertionError(f"the execution never parked its {step} token")


def execution_status(sfn: Any, execution_arn: str, attempts: int = 200) -> str:
    done = threading.Event()
    status = "RUNNING"
    for _ in range(attempts):
        status = str(sfn.describe_execution(executionArn=execution_arn)["status"])
        if status != "RUNNING":
            return status
        done.wait(0.05)
    return status


# ---- acceptance ---------------------------------------------------------------------------------------


def test_link_navigate_arrive_autopark_and_park_through_the_local_cloud(tesla_cloud: TeslaCloud) -> None:
    tc = tesla_cloud
    tc.sim.reset()
    driver, host = signed_in(tc.api, "driver"), signed_in(tc.api, "host")

    # Given a driver who links the simulated Tesla and sees the car
    linked = link_tesla(tc, driver)
    assert linked["linked"] and linked["region"] == "na" and not linked["pairing_required"]
    vehicles = requests.get(f"{tc.api}/vehicles", headers=driver.bearer, timeout=30).json()["items"]
    assert [(v["vin"], v["display_name"], v["state"]) for v in vehicles] == [(VIN, "Roadie", "online")]
    vehicle_id = vehicles[0]["vehicle_id"]
    me = requests.get(f"{tc.api}/auth/me", headers=driver.bearer, timeout=30).json()
    assert me["tesla_linked"] is True

    # and a confirmed booking whose lifecycle waits for the car's arrival (a real execution)
    booking_id = confirmed_booking(tc, driver, host)
    sfn, execution = start_waiting_steps(tc, booking_id)
    waiting_for(tc, booking_id, "arrival")
    events = LiveEvents(f"{tc.cloud.urls['websocket']}/?token={driver.token}")
    try:
        # When the driver sends the car to the booking, it drives there
        navigate = requests.post(f"{tc.api}/vehicles/{vehicle_id}/navigate", headers=driver.bearer, timeout=30,
                                 json={"booking_id": booking_id})
        assert navigate.status_code == 202 and navigate.json()["status"] == "sent", navigate.text
        assert tc.sim.vehicle(VIN).phase == "driving"
        wait_until(lambda: tc.sim.vehicle(VIN).phase == "arrived", tc, steps=60)
        tc.step()  # the batch in which the stopped car reports itself still

        # Then the driver's WebSocket gets positions, then the arrival, and the arrival step resumes
        arrived = events.wait_for("vehicle.arrived")
        types = events.types()
        assert types.index("vehicle.position") < types.index("vehicle.arrived")
        assert types.count("vehicle.arrived") == 1
        assert arrived["booking_id"] == booking_id and arrived["source"] == "telemetry"
        waiting_for(tc, booking_id, "parked")

        location = requests.get(f"{tc.api}/vehicles/{vehicle_id}/location", headers=driver.bearer, timeout=30)
        assert location.status_code == 200 and location.json()["source"] == "telemetry"

        # When the driver asks to park: honest answer, a live prompt, the lights flash
        autopark = requests.post(f"{tc.api}/vehicles/{vehicle_id}/autopark", headers=driver.bearer, timeout=30,
                                 json={"booking_id": booking_id})
        assert autopark.status_code == 202, autopark.text
        assert autopark.json()["mode"] == "driver_guided" and autopark.json()["reason"] == NO_REMOTE_PARK_REASON
        assert events.wait_for("parking.requested")["mode"] == "driver_guided"

        # and the (simulated) driver parks as prompted
        tc.sim.prompt_driver_to_park(VIN)
        wait_until(lambda: tc.sim.vehicle(VIN).phase == "parked", tc, steps=20)
        tc.step()

        # Then parking is confirmed from telemetry and the booking's parked step is resumed
        events.wait_for("parking.completed")
        assert execution_status(sfn, execution) == "SUCCEEDED"
        output = json.loads(sfn.describe_execution(executionArn=execution)["output"])
        assert output["arrival"]["milestone"] == "arrival" and output["parked"]["milestone"] == "parked"
    finally:
        events.close()

    # What it cost at Tesla (the bench reads these counters)
    counters = tc.sim.counter_values()
    print(f"\nTesla calls for one booking: {counters}")
    assert counters["wakes"] == 0 and counters["commands"] == 2  # navigation_request + flash_lights
    assert counters["data_requests"] == 2  # vehicles + fleet_status at linking; telemetry did the rest


def test_a_sleeping_car_is_woken_with_bounded_wake_calls_then_navigated(tesla_cloud: TeslaCloud) -> None:
    tc = tesla_cloud
    tc.sim.reset()
    driver, host = signed_in(tc.api, "driver"), signed_in(tc.api, "host")
    vehicle_id = link_tesla(tc, driver)["vehicles"][0]["vehicle_id"]
    booking_id = confirmed_booking(tc, driver, host)
    tc.sim.set_vehicle_state(VIN, "asleep")
    answers = []
    for _ in range(6):
        response = requests.post(f"{tc.api}/vehicles/{vehicle_id}/navigate", headers=driver.bearer, timeout=30,
                                 json={"booking_id": booking_id})
        assert response.status_code == 202, response.text
        answers.append(response.json()["status"])
        if answers[-1] == "sent":
            break
        tc.cloud.clock.advance(response.json()["retry_after_s"])
    assert answers[0] == "waking" and answers[-1] == "sent"
    assert tc.sim.vehicle(VIN).phase == "driving"
    assert 1 <= tc.sim.counter_values()["wakes"] <= len(answers) - 1


def test_forged_state_and_unsigned_telemetry_are_refused_over_http(tesla_cloud: TeslaCloud) -> None:
    tc = tesla_cloud
    forged = requests.get(f"{tc.api}/tesla/callback", params={"code": "NA_x", "state": "eyJ1IjoieCJ9.c2ln"},
                          timeout=30)
    assert forged.status_code == 400 and forged.json()["error"]["code"] == "invalid_oauth_state"
    unsigned = requests.post(f"{tc.api}/webhooks/tesla/telemetry", json={"records": []}, timeout=30)
    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "invalid_signature"


def test_an_expired_access_token_is_refreshed_once_and_a_revoked_account_must_relink(
        tesla_cloud: TeslaCloud) -> None:
    tc = tesla_cloud
    tc.sim.reset()
    driver = signed_in(tc.api, "driver")
    link_tesla(tc, driver)
    tc.sim.expire_access_tokens()
    synced = requests.get(f"{tc.api}/vehicles", params={"sync": "true"}, headers=driver.bearer, timeout=30)
    assert synced.status_code == 200 and tc.sim.counter_values()["refreshes"] == 1
    tc.sim.revoke_refresh_tokens()
    relink = requests.get(f"{tc.api}/vehicles", params={"sync": "true"}, headers=driver.bearer, timeout=30)
    assert relink.status_code == 409 and relink.json()["error"]["code"] == "tesla_relink_required"
    me = requests.get(f"{tc.api}/auth/me", headers=driver.bearer, timeout=30).json()
    assert me["tesla_linked"] is False


def test_pairing_is_reported_with_the_pairing_link_for_a_car_without_our_key(tesla_cloud: TeslaCloud) -> None:
    tc = tesla_cloud
    tc.sim.reset()
    tc.sim.pair_key(VIN, False)
    driver = signed_in(tc.api, "driver")
    linked = link_tesla(tc, driver)
    assert linked["pairing_required"] and linked["pairing_url"] == f"{tc.sim_url}/_ak/driveway-hub.local"
    assert requests.get(linked["pairing_url"], timeout=30).status_code == 200  # the owner approves the key
    synced = requests.get(f"{tc.api}/vehicles", params={"sync": "true"}, headers=driver.bearer, timeout=30)
    assert [v["needs_pairing"] for v in synced.json()["items"]] == [False]
    state = parse_qs(urlsplit(requests.get(f"{tc.api}/tesla/connect", headers=driver.bearer,
                                            timeout=30).json()["authorize_url"]).query)["state"][0]
    assert state  # a second connect is possible (relinking) and issues a fresh state
