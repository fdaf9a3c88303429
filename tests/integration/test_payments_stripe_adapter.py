"""StripePayments against the stateful fake Stripe (real stripe library, real HTTP): the settlement
matrix, idempotency by key and by state, holds, off-session charges, Connect — with the money checked
in the fake's ledger."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
import stripe

from driveway_hub.errors import PaymentDeclined
from driveway_hub.payments import stripe_adapter
from driveway_hub.payments.errors import HostNotPayable, PaymentStateError, StripeUnavailable
from driveway_hub.payments.ports import PaymentIntentInfo
from driveway_hub.payments.stripe_adapter import StripePayments
from local.fake_stripe import FakeStripe, run_in_thread

pytestmark = pytest.mark.integration

TOTAL, FEE = 2300, 300


@dataclass
class Stripe:
    fake: FakeStripe
    base: str
    payments: StripePayments
    host_account: str

    def confirm(self, pi: PaymentIntentInfo, card: str = "pm_card_visa") -> requests.Response:
        """What the driver's app (Stripe.js, publishable key) does with the client secret."""
        return requests.post(f"{self.base}/v1/payment_intents/{pi.id}/confirm",
                             data={"payment_method": card, "client_secret": pi.client_secret},
                             headers={"Authorization": "Bearer pk_test_local"}, timeout=10)

    def booking(self, booking_id: str, *, manual: bool = True, confirm: str | None = "pm_card_visa",
                amount: int = TOTAL) -> PaymentIntentInfo:
        pi = self.payments.create_booking_payment(
            booking_id=booking_id, amount_cents=amount, currency="usd", platform_fee_cents=FEE,
            host_account_id=self.host_account, capture_manual=manual, metadata={"driver_id": "driver-1"})
        if confirm:
            self.confirm(pi, confirm)
        return self.payments.retrieve(pi.id)


@pytest.fixture(scope="module")
def stripe_env() -> Iterator[Stripe]:
    fake = FakeStripe(api_key="sk_test_local", publishable_key="pk_test_local")
    base, stop = run_in_thread(fake)
    payments = StripePayments("sk_test_local", "pk_test_local", base)
    account = payments.create_host_account(user_id="host-1", email="host@example.com")
    fake.complete_onboarding(account)
    yield Stripe(fake, base, payments, account)
    stop()
    stripe_adapter._clients.clear()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stripe.HTTPClient, "_sleep_time_seconds", lambda self, n: 0.0)


def _uid() -> str:
    return f"bk-{time.monotonic_ns()}"


def refunds_of(env: Stripe, pi_id: str) -> list[dict[str, object]]:
    return [e for e in env.fake.events("refund.created") if e["data"]["object"]["payment_intent"] == pi_id]


# ---- holds and charges -----------------------------------------------------------------------------
def test_a_confirmed_manual_booking_is_an_authorized_hold_with_its_deadline(stripe_env: Stripe) -> None:
    pi = stripe_env.booking(_uid())
    assert pi.status == "requires_capture" and pi.amount_capturable == TOTAL
    assert pi.capture_before is not None and pi.capture_before > time.time() + 6 * 86400
    assert pi.customer and pi.payment_method  # saved for off-session charges


def test_creating_twice_with_one_booking_id_makes_one_payment_intent(stripe_env: Stripe) -> None:
    booking_id = _uid()
    first = stripe_env.booking(booking_id, confirm=None)
    again = stripe_env.booking(booking_id, confirm=None)
    assert first.id == again.id


def test_a_declined_card_is_payment_declined_at_confirmation(stripe_env: Stripe) -> None:
    pi = stripe_env.booking(_uid(), confirm="pm_card_chargeDeclined")
    assert pi.status == "requires_payment_method" and pi.failed_attempt
    assert pi.last_error_code == "generic_decline"


def test_an_off_session_overstay_charge_uses_the_saved_card(stripe_env: Stripe) -> None:
    booking_id = _uid()
    pi = stripe_env.booking(booking_id)
    overstay = stripe_env.payments.charge_off_session(
        booking_id=booking_id, purpose="overstay", amount_cents=900, currency="usd", platform_fee_cents=135,
        host_account_id=stripe_env.host_account, customer_id=pi.customer, payment_method_id=pi.payment_method)
    assert overstay.status == "succeeded" and overstay.amount_received == 900
    assert overstay.metadata["kind"] == "overstay"


def test_an_off_session_charge_the_bank_wants_authenticated_is_declined(stripe_env: Stripe) -> None:
    booking_id = _uid()
    pi = stripe_env.booking(booking_id, confirm="pm_card_authenticationRequired")
    assert pi.status == "requires_action"
    stripe_env.fake.authenticate_payment(pi.id)  # the driver passes 3DS in the app
    pi = stripe_env.payments.retrieve(pi.id)
    assert pi.status == "requires_capture"
    with pytest.raises(PaymentDeclined) as caught:
        stripe_env.payments.charge_off_session(
            booking_id=booking_id, purpose="no_show", amount_cents=900, currency="usd", platform_fee_cents=0,
            host_account_id=stripe_env.host_account, customer_id=pi.customer, payment_method_id=pi.payment_method)
    assert caught.value.details[0]["code"] == "authentication_required"


