"""The booking lifecycle under faults, through the running local cloud (issue #7).

Each test drives a real booking over HTTP — the real state machine executing in moto, the fake Stripe's
signed webhooks, the simulated Tesla of the local cloud linked over OAuth — injects one fault, and
checks what the driver, the host and the money see. The instant clock collapses Wait states and Retry
back-offs; a task-token timeout fires only when the test moves the clock (so "the car never arrives"
is one ``advance``). Every test leaves its booking in a final status, because the instant clock is one
timeline for every execution of the module: a booking left waiting would be moved by the next test.

A stopped execution is aborted at once, as in AWS, also while a task waits for its token (moto alone
would leave it RUNNING until the token's timeout; local/clock.py patches that).

Not here: "payment never arrives → EXPIRED" (tests/integration/test_booking_lifecycle.py).
"""

from __future__ import annotations

import base64
import dataclasses
import os
import socket
import struct
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from driveway_hub.adapters import notifier
from driveway_hub.adapters.workflow import StepFunctionsWorkflow
from driveway_hub.config import get_settings
from driveway_hub.data.base import bind_models
from driveway_hub.data.bookings import Booking, BookingRepository
from driveway_hub.data.connections import Connection, ConnectionRepository
from driveway_hub.domain.bookings import NO_SHOW_KEEP_PERCENT
from driveway_hub.domain.cancellation import CancelledBy, cancellation_outcome
from driveway_hub.payments.events import RECHECK_HELD_MAX_S
from driveway_hub.payments.runtime import run_reconciler
from local.cloud import SIM_VIN, LocalCloud
from local.fake_stripe import FakeStripe
from local.tesla_sim import TeslaSimulator
from tests.integration.conftest import wait_until
from tests.integration.test_booking_lifecycle import (
    HAPPY_PATH,
    _auth,
    _driveway,
    _onboard,
    _pay,
    _step,
    _wait_for,
)
from tests.integration.test_live_updates import LiveSocket, has_status, status_updates

pytestmark = pytest.mark.integration

CAPTURE = "POST /v1/payment_intents/*/capture"


# ---- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listing(api: str, host: dict[str, str]) -> str:
    _onboard(api, host)
    return _driveway(api, host)


@pytest.fixture(scope="module")
def vehicle_id(api: str, driver: dict[str, str]) -> str:
    """The driver links the local cloud's simulated Tesla (OAuth: the simulator's authorize page
    consents at once and redirects to our callback) and picks the car."""
    connect = requests.get(f"{api}/tesla/connect", headers=_auth(driver), timeout=30)
    assert connect.status_code == 200, connect.text
    callback = requests.get(connect.json()["authorize_url"], timeout=30, allow_redirects=True)
    assert callback.status_code == 200 and callback.json()["linked"], callback.text
    vehicles = requests.get(f"{api}/vehicles", headers=_auth(driver), timeout=30).json()["items"]
    return str(next(v["vehicle_id"] for v in vehicles if v["vin"] == SIM_VIN))


@pytest.fixture
def car(local_cloud: LocalCloud, vehicle_id: str) -> Iterator[TeslaSimulator]:
    """The simulated car, back where it started, with no faults, before and after the test."""
    sim = local_cloud.tesla
    assert sim is not None
    sim.reset()
    yield sim
    sim.reset()


@pytest.fixture
def stripe(local_cloud: LocalCloud) -> Iterator[FakeStripe]:
    fake = local_cloud.stripe
    assert fake is not None
    yield fake
    fake.clear_faults()


# ---- helpers ------------------------------------------------------------------------------------------


def book(local_cloud: LocalCloud, api: str, driver: dict[str, str], listing: str, *, hours_ahead: float = 2,
         vehicle_id: str | None = None) -> dict[str, Any]:
    start = local_cloud.clock.now() + timedelta(hours=hours_ahead)
    body: dict[str, Any] = {"driveway_id": listing, "start": start.isoformat(),
                            "end": (start + timedelta(hours=3)).isoformat()}
    if vehicle_id:
        body["vehicle_id"] = vehicle_id
    response = requests.post(f"{api}/bookings", json=body, headers=_auth(driver), timeout=20)
    assert response.status_code == 201, response.text
    return dict(response.json())


