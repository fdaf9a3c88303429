"""A booking's whole life through the running local cloud, over HTTP: the real state machine
(statemachines/booking_lifecycle.asl.json) executing in moto, the fake Stripe confirming payment the way
Stripe's client does and calling our signed webhooks, and the instant clock collapsing the waits.

Given a host onboarded to payouts with a driveway, and a driver
When the driver books, pays, checks in, the host confirms parking and the driver checks out
Then the booking goes PENDING_PAYMENT → CONFIRMED → EN_ROUTE → ARRIVED → PARKING → PARKED → COMPLETED
and the money adds up: driver charged the total, host paid total minus the fee, platform keeps the fee.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from local.cloud import LocalCloud
from tests.integration.conftest import wait_until

pytestmark = pytest.mark.integration

COVERS = ("create_booking", "get_booking", "booking_status", "list_bookings", "cancel_booking", "check_in",
          "checkout", "confirm_parked", "update_booking", "approve_booking", "reject_booking",
          "wf_park_token", "wf_set_status", "wf_settle", "wf_navigate", "wf_notify", "wf_request_parking",
          "wf_capture", "wf_flag", "wf_overstay")

HAPPY_PATH = ["PENDING_PAYMENT", "CONFIRMED", "EN_ROUTE", "ARRIVED", "PARKING", "PARKED", "COMPLETED"]


def _auth(user: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['access_token']}"}


def _onboard(api: str, host: dict[str, str]) -> None:
    """The host creates a Connect account and completes the fake Stripe's onboarding page."""
    link = requests.post(f"{api}/payouts/onboarding", headers=_auth(host), timeout=10)
    assert link.status_code in (200, 201), link.text
    page = requests.get(link.json()["url"], timeout=10, allow_redirects=False)
    assert page.status_code in (200, 302, 303), page.text
    for _ in range(100):  # account.updated reaches our Connect webhook asynchronously
        payouts = requests.get(f"{api}/payouts", headers=_auth(host), timeout=10).json()
        if payouts.get("charges_enabled"):
            return
        time.sleep(0.05)
    raise AssertionError(f"host never became payable: {payouts}")


def _driveway(api: str, host: dict[str, str], *, instant_book: bool = True) -> str:
    body: dict[str, Any] = {
        "title": "Wide driveway near the Capitol", "description": "Fits an SUV.",
        "address": {"line1": "1100 Congress Ave", "city": "Austin", "region": "TX", "postal_code": "78701",
                    "country": "US"},
        "location": {"lat": 30.2747, "lng": -97.7404}, "timezone": "America/Chicago", "vehicle_size": "large",
        "amenities": ["ev_charger"], "pricing": {"currency": "usd", "hourly_cents": 500, "daily_cents": 3000},
        "instant_book": instant_book,
        "availability": {"weekly": [{"day": d, "start": "00:00", "end": "24:00"} for d in range(7)]},
    }
    created = requests.post(f"{api}/driveways", json=body, headers=_auth(host), timeout=10)
    assert created.status_code == 201, created.text
    return str(created.json()["driveway_id"])


@pytest.fixture(scope="module")
def listing(api: str, host: dict[str, str]) -> str:
    _onboard(api, host)
    return _driveway(api, host)


def _book(local_cloud: LocalCloud, api: str, driver: dict[str, str], driveway_id: str, *, hours_ahead: float,
          hours: float = 3) -> dict[str, Any]:
    start = local_cloud.clock.now() + timedelta(hours=hours_ahead)
    body: dict[str, Any] = {"driveway_id": driveway_id, "start": start.isoformat(),
                            "end": (start + timedelta(hours=hours)).isoformat()}
    response = requests.post(f"{api}/bookings", json=body, headers=_auth(driver), timeout=20)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _pay(local_cloud: LocalCloud, created: dict[str, Any], card: str = "pm_card_visa") -> requests.Response:
    """What Stripe.js does in the driver's app: confirm with the client secret and the publishable key."""
    payment = created["payment"]
    return requests.post(
        f"{local_cloud.urls['stripe']}/v1/payment_intents/{payment['payment_intent_id']}/confirm",
        data={"payment_method": card, "client_secret": payment["client_secret"]},
        headers={"Authorization": f"Bearer {payment['publishable_key']}"}, timeout=10,
    )