def test_capture_is_idempotent_and_cancel_after_capture_is_refused(stripe_env: Stripe) -> None:
    pi = stripe_env.booking(_uid())
    captured = stripe_env.payments.capture(pi.id, idempotency_key=f"{pi.id}:capture")
    again = stripe_env.payments.capture(pi.id, idempotency_key=f"{pi.id}:capture-other-key")
    assert captured.status == again.status == "succeeded" and again.amount_received == TOTAL
    assert len([e for e in stripe_env.fake.events("charge.captured")
                if e["data"]["object"]["payment_intent"] == pi.id]) == 1
    with pytest.raises(PaymentStateError) as caught:
        stripe_env.payments.cancel(pi.id, reason="abandoned")
    assert caught.value.code == "payment_already_captured"


def test_an_expired_hold_cannot_be_captured(stripe_env: Stripe) -> None:
    expired = [0]  # 1: eight days later
    fake = FakeStripe(now=lambda: time.time() + 8 * 86400 * expired[0])
    base, stop = run_in_thread(fake)
    try:
        payments = StripePayments("sk_test_local", "pk_test_local", base)
        account = payments.create_host_account(user_id="host-2", email=None)
        fake.complete_onboarding(account)
        env = Stripe(fake, base, payments, account)
        pi = env.booking(_uid())
        expired[0] = 1
        assert payments.retrieve(pi.id).status == "canceled"
        with pytest.raises(PaymentStateError):
            payments.capture(pi.id, idempotency_key="late")
    finally:
        stop()


def test_a_destination_without_transfers_is_host_not_payable(stripe_env: Stripe) -> None:
    account = stripe_env.payments.create_host_account(user_id="host-unboarded", email=None)
    with pytest.raises(HostNotPayable):
        stripe_env.payments.create_booking_payment(
            booking_id=_uid(), amount_cents=TOTAL, currency="usd", platform_fee_cents=FEE, host_account_id=account,
            capture_manual=True, metadata={})


def test_stripe_down_after_the_librarys_retries_is_stripe_unavailable(stripe_env: Stripe) -> None:
    stripe_env.fake.inject_fault("GET /v1/payment_intents/*", count=3, status=500)
    pi = stripe_env.payments.create_booking_payment(
        booking_id=_uid(), amount_cents=TOTAL, currency="usd", platform_fee_cents=FEE,
        host_account_id=stripe_env.host_account, capture_manual=True, metadata={})
    with pytest.raises(StripeUnavailable):
        stripe_env.payments.retrieve(pi.id)
    stripe_env.fake.inject_fault("GET /v1/payment_intents/*", count=2, status=503)
    assert stripe_env.payments.retrieve(pi.id).id == pi.id  # two failures: the third attempt succeeds


def test_a_lost_answer_to_a_create_is_replayed_by_its_key_not_doubled(stripe_env: Stripe) -> None:
    booking_id = _uid()
    stripe_env.fake.inject_fault("POST /v1/payment_intents", count=1, status=500, after_execute=True)
    pi = stripe_env.booking(booking_id, confirm=None)
    created = [e for e in stripe_env.fake.events("payment_intent.created")
               if e["data"]["object"]["metadata"].get("booking_id") == booking_id]
    assert len(created) == 1 and created[0]["data"]["object"]["id"] == pi.id


# ---- settle_cancellation matrix -------------------------------------------------------------------
def test_settle_a_hold_with_a_full_refund_cancels_it(stripe_env: Stripe) -> None:
    pi = stripe_env.booking(_uid())
    before = stripe_env.fake.balance(stripe_env.host_account)
    result = stripe_env.payments.settle_cancellation(pi.id, refund_cents=TOTAL, idempotency_key="k:full")
    assert (result.action, result.status, result.captured_cents, result.refunded_cents) == ("canceled", "canceled",
                                                                                             0, TOTAL)
    assert stripe_env.fake.balance(stripe_env.host_account) == before  # no money moved
    assert stripe_env.payments.settle_cancellation(pi.id, refund_cents=TOTAL, idempotency_key="k:full").action == "none"


