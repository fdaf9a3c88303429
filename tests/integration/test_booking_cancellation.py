"""Cancellation money flows through the running local cloud. The clock runs at real speed here: the
lifecycle's own Wait until navigation time must not move "now" past the cancellation deadline, which
the instant clock (used elsewhere to collapse waits) would do as soon as the booking is confirmed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from driveway_hub.config import get_settings
from driveway_hub.payments.runtime import run_reconciler
from local.clock import VirtualClock
from local.cloud import LocalCloud, Ports
from tests.integration.conftest import wait_until
from tests.integration.test_booking_lifecycle import _auth, _book, _driveway, _onboard, _pay, _wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_cloud() -> Iterator[LocalCloud]:
    with LocalCloud(clock=VirtualClock.real(), ports=Ports.ephemeral()) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def listing(api: str, host: dict[str, str]) -> str:
    _onboard(api, host)
    return _driveway(api, host)


def test_driver_cancelling_48h_ahead_gets_a_full_refund_with_the_transfer_reversed(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], listing: str
) -> None:
    created = _book(local_cloud, api, driver, listing, hours_ahead=24 * 8)  # > 5 days: charged now
    booking_id = created["booking"]["booking_id"]
    assert created["booking"]["capture_method"] == "automatic"
    assert _pay(local_cloud, created).status_code == 200
    _wait_for(api, driver, booking_id, "CONFIRMED")
    cancelled = requests.post(f"{api}/bookings/{booking_id}/cancel", json={"reason": "plans changed"},
                              headers=_auth(driver), timeout=10)
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "CANCELLED"
    assert body["refund"]["amount_cents"] == created["booking"]["price"]["total_cents"]
    assert body["refund"]["status"] == "succeeded"
    again = requests.post(f"{api}/bookings/{booking_id}/cancel", headers=_auth(driver), timeout=10)
    assert again.status_code == 200 and again.json()["refund"] == body["refund"]  # no second refund
    stripe = local_cloud.stripe
    assert stripe is not None
    intent = stripe.get(created["payment"]["payment_intent_id"])
    charge = stripe.get(intent["latest_charge"])
    assert charge["amount_refunded"] == created["booking"]["price"]["total_cents"]




@pytest.mark.parametrize("hours_ahead", [24 * 8, 12], ids=["charged", "held"])
def test_cancelling_after_paying_but_before_the_webhook_gives_everything_back(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], listing: str, hours_ahead: int
) -> None:
    """The booking is still PENDING_PAYMENT (Stripe's webhook is late) but the card was charged or held:
    the booking was never confirmed, so the driver owes nothing, whatever the notice."""
    stripe = local_cloud.stripe
    assert stripe is not None
    created = _book(local_cloud, api, driver, listing, hours_ahead=hours_ahead)
    booking_id, total = created["booking"]["booking_id"], created["booking"]["price"]["total_cents"]
    stripe.set_chaos(delay_s=30)  # the webhook arrives after the driver has cancelled
    try:
        assert _pay(local_cloud, created).status_code == 200
        cancelled = requests.post(f"{api}/bookings/{booking_id}/cancel", headers=_auth(driver), timeout=10)
    finally:
        stripe.set_chaos(delay_s=0)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELLED"
    intent = stripe.get(created["payment"]["payment_intent_id"])
    if intent["status"] == "succeeded":  # charged: all of it refunded
        assert stripe.get(intent["latest_charge"])["amount_refunded"] == total, intent
    else:  # held: the authorization released, nothing captured
        assert (intent["status"], intent["amount_received"]) == ("canceled", 0), intent
    assert cancelled.json()["refund"]["amount_cents"] == total


@pytest.mark.parametrize("finisher", ["the app's retry", "the reconciler"])
def test_a_cancellation_stripe_could_not_settle_is_finished_later(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], listing: str, finisher: str
) -> None:
    stripe = local_cloud.stripe
    assert stripe is not None
    created = _book(local_cloud, api, driver, listing, hours_ahead=24 * 9)  # charged now
    booking_id, total = created["booking"]["booking_id"], created["booking"]["price"]["total_cents"]
    assert _pay(local_cloud, created).status_code == 200
    _wait_for(api, driver, booking_id, "CONFIRMED")
    stripe.inject_fault("POST /v1/refunds*", count=10)  # more than the adapter's retries
    try:
        first = requests.post(f"{api}/bookings/{booking_id}/cancel", headers=_auth(driver), timeout=30)
    finally:
        stripe.clear_faults()
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "CANCELLED"
    assert (first.json()["refund"]["amount_cents"], first.json()["refund"]["status"]) == (total, "pending")
    charge = stripe.get(stripe.get(created["payment"]["payment_intent_id"])["latest_charge"])
    assert charge["amount_refunded"] == 0
    # Either finishes it with the same keys: the cancel told the reconciler to look before moving money.
    if finisher == "the reconciler":
        assert run_reconciler(get_settings(), local_cloud.clock.now()).actions.get("settle") == 1
    again = requests.post(f"{api}/bookings/{booking_id}/cancel", headers=_auth(driver), timeout=30)
    assert again.status_code == 200, again.text
    assert (again.json()["refund"]["amount_cents"], again.json()["refund"]["status"]) == (total, "succeeded")
    assert stripe.get(charge["id"])["amount_refunded"] == total
    third = requests.post(f"{api}/bookings/{booking_id}/cancel", headers=_auth(driver), timeout=30)
    assert third.json()["refund"] == again.json()["refund"]
    assert stripe.get(charge["id"])["amount_refunded"] == total  # no second refund


def test_driver_cancelling_within_24h_gets_half_back_from_the_hold(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], listing: str
) -> None:
    created = _book(local_cloud, api, driver, listing, hours_ahead=12)  # < 5 days: an authorization hold
    booking_id = created["booking"]["booking_id"]
    total = created["booking"]["price"]["total_cents"]
    assert _pay(local_cloud, created).status_code == 200
    _wait_for(api, driver, booking_id, "CONFIRMED")
    body = requests.post(f"{api}/bookings/{booking_id}/cancel", headers=_auth(driver), timeout=10).json()
    assert body["refund"]["amount_cents"] == (total * 50 + 50) // 100
    assert local_cloud.stripe is not None
    intent = local_cloud.stripe.get(created["payment"]["payment_intent_id"])
    # Not captured yet: the policy's share is captured and the rest of the hold released, not refunded.
    assert intent["status"] == "succeeded"
    assert intent["amount_received"] == total - body["refund"]["amount_cents"]


def test_deleting_the_driver_account_cancels_their_future_bookings_with_the_policy_refund(
    local_cloud: LocalCloud, api: str, host: dict[str, str], listing: str
) -> None:
    from tests.integration.conftest import register_and_login

    leaving = register_and_login(api, "driver")
    created = _book(local_cloud, api, leaving, listing, hours_ahead=24 * 3)
    booking_id = created["booking"]["booking_id"]
    assert _pay(local_cloud, created).status_code == 200
    _wait_for(api, leaving, booking_id, "CONFIRMED")
    exported = requests.get(f"{api}/me/export", headers=_auth(leaving), timeout=10).json()
    assert [b["booking_id"] for b in exported["data"]["bookings"]["driver"]] == [booking_id]

    assert requests.delete(f"{api}/me", headers=_auth(leaving), timeout=20).status_code == 202

    seen_by_host = requests.get(f"{api}/bookings/{booking_id}", headers=_auth(host), timeout=10).json()
    assert seen_by_host["status"] == "CANCELLED"
    assert seen_by_host["refund"]["amount_cents"] == created["booking"]["price"]["total_cents"]


def test_fifty_drivers_racing_for_one_slot_over_http_exactly_one_wins(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], listing: str
) -> None:
    import threading
    from datetime import timedelta

    start = local_cloud.clock.now() + timedelta(days=20)
    barrier = threading.Barrier(50)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        begin = start + timedelta(minutes=i % 30)  # every window overlaps every other
        body = {"driveway_id": listing, "start": begin.isoformat(), "end": (begin + timedelta(hours=2)).isoformat()}
        barrier.wait(timeout=30)
        response = requests.post(f"{api}/bookings", json=body, headers=_auth(driver), timeout=60)
        code = response.json().get("error", {}).get("code", "") if response.status_code != 201 else ""
        with lock:
            answers.append((response.status_code, code))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers).count((201, "")) == 1, answers
    assert sorted(answers).count((409, "slot_unavailable")) == 49, answers
    winner = requests.get(f"{api}/bookings", params={"role": "driver", "status": "PENDING_PAYMENT"},
                          headers=_auth(driver), timeout=10).json()["items"]
    for booking in winner:
        requests.post(f"{api}/bookings/{booking['booking_id']}/cancel", headers=_auth(driver), timeout=10)


def test_a_declined_card_fails_the_booking_releases_the_slot_and_the_driver_can_book_again(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], listing: str
) -> None:
    created = _book(local_cloud, api, driver, listing, hours_ahead=24 * 30)
    booking_id = created["booking"]["booking_id"]
    declined = _pay(local_cloud, created, card="pm_card_chargeDeclined")
    assert declined.status_code == 402
    assert declined.json()["error"]["code"] == "card_declined"
    _wait_for(api, driver, booking_id, "PAYMENT_FAILED")
    assert local_cloud.stripe is not None
    stripe = local_cloud.stripe
    # The status changes first (it releases the slot); the PaymentIntent is cancelled right after.
    wait_until(lambda: stripe.get(created["payment"]["payment_intent_id"])["status"] == "canceled",
               "the failed payment's PaymentIntent to be cancelled")
    again = _book(local_cloud, api, driver, listing, hours_ahead=24 * 30)  # the same slot, free again
    assert _pay(local_cloud, again).status_code == 200
    _wait_for(api, driver, again["booking"]["booking_id"], "CONFIRMED")
    requests.post(f"{api}/bookings/{again['booking']['booking_id']}/cancel", headers=_auth(driver), timeout=10)


def test_a_non_instant_driveway_waits_for_the_host_who_approves_or_rejects(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], host: dict[str, str], listing: str
) -> None:
    # ``listing`` onboarded the host to payouts; this test lists a second, non-instant driveway.
    from tests.integration.test_booking_lifecycle import _step

    driveway_id = _driveway(api, host, instant_book=False)
    approved = _book(local_cloud, api, driver, driveway_id, hours_ahead=24 * 10)
    assert _pay(local_cloud, approved).status_code == 200
    _wait_for(api, driver, approved["booking"]["booking_id"], "AWAITING_APPROVAL")
    # Only the host of the booking may decide.
    refused = requests.post(f"{api}/bookings/{approved['booking']['booking_id']}/approve", headers=_auth(driver),
                            timeout=10)
    assert refused.status_code == 403
    _step(api, host, approved["booking"]["booking_id"], "approve", "CONFIRMED")

    rejected = _book(local_cloud, api, driver, driveway_id, hours_ahead=24 * 12)
    assert _pay(local_cloud, rejected).status_code == 200
    _wait_for(api, driver, rejected["booking"]["booking_id"], "AWAITING_APPROVAL")
    _step(api, host, rejected["booking"]["booking_id"], "reject", "REJECTED")
    assert local_cloud.stripe is not None
    intent = local_cloud.stripe.get(rejected["payment"]["payment_intent_id"])
    # REJECTED is visible before the lifecycle's Settle task has run.
    stripe = local_cloud.stripe
    wait_until(lambda: stripe.get(intent["latest_charge"])["amount_refunded"] > 0, "the rejection's refund")
    charge = local_cloud.stripe.get(intent["latest_charge"])
    assert charge["amount_refunded"] == rejected["booking"]["price"]["total_cents"]  # all of it back
    requests.post(f"{api}/bookings/{approved['booking']['booking_id']}/cancel", headers=_auth(host), timeout=10)


def test_extending_a_booking_reprices_it_charges_the_difference_and_refuses_a_conflict(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], listing: str
) -> None:
    from datetime import datetime, timedelta

    first = _book(local_cloud, api, driver, listing, hours_ahead=24 * 40, hours=2)
    booking_id = first["booking"]["booking_id"]
    assert _pay(local_cloud, first).status_code == 200
    _wait_for(api, driver, booking_id, "CONFIRMED")
    end = datetime.fromisoformat(first["booking"]["end"])
    blocker = requests.post(f"{api}/bookings", headers=_auth(driver), timeout=20, json={
        "driveway_id": listing, "start": (end + timedelta(hours=2)).isoformat(),
        "end": (end + timedelta(hours=3)).isoformat()})
    assert blocker.status_code == 201, blocker.text

    extended = requests.patch(f"{api}/bookings/{booking_id}", json={"end": (end + timedelta(hours=1)).isoformat()},
                              headers=_auth(driver), timeout=20)
    assert extended.status_code == 200, extended.text
    body = extended.json()
    assert body["booking"]["end"] == (end + timedelta(hours=1)).isoformat()
    assert body["booking"]["price"]["total_cents"] > first["booking"]["price"]["total_cents"]
    difference = body["booking"]["price"]["total_cents"] - first["booking"]["price"]["total_cents"]
    assert body["payment"]["amount_cents"] == difference and body["payment"]["client_secret"]

    conflict = requests.patch(f"{api}/bookings/{booking_id}", json={"end": (end + timedelta(hours=3)).isoformat()},
                              headers=_auth(driver), timeout=20)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "slot_unavailable"
    for b in (booking_id, blocker.json()["booking"]["booking_id"]):
        requests.post(f"{api}/bookings/{b}/cancel", headers=_auth(driver), timeout=10)


def test_cancelling_an_extended_booking_settles_the_extensions_payment_too(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], listing: str
) -> None:
    """Within 24 h half comes back: each PaymentIntent (the booking's hold and the extension's hold) gives
    back its share, and no hold is left on the driver's card."""
    from datetime import datetime, timedelta

    created = _book(local_cloud, api, driver, listing, hours_ahead=10, hours=2)
    booking_id = created["booking"]["booking_id"]
    assert created["booking"]["capture_method"] == "manual"
    assert _pay(local_cloud, created).status_code == 200
    _wait_for(api, driver, booking_id, "CONFIRMED")
    end = datetime.fromisoformat(created["booking"]["end"])
    extended = requests.patch(f"{api}/bookings/{booking_id}", json={"end": (end + timedelta(hours=2)).isoformat()},
                              headers=_auth(driver), timeout=20)
    assert extended.status_code == 200, extended.text
    extension = {"payment": {**extended.json()["payment"],
                             "publishable_key": created["payment"]["publishable_key"]}}
    assert _pay(local_cloud, extension).status_code == 200
    total = extended.json()["booking"]["price"]["total_cents"]

    cancelled = requests.post(f"{api}/bookings/{booking_id}/cancel", headers=_auth(driver), timeout=10)
    assert cancelled.status_code == 200, cancelled.text
    refund = cancelled.json()["refund"]
    assert refund["status"] == "succeeded" and "parts" not in refund
    assert 0 < refund["amount_cents"] < total
    stripe = local_cloud.stripe
    assert stripe is not None
    intents = [stripe.get(paid["payment"]["payment_intent_id"]) for paid in (created, extension)]
    assert [i["status"] for i in intents] == ["succeeded", "succeeded"]  # both holds settled, none left open
    returned = sum(i["amount"] - i["amount_received"] for i in intents)
    assert returned == refund["amount_cents"]
    assert all(0 < i["amount_received"] < i["amount"] for i in intents)  # each kept its share