def stored(booking_id: str) -> Booking:
    bind_models(get_settings())
    return BookingRepository(get_settings().region, get_settings().aws_endpoint_url).get(booking_id, consistent=True)


def waiting_for(booking_id: str, step: str) -> None:
    wait_until(lambda: stored(booking_id).waiting_for == step, f"the lifecycle to wait for {step}")


def attempts(local_cloud: LocalCloud, booking_id: str, state: str) -> list[str]:
    """Each run of ``state`` in the booking's execution: the error it failed with, or "ok"."""
    sfn = local_cloud.client("stepfunctions")
    execution_arn = stored(booking_id).execution_arn
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    outcomes: list[str] = []
    current = None
    for event in events:
        if "stateEnteredEventDetails" in event:
            current = event["stateEnteredEventDetails"]["name"]
        if current != state:
            continue
        failed = event.get("lambdaFunctionFailedEventDetails") or event.get("taskFailedEventDetails")
        if failed:
            outcomes.append(str(failed.get("error")))
        elif "lambdaFunctionSucceededEventDetails" in event or "taskSucceededEventDetails" in event:
            outcomes.append("ok")
    return outcomes


def entered(local_cloud: LocalCloud, booking_id: str) -> list[str]:
    sfn = local_cloud.client("stepfunctions")
    events = sfn.get_execution_history(executionArn=stored(booking_id).execution_arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def execution_status(local_cloud: LocalCloud, booking_id: str) -> str:
    sfn = local_cloud.client("stepfunctions")
    return str(sfn.describe_execution(executionArn=stored(booking_id).execution_arn)["status"])


def cancel(api: str, driver: dict[str, str], booking_id: str) -> dict[str, Any]:
    response = requests.post(f"{api}/bookings/{booking_id}/cancel", json={"reason": "test over"},
                             headers=_auth(driver), timeout=20)
    assert response.status_code == 200, response.text
    return dict(response.json())


def to_parked(local_cloud: LocalCloud, api: str, driver: dict[str, str], host: dict[str, str],
              listing: str) -> dict[str, Any]:
    """A paid booking taken to PARKED: check-in (no telemetry), then the host confirms the car."""
    created = book(local_cloud, api, driver, listing)
    booking_id = created["booking"]["booking_id"]
    assert _pay(local_cloud, created).status_code == 200
    _wait_for(api, driver, booking_id, "EN_ROUTE")
    _step(api, driver, booking_id, "check-in", "PARKING")
    _step(api, host, booking_id, "confirm-parked", "PARKED")
    return created


def open_raw_websocket(url: str) -> tuple[socket.socket, bytes]:
    """A WebSocket opened by hand (RFC 6455 handshake), so the test can drop the TCP connection with
    no closing handshake at all — what a phone losing its network does."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {parts.path or '/'}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                  f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(4096)
        assert chunk, f"handshake cut short: {answer!r}"
        answer += chunk
    return sock, answer.split(b"\r\n", 1)[0]


def drop(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0): no close frame, no FIN handshake."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# ---- the car never arrives ------------------------------------------------------------------------------


def test_a_car_that_never_arrives_is_a_no_show_and_half_is_captured(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], host: dict[str, str], listing: str
) -> None:
    created = book(local_cloud, api, driver, listing)
    booking, booking_id = created["booking"], created["booking"]["booking_id"]
    assert booking["capture_method"] == "manual"
    with LiveSocket.for_user(local_cloud, driver) as driver_ws, LiveSocket.for_user(local_cloud, host) as host_ws:
        assert _pay(local_cloud, created).status_code == 200
        _wait_for(api, driver, booking_id, "EN_ROUTE")
        waiting_for(booking_id, "arrival")

        # Nobody checks in and no telemetry comes: past start + the arrival grace, the step times out.
        start = datetime.fromisoformat(booking["start"])
        local_cloud.clock.advance_to(start + timedelta(seconds=get_settings().arrival_grace_s + 1))
        _wait_for(api, driver, booking_id, "NO_SHOW")
        wait_until(lambda: "Ended" in entered(local_cloud, booking_id), "the NoShow settlement")
        for socket_ in (driver_ws, host_ws):
            no_show = socket_.wait_for(has_status(booking_id, "NO_SHOW"), what="NO_SHOW")
            assert no_show["previous"] == "EN_ROUTE", no_show  # the contract: booking.updated (status, previous)
            socket_.wait_for(lambda f: f.get("type") == "payment.updated" and f.get("status") == "no_show")

    total = booking["price"]["total_cents"]
    kept = (total * NO_SHOW_KEEP_PERCENT + 99) // 100
    assert local_cloud.stripe is not None
    intent = local_cloud.stripe.get(created["payment"]["payment_intent_id"])
    # The policy's share is captured from the hold and the rest released (never captured, never refunded).
    assert intent["status"] == "succeeded"
    assert intent["amount_received"] == kept
    assert intent["amount_capturable"] == 0
    assert booking_id not in BookingRepository(get_settings().region, get_settings().aws_endpoint_url) \
        .live_intervals(listing)  # the slot is free again
    wait_until(lambda: execution_status(local_cloud, booking_id) == "SUCCEEDED", "the execution to end")


# ---- Tesla faults -----------------------------------------------------------------------------------------


def test_a_sleeping_car_is_woken_and_navigation_is_sent_once(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], listing: str, vehicle_id: str,
    car: TeslaSimulator, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The car sleeps through three Navigate attempts (408 to the command, then "asleep" to the cheap
    # state polls while the wake is under way), then comes online.
    car.set_vehicle_state(SIM_VIN, "asleep")
    monkeypatch.setattr(car, "config", dataclasses.replace(car.config, wake_after_polls=4, wake_after_s=60))
    created = book(local_cloud, api, driver, listing, vehicle_id=vehicle_id)
    booking_id = created["booking"]["booking_id"]
    assert stored(booking_id).vin == SIM_VIN
    with LiveSocket.for_user(local_cloud, driver) as driver_ws:
        assert _pay(local_cloud, created).status_code == 200
        _wait_for(api, driver, booking_id, "EN_ROUTE")
        driver_ws.wait_for(has_status(booking_id, "EN_ROUTE"))
        assert not [f for f in driver_ws.snapshot() if f["type"] == "navigation.failed"]

    assert attempts(local_cloud, booking_id, "Navigate") == ["VehicleAsleep"] * 3 + ["ok"]
    assert "DriveYourself" not in entered(local_cloud, booking_id)
    counters = car.counter_values()
    assert counters["commands"] == 2  # the command refused with 408, then the one that was delivered
    assert 1 <= counters["wakes"] <= 3
    view = car.vehicle(SIM_VIN)
    assert view.state == "online" and view.phase == "driving" and view.destination is not None
    cancel(api, driver, booking_id)


def test_tesla_down_for_good_tells_the_driver_to_drive_and_the_booking_goes_on(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], host: dict[str, str], listing: str,
    vehicle_id: str, car: TeslaSimulator,
) -> None:
    car.set_down(True)
    created = book(local_cloud, api, driver, listing, vehicle_id=vehicle_id)
    booking_id = created["booking"]["booking_id"]
    with LiveSocket.for_user(local_cloud, driver) as driver_ws, LiveSocket.for_user(local_cloud, host) as host_ws:
        assert _pay(local_cloud, created).status_code == 200
        _wait_for(api, driver, booking_id, "EN_ROUTE")
        failed = driver_ws.wait_for(lambda f: f.get("type") == "navigation.failed", what="navigation.failed")
        driver_ws.wait_for(has_status(booking_id, "EN_ROUTE"))
        host_ws.wait_for(has_status(booking_id, "EN_ROUTE"))
        assert failed["booking_id"] == booking_id and "yourself" in failed["message"]
        types = [f["type"] for f in driver_ws.snapshot() if f.get("booking_id") == booking_id]
        assert types.index("navigation.failed") < len(types) - 1 - types[::-1].index("booking.updated")
        assert not [f for f in host_ws.snapshot() if f["type"] == "navigation.failed"]  # the driver's business

    # Bounded: the first try and three retries (the ASL's TeslaUnavailable Retry), then the Catch.
    assert attempts(local_cloud, booking_id, "Navigate") == ["TeslaUnavailable"] * 4
    wait_until(lambda: entered(local_cloud, booking_id)[-3:] == ["DriveYourself", "EnRoute", "WaitForArrival"],
               "the lifecycle to go on after DriveYourself")
    assert car.vehicle(SIM_VIN).phase == "idle"
    cancel(api, driver, booking_id)


# ---- Stripe faults at capture ------------------------------------------------------------------------------


def test_a_capture_that_fails_once_is_retried_and_succeeds(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], host: dict[str, str], listing: str,
    stripe: FakeStripe,
) -> None:
    # should_retry=False: stripe-python does not retry by itself, so the state machine's Retry must.
    stripe.inject_fault(CAPTURE, count=1, status=500, should_retry=False)
    created = to_parked(local_cloud, api, driver, host, listing)
    booking_id, total = created["booking"]["booking_id"], created["booking"]["price"]["total_cents"]
    intent_id = created["payment"]["payment_intent_id"]
    wait_until(lambda: stripe.get(intent_id)["status"] == "succeeded", "the capture")
    assert stripe.get(intent_id)["amount_received"] == total
    wait_until(lambda: "ok" in attempts(local_cloud, booking_id, "Capture"), "the Capture step")
    assert attempts(local_cloud, booking_id, "Capture") == ["StripeUnavailable", "ok"]
    _step(api, driver, booking_id, "checkout", "COMPLETED")
    view = requests.get(f"{api}/bookings/{booking_id}", headers=_auth(driver), timeout=10).json()
    assert "payment_problem" not in view
    assert "FlagCaptureFailure" not in entered(local_cloud, booking_id)


def test_a_capture_that_keeps_failing_flags_the_booking_and_nothing_is_lost(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], host: dict[str, str], listing: str,
    stripe: FakeStripe,
) -> None:
    stripe.inject_fault(CAPTURE, count=1000, status=503, should_retry=False)
    created = to_parked(local_cloud, api, driver, host, listing)
    booking_id, booking = created["booking"]["booking_id"], created["booking"]
    total, fee = booking["price"]["total_cents"], booking["price"]["platform_fee_cents"]
    intent_id = created["payment"]["payment_intent_id"]

    def flagged() -> dict[str, Any] | None:
        view = requests.get(f"{api}/bookings/{booking_id}", headers=_auth(driver), timeout=10).json()
        problem = view.get("payment_problem")
        return dict(problem) if problem else None

    wait_until(lambda: flagged() is not None, "the booking to be flagged")
    assert flagged() == {"problem": "capture_failed", "at": flagged()["at"], "error": "StripeUnavailable"}  # type: ignore[index]
    assert attempts(local_cloud, booking_id, "Capture") == ["StripeUnavailable"] * 5  # 1 + the Retry's 4
    # The hold is intact, and the lifecycle goes on: the driver leaves, the booking completes.
    assert stripe.get(intent_id)["status"] == "requires_capture"
    assert stripe.get(intent_id)["amount_capturable"] == total
    _step(api, driver, booking_id, "checkout", "COMPLETED")
    wait_until(lambda: execution_status(local_cloud, booking_id) == "SUCCEEDED", "the execution to end")

    # Stripe is back, and the scheduled reconciler's next run (a held payment is looked at again within
    # RECHECK_HELD_MAX_S of its last webhook) captures the completed booking's hold.
    stripe.clear_faults()
    local_cloud.clock.advance(RECHECK_HELD_MAX_S)
    report = run_reconciler(get_settings(), local_cloud.clock.now())
    assert report.actions.get("capture", 0) >= 1, report
    intent = stripe.get(intent_id)
    assert intent["status"] == "succeeded" and intent["amount_received"] == total
    assert stripe.balance(intent["transfer_data"]["destination"]) >= total - fee


# ---- the driver cancels on the way ----------------------------------------------------------------------


def test_a_driver_cancelling_en_route_stops_the_lifecycle_refunds_per_policy_and_both_are_told(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], host: dict[str, str], listing: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The cancel handler runs in this process (the local gateway's Lambda threads): record its stop call.
    stops: list[tuple[str, str]] = []
    stop = StepFunctionsWorkflow.stop

    def recording_stop(self: StepFunctionsWorkflow, execution_arn: str, cause: str) -> None:
        stops.append((execution_arn, cause))
        stop(self, execution_arn, cause)

    monkeypatch.setattr(StepFunctionsWorkflow, "stop", recording_stop)
    created = book(local_cloud, api, driver, listing)
    booking_id, total = created["booking"]["booking_id"], created["booking"]["price"]["total_cents"]
    start = datetime.fromisoformat(created["booking"]["start"])
    with LiveSocket.for_user(local_cloud, driver) as driver_ws, LiveSocket.for_user(local_cloud, host) as host_ws:
        assert _pay(local_cloud, created).status_code == 200
        _wait_for(api, driver, booking_id, "EN_ROUTE")
        waiting_for(booking_id, "arrival")
        policy = cancellation_outcome(total_cents=total, start=start, now=local_cloud.clock.now(),
                                      cancelled_by=CancelledBy.DRIVER)
        body = cancel(api, driver, booking_id)
        for socket_ in (driver_ws, host_ws):
            cancelled = socket_.wait_for(has_status(booking_id, "CANCELLED"), what="CANCELLED")
            assert cancelled["previous"] == "EN_ROUTE"

    assert body["status"] == "CANCELLED"
    assert body["refund"]["amount_cents"] == policy.refund_cents and body["refund"]["status"] == "succeeded"
    assert policy.rule == "less_than_24h_notice"  # on the way: within 24 h of the start
    assert stops == [(stored(booking_id).execution_arn, "cancelled by driver")]
    # The execution is aborted at once, as in AWS (local/clock.py wakes the task waiting for its token),
    # and even past the arrival deadline nothing more runs: no NoShow, no second settlement.
    wait_until(lambda: execution_status(local_cloud, booking_id) == "ABORTED", "the execution to be aborted")
    local_cloud.clock.advance_to(start + timedelta(seconds=get_settings().arrival_grace_s + 1))
    assert execution_status(local_cloud, booking_id) == "ABORTED"
    assert not {"NoShow", "Compensate"} & set(entered(local_cloud, booking_id))
    assert stored(booking_id).status == "CANCELLED"
    assert local_cloud.stripe is not None
    intent = local_cloud.stripe.get(created["payment"]["payment_intent_id"])
    assert intent["amount_received"] == total - policy.refund_cents  # the kept half captured, the rest released


# ---- a host's socket dies ---------------------------------------------------------------------------------


def test_a_host_socket_closed_abruptly_is_pruned_and_the_driver_still_gets_every_event(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], host: dict[str, str], listing: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert local_cloud.gateway is not None
    bind_models(get_settings())
    connections = ConnectionRepository()
    before = set(connections.for_user(host["user_id"]))
    raw, status_line = open_raw_websocket(f"{local_cloud.urls['websocket']}/?token={host['access_token']}")
    assert status_line.startswith(b"HTTP/1.1 101"), status_line
    wait_until(lambda: set(connections.for_user(host["user_id"])) - before, "the host's connection record")
    [dead] = set(connections.for_user(host["user_id"])) - before
    # API Gateway's $disconnect is best effort: for a connection that vanished it may never come. The
    # local gateway always sends it, so it is held back here to leave the record behind.
    monkeypatch.delitem(local_cloud.gateway.websocket_routes, "$disconnect")
    # A 410 within CONNECTING_GRACE of $connect means "still connecting" (kept); this socket is long gone.
    monkeypatch.setattr(notifier, "CONNECTING_GRACE", timedelta(0))
    drop(raw)
    management = f"{local_cloud.gateway.management_url}/@connections/{dead}"
    wait_until(lambda: requests.get(management, timeout=5).status_code == 410, "the gateway to see the drop")
    assert Connection.get(dead, consistent_read=True).user_id == host["user_id"]  # still recorded

    with LiveSocket.for_user(local_cloud, driver) as driver_ws:
        created = book(local_cloud, api, driver, listing)
        booking_id = created["booking"]["booking_id"]
        assert _pay(local_cloud, created).status_code == 200
        _wait_for(api, driver, booking_id, "EN_ROUTE")
        # The first event sent to the host met 410 Gone: the record is deleted.
        wait_until(lambda: dead not in connections.for_user(host["user_id"]), "the dead connection to be pruned")
        _step(api, driver, booking_id, "check-in", "PARKING")
        _step(api, host, booking_id, "confirm-parked", "PARKED")
        _step(api, driver, booking_id, "checkout", "COMPLETED")
        driver_ws.wait_for(has_status(booking_id, "COMPLETED"))
        assert status_updates(driver_ws, booking_id) == list(pairwise(HAPPY_PATH))
    with pytest.raises(Connection.DoesNotExist):
        Connection.get(dead, consistent_read=True)