def test_settle_a_hold_with_a_partial_refund_captures_the_rest_with_a_proportional_fee(stripe_env: Stripe) -> None:
    pi = stripe_env.booking(_uid())
    host_before, platform_before = stripe_env.fake.balance(stripe_env.host_account), stripe_env.fake.balance()
    result = stripe_env.payments.settle_cancellation(pi.id, refund_cents=1000, idempotency_key="k:partial")
    assert (result.action, result.captured_cents, result.refunded_cents) == ("captured", 1300, 1000)
    fee = FEE * 1300 // TOTAL
    assert stripe_env.fake.balance() - platform_before == fee
    assert stripe_env.fake.balance(stripe_env.host_account) - host_before == 1300 - fee
    # The same call again (a retry, or the reconciler) moves nothing: the key is on the PaymentIntent.
    again = stripe_env.payments.settle_cancellation(pi.id, refund_cents=1000, idempotency_key="k:partial")
    assert again.action == "none" and refunds_of(stripe_env, pi.id) == []
    after = stripe_env.payments.retrieve(pi.id)
    assert (after.amount_received, after.amount_refunded, after.amount_refundable) == (1300, 0, 1300)


def test_settle_a_captured_payment_refunds_once_and_takes_back_transfer_and_fee(stripe_env: Stripe) -> None:
    pi = stripe_env.booking(_uid(), manual=False)
    assert pi.status == "succeeded"
    host_before, platform_before = stripe_env.fake.balance(stripe_env.host_account), stripe_env.fake.balance()
    result = stripe_env.payments.settle_cancellation(pi.id, refund_cents=1150, idempotency_key="k:refund")
    assert (result.action, result.refunded_cents) == ("refunded", 1150) and result.refund is not None
    assert stripe_env.payments.settle_cancellation(pi.id, refund_cents=1150, idempotency_key="k:refund").refund == \
        result.refund  # the same refund, not a second one
    assert len(refunds_of(stripe_env, pi.id)) == 1
    # The refund comes out of the host's transfer and our fee in proportion (1150/2300 = half).
    assert stripe_env.fake.balance(stripe_env.host_account) - host_before == -(TOTAL - FEE) // 2
    assert stripe_env.fake.balance() - platform_before == -(1150 - (TOTAL - FEE) // 2)


def test_settle_with_nothing_to_refund_does_nothing(stripe_env: Stripe) -> None:
    pi = stripe_env.booking(_uid(), manual=False)
    assert stripe_env.payments.settle_cancellation(pi.id, refund_cents=0, idempotency_key="k:zero").action == "none"
    assert refunds_of(stripe_env, pi.id) == []


def test_settle_more_than_is_left_refunds_only_what_is_left(stripe_env: Stripe) -> None:
    pi = stripe_env.booking(_uid(), manual=False)
    stripe_env.payments.refund(pi.id, amount_cents=2000, idempotency_key="k:first")
    result = stripe_env.payments.settle_cancellation(pi.id, refund_cents=TOTAL, idempotency_key="k:rest")
    assert result.refunded_cents == 300
    assert stripe_env.payments.retrieve(pi.id).amount_refundable == 0


@pytest.mark.parametrize("card", [None, "pm_card_chargeDeclined", "pm_card_authenticationRequired"])
def test_settle_an_unpaid_payment_cancels_it(stripe_env: Stripe, card: str | None) -> None:
    pi = stripe_env.booking(_uid(), confirm=card)
    result = stripe_env.payments.settle_cancellation(pi.id, refund_cents=TOTAL, idempotency_key="k:unpaid")
    assert (result.action, result.status) == ("canceled", "canceled")
    assert stripe_env.payments.settle_cancellation(pi.id, refund_cents=TOTAL,
                                                   idempotency_key="k:unpaid").action == "none"


# ---- Connect ---------------------------------------------------------------------------------------
def test_a_host_account_is_created_once_and_onboarding_enables_it(stripe_env: Stripe) -> None:
    account = stripe_env.payments.create_host_account(user_id="host-3", email="h3@example.com")
    assert stripe_env.payments.create_host_account(user_id="host-3", email="h3@example.com") == account
    status = stripe_env.payments.account_status(account)
    assert not status.charges_enabled and status.requirements and status.user_id == "host-3"
    url = stripe_env.payments.onboarding_link(account, "https://app.example/refresh", "https://app.example/return")
    visit = requests.get(url, allow_redirects=False, timeout=10)
    assert visit.status_code == 302 and visit.headers["Location"] == "https://app.example/return"
    assert requests.get(url, allow_redirects=False, timeout=10).headers["Location"] == "https://app.example/refresh"
    status = stripe_env.payments.account_status(account)
    assert status.charges_enabled and status.payouts_enabled and status.requirements == ()


def test_payouts_are_listed_for_the_connected_account(stripe_env: Stripe) -> None:
    stripe_env.booking(_uid(), manual=False)
    stripe_env.fake.run_payouts(stripe_env.host_account)
    payouts = stripe_env.payments.list_payouts(stripe_env.host_account)
    assert payouts and payouts[0]["status"] == "paid" and payouts[0]["amount_cents"] > 0