def _wait_for(api: str, user: dict[str, str], booking_id: str, status: str, timeout_s: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = requests.get(f"{api}/bookings/{booking_id}/status", headers=_auth(user), timeout=10).json()
        if body.get("status") == status:
            return body
        time.sleep(0.05)
    raise AssertionError(f"booking {booking_id} never reached {status}: {body}")


def _step(api: str, user: dict[str, str], booking_id: str, action: str, until: str) -> None:
    """Complete a step once the lifecycle is waiting for it (the token is parked asynchronously)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        response = requests.post(f"{api}/bookings/{booking_id}/{action}", headers=_auth(user), timeout=10)
        if response.status_code == 202:
            _wait_for(api, user, booking_id, until)
            return
        assert response.status_code == 409, response.text
        time.sleep(0.05)
    raise AssertionError(f"{action} was never accepted for {booking_id}")


def test_a_booking_lives_its_whole_life_and_the_money_adds_up(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], host: dict[str, str], listing: str
) -> None:
    created = _book(local_cloud, api, driver, listing, hours_ahead=2)
    booking = created["booking"]
    assert booking["status"] == "PENDING_PAYMENT"
    assert booking["capture_method"] == "manual"  # starts within 5 days: an authorization hold

    assert _pay(local_cloud, created).status_code == 200
    _wait_for(api, driver, booking["booking_id"], "CONFIRMED")  # by webhook alone, never the client's say-so
    # No linked Tesla: navigation fails over to "drive there yourself" and the booking goes on.
    _wait_for(api, driver, booking["booking_id"], "EN_ROUTE")
    _step(api, driver, booking["booking_id"], "check-in", "PARKING")
    _step(api, host, booking["booking_id"], "confirm-parked", "PARKED")
    _step(api, driver, booking["booking_id"], "checkout", "COMPLETED")

    status = requests.get(f"{api}/bookings/{booking['booking_id']}/status", headers=_auth(driver), timeout=10).json()
    assert [h["status"] for h in status["history"]] == HAPPY_PATH
    assert all(h["at"] and h["by"] for h in status["history"])

    # The execution history shows the real states of the ASL.
    sfn = local_cloud.client("stepfunctions")
    execution_arn = next(e["executionArn"] for e in sfn.list_executions(
        stateMachineArn=local_cloud.resources.state_machine_arns["booking_lifecycle"])["executions"]  # type: ignore[union-attr]
        if e["name"] == booking["booking_id"])
    entered = [e["stateEnteredEventDetails"]["name"] for e in sfn.get_execution_history(
        executionArn=execution_arn, maxResults=1000)["events"] if "stateEnteredEventDetails" in e]
    for state in ("WaitForPayment", "Confirm", "Navigate", "DriveYourself", "EnRoute", "WaitForArrival",
                  "Arrived", "RequestParking", "Parking", "WaitForParked", "Parked", "Capture", "WaitForDeparture",
                  "Complete"):
        assert state in entered, (state, entered)
    assert sfn.describe_execution(executionArn=execution_arn)["status"] == "SUCCEEDED"

    total, fee = booking["price"]["total_cents"], booking["price"]["platform_fee_cents"]
    stripe = local_cloud.stripe
    assert stripe is not None
    intent = stripe.get(booking["payment_intent_id"])
    assert intent["status"] == "succeeded" and intent["amount_received"] == total
    host_account = intent["transfer_data"]["destination"]
    assert stripe.balance(host_account) == total - fee
    assert stripe.balance() >= fee


def test_payment_that_never_arrives_expires_and_releases_the_slot(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], listing: str
) -> None:
    created = _book(local_cloud, api, driver, listing, hours_ahead=30)
    booking_id = created["booking"]["booking_id"]
    _wait_until_waiting(local_cloud, booking_id)
    local_cloud.clock.advance(16 * 60)  # past the 15-minute payment window
    _wait_for(api, driver, booking_id, "EXPIRED")
    stripe = local_cloud.stripe
    assert stripe is not None
    # EXPIRED is visible before the lifecycle's settlement task has cancelled the PaymentIntent.
    wait_until(lambda: stripe.get(created["payment"]["payment_intent_id"])["status"] == "canceled",
               "the expired booking's PaymentIntent to be cancelled")
    assert stripe.get(created["payment"]["payment_intent_id"])["cancellation_reason"] == "abandoned"
    again = _book(local_cloud, api, driver, listing, hours_ahead=30)  # the slot is free again
    assert again["booking"]["status"] == "PENDING_PAYMENT"
    requests.post(f"{api}/bookings/{again['booking']['booking_id']}/cancel", headers=_auth(driver), timeout=10)


def test_a_payment_that_completes_as_the_window_closes_is_refunded_in_full(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], listing: str
) -> None:
    stripe = local_cloud.stripe
    assert stripe is not None
    created = _book(local_cloud, api, driver, listing, hours_ahead=24 * 10)  # charged at once
    booking_id, total = created["booking"]["booking_id"], created["booking"]["price"]["total_cents"]
    _wait_until_waiting(local_cloud, booking_id)
    stripe.set_chaos(delay_s=3600)  # the charge succeeds at Stripe, but its webhook comes too late
    try:
        assert _pay(local_cloud, created).status_code == 200
        local_cloud.clock.advance(16 * 60)
        _wait_for(api, driver, booking_id, "EXPIRED")
        intent = stripe.get(created["payment"]["payment_intent_id"])
        assert intent["status"] == "succeeded"
        wait_until(lambda: stripe.get(intent["latest_charge"])["amount_refunded"] == total,
                   "the expired booking's charge to be refunded")
    finally:
        stripe.set_chaos(delay_s=0)


def test_overlapping_booking_is_refused_with_409(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], listing: str
) -> None:
    first = _book(local_cloud, api, driver, listing, hours_ahead=100)
    start = local_cloud.clock.now() + timedelta(hours=101)
    response = requests.post(f"{api}/bookings", headers=_auth(driver), timeout=10, json={
        "driveway_id": listing, "start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "slot_unavailable"
    requests.post(f"{api}/bookings/{first['booking']['booking_id']}/cancel", headers=_auth(driver), timeout=10)


def _wait_until_waiting(local_cloud: LocalCloud, booking_id: str) -> None:
    """Until the lifecycle has parked its payment token (so a timeout can fire)."""
    from driveway_hub.config import get_settings
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.bookings import Booking

    bind_models(get_settings())
    for _ in range(200):
        if Booking.get(booking_id, consistent_read=True).waiting_for == "payment":
            return
        time.sleep(0.05)
    raise AssertionError("payment step never started")


def test_a_car_still_parked_after_end_and_grace_is_charged_the_overstay_off_session(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], host: dict[str, str], listing: str
) -> None:
    created = _book(local_cloud, api, driver, listing, hours_ahead=1, hours=1)
    booking = created["booking"]
    assert _pay(local_cloud, created).status_code == 200
    _wait_for(api, driver, booking["booking_id"], "EN_ROUTE")
    _step(api, driver, booking["booking_id"], "check-in", "PARKING")
    _step(api, host, booking["booking_id"], "confirm-parked", "PARKED")
    # The driver never checks out: once the lifecycle waits for departure, time passes the booking's end.
    _wait_until_step(booking["booking_id"], "departure")
    end = datetime.fromisoformat(booking["end"])
    local_cloud.clock.advance_to(end + timedelta(seconds=1))
    _wait_for(api, driver, booking["booking_id"], "COMPLETED")
    stripe = local_cloud.stripe
    assert stripe is not None
    created_intents = [e["data"]["object"] for e in stripe.events("payment_intent.created")]
    overstay = [stripe.get(pi["id"]) for pi in created_intents
                if pi["metadata"] == {"booking_id": booking["booking_id"], "kind": "overstay"}]
    assert len(overstay) == 1, [pi["metadata"] for pi in created_intents]
    hourly, fee_bps = 500, 1500
    assert overstay[0]["amount"] == hourly + (hourly * fee_bps + 5000) // 10000  # one started hour + fee
    assert overstay[0]["status"] == "succeeded"


def _wait_until_step(booking_id: str, step: str) -> None:
    from driveway_hub.config import get_settings
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.bookings import Booking

    bind_models(get_settings())
    for _ in range(400):
        if Booking.get(booking_id, consistent_read=True).waiting_for == step:
            return
        time.sleep(0.05)
    raise AssertionError(f"{step} step never started")
