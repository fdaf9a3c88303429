"""The fake Stripe, driven by the real stripe-python client, as the backend and the local cloud use it.

Every test gets a fresh fake served on an OS-chosen port, a manual clock (so hold expiry, key expiry
and webhook back-off are steps, not sleeps) and a webhook receiver that records raw bodies and answers
with whatever status a test queues up.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import stripe
from aiohttp import web

from local.fake_stripe import FakeStripe, WebhookEndpoint, run_in_thread, serve_in_thread
from local.fake_stripe.params import parse_form

PLATFORM_SECRET = "whsec_test_platform"
CONNECT_SECRET = "whsec_test_connect"
DAY = 86400


class ManualClock:
    """Unix seconds that move only when a test says so."""

    def __init__(self, start: float = 1_900_000_000.0) -> None:
        self.value = start

    def now(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


@dataclass
class Received:
    path: str
    body: str
    signature: str

    def event(self, secret: str) -> stripe.Event:
        return stripe.Webhook.construct_event(self.body, self.signature, secret)


@dataclass
class Receiver:
    """The backend's two webhook endpoints, recording what arrives; `fail(path, 500)` queues answers."""

    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            body = (await request.read()).decode()
            with self.lock:
                self.received.append(Received(request.path, body, request.headers["Stripe-Signature"]))
                queued = self.answers[request.path]
                status = queued.pop(0) if queued else 200
            return web.Response(status=status)

        app = web.Application()
        app.router.add_post("/platform", handle)
        app.router.add_post("/connect", handle)
        return app

    def answer(self, path: str, *statuses: int) -> None:
        with self.lock:
            self.answers[path].extend(statuses)

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def event_types(self, path: str, secret: str) -> list[str]:
        return [r.event(secret).type for r in self.at(path)]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.base_url, stop = serve_in_thread(receiver.app, name="webhook-receiver")
    yield receiver
    stop()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(receiver: Receiver, clock: ManualClock) -> Iterator[FakeStripe]:
    with receiver.lock:
        receiver.received.clear()
        receiver.answers.clear()
    fake = FakeStripe(
        now=clock.now,
        platform_webhook=WebhookEndpoint(f"{receiver.base_url}/platform", PLATFORM_SECRET),
        connect_webhook=WebhookEndpoint(f"{receiver.base_url}/connect", CONNECT_SECRET),
    )
    yield fake


@pytest.fixture
def base_url(fake: FakeStripe) -> Iterator[str]:
    url, stop = run_in_thread(fake)
    yield url
    stop()


@pytest.fixture
def client(base_url: str) -> stripe.StripeClient:
    # As the backend builds it (stripe.md): explicit retries, a short timeout.
    return stripe.StripeClient(
        "sk_test_driveway", base_addresses={"api": base_url}, max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=5),
    )


@pytest.fixture
def browser(base_url: str) -> stripe.StripeClient:
    """What Stripe.js does in the driver's browser: publishable key + client_secret."""
    return stripe.StripeClient("pk_test_driveway", base_addresses={"api": base_url})


@pytest.fixture
def host_account(client: stripe.StripeClient, fake: FakeStripe) -> str:
    """An onboarded host (charges and payouts enabled)."""
    account = client.v1.accounts.create(params=EXPRESS_HOST)
    fake.complete_onboarding(account.id)
    assert fake.wait_for_deliveries()
    return account.id


EXPRESS_HOST: Any = {
    "controller": {
        "stripe_dashboard": {"type": "express"},
        "fees": {"payer": "application"},
        "losses": {"payments": "application"},
    },
    "capabilities": {"transfers": {"requested": True}},
    "country": "US",
    "email": "host@example.com",
}


def booking_payment(host: str, *, amount: int = 2000, fee: int = 300, manual: bool = False, **extra: Any) -> Any:
    return {
        "amount": amount,
        "currency": "usd",
        "capture_method": "manual" if manual else "automatic",
        "payment_method_types": ["card"],
        "transfer_data": {"destination": host},
        "application_fee_amount": fee,
        "metadata": {"booking_id": "b-1"},
        **extra,
    }


def types_of(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


# ---- form encoding --------------------------------------------------------------------------------


def test_bracket_params_become_nested_dicts_and_lists() -> None:
    parsed = parse_form([
        ("metadata[booking_id]", "b-1"), ("metadata[0]", "kept as a key"), ("transfer_data[destination]", "acct_1"),
        ("expand[]", "latest_charge"), ("expand[]", "customer"), ("payment_method_types[0]", "card"),
        ("capabilities[transfers][requested]", "true"),
    ])

    assert parsed == {
        "metadata": {"booking_id": "b-1", "0": "kept as a key"},
        "transfer_data": {"destination": "acct_1"},
        "expand": ["latest_charge", "customer"],
        "payment_method_types": ["card"],
        "capabilities": {"transfers": {"requested": "true"}},
    }


# ---- authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["sk_live_real_money", "sk_test_"])
def test_a_live_or_malformed_key_is_refused_with_401(base_url: str, key: str) -> None:
    client = stripe.StripeClient(key, base_addresses={"api": base_url})

    with pytest.raises(stripe.AuthenticationError) as raised:
        client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})

    assert raised.value.http_status == 401


def test_a_request_without_a_key_gets_stripes_error_envelope(base_url: str) -> None:
    response = requests.post(f"{base_url}/v1/payment_intents", data={"amount": 1000}, timeout=5)

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "API key" in response.json()["error"]["message"]


def test_the_publishable_key_cannot_create_payment_intents(browser: stripe.StripeClient) -> None:
    with pytest.raises(stripe.AuthenticationError):
        browser.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})


# ---- PaymentIntents ---------------------------------------------------------------------------------


def test_visa_with_automatic_capture_succeeds_and_moves_the_money(
    client: stripe.StripeClient, browser: stripe.StripeClient, fake: FakeStripe, host_account: str
) -> None:
    pi = client.v1.payment_intents.create(params=booking_payment(host_account))
    assert pi.status == "requires_payment_method"
    assert pi.client_secret.startswith(f"{pi.id}_secret_")
    assert pi.metadata["booking_id"] == "b-1"

    confirmed = browser.v1.payment_intents.confirm(
        pi.id, params={"payment_method": "pm_card_visa", "client_secret": pi.client_secret}
    )

    assert confirmed.status == "succeeded"
    assert confirmed.amount_received == 2000
    charge = client.v1.charges.retrieve(confirmed.latest_charge, params={"expand": ["transfer"]})
    assert (charge.captured, charge.amount_captured, charge.paid) == (True, 2000, True)
    assert charge.transfer.destination == host_account
    assert charge.payment_method_details.card.last4 == "4242"
    # The driver paid 2000; the host holds 2000 - 300; the platform keeps its 300 fee.
    assert fake.balance(host_account) == 1700
    assert fake.balance() == 300
    assert types_of(fake.events())[-3:] == ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]


def test_manual_capture_holds_for_seven_days_then_captures_part_with_the_fee_capped(
    client: stripe.StripeClient, fake: FakeStripe, host_account: str, clock: ManualClock
) -> None:
    pi = client.v1.payment_intents.create(
        params=booking_payment(host_account, manual=True, fee=300, payment_method="pm_card_visa", confirm=True)
    )
    assert (pi.status, pi.amount_capturable) == ("requires_capture", 2000)
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert charge.payment_method_details.card.capture_before == int(clock.now()) + 7 * DAY
    assert fake.balance() == 0, "an authorization moves no money"

    captured = client.v1.payment_intents.capture(pi.id, params={"amount_to_capture": 200})

    assert (captured.status, captured.amount_received, captured.amount_capturable) == ("succeeded", 200, 0)
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert (charge.amount_captured, charge.application_fee_amount) == (200, 200)
    assert fake.balance() == 200 and fake.balance(host_account) == 0
    assert "charge.captured" in types_of(fake.events())


def test_a_declined_card_answers_402_and_returns_the_intent_to_requires_payment_method(
    client: stripe.StripeClient, fake: FakeStripe, host_account: str
) -> None:
    pi = client.v1.payment_intents.create(params=booking_payment(host_account))

    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_chargeDeclined"})

    assert raised.value.http_status == 402
    assert raised.value.code == "card_declined"
    assert raised.value.error.decline_code == "generic_decline"
    after = client.v1.payment_intents.retrieve(pi.id)
    assert after.status == "requires_payment_method"
    assert after.last_payment_error.decline_code == "generic_decline"
    assert types_of(fake.events())[-1] == "payment_intent.payment_failed"
    assert fake.balance() == 0


def test_3ds_card_requires_action_and_the_challenge_page_completes_it(
    client: stripe.StripeClient, browser: stripe.StripeClient, fake: FakeStripe, host_account: str
) -> None:
    pi = client.v1.payment_intents.create(params=booking_payment(host_account))

    confirmed = browser.v1.payment_intents.confirm(pi.id, params={
        "payment_method": "pm_card_authenticationRequired", "client_secret": pi.client_secret,
        "return_url": "http://127.0.0.1:9/after-3ds",
    })

    assert confirmed.status == "requires_action"
    assert confirmed.next_action.type == "redirect_to_url"
    assert "payment_intent.requires_action" in types_of(fake.events())
    page = requests.get(confirmed.next_action.redirect_to_url.url, allow_redirects=False, timeout=5)
    assert page.status_code == 302
    assert page.headers["Location"].startswith("http://127.0.0.1:9/after-3ds?payment_intent=")
    assert "redirect_status=succeeded" in page.headers["Location"]
    assert browser.v1.payment_intents.retrieve(pi.id, params={"client_secret": pi.client_secret}).status == "succeeded"


def test_off_session_charge_of_a_saved_card_succeeds_but_a_3ds_card_is_declined(
    client: stripe.StripeClient, host_account: str
) -> None:
    customer = client.v1.customers.create(params={"email": "driver@example.com"})
    first = client.v1.payment_intents.create(params=booking_payment(
        host_account, customer=customer.id, setup_future_usage="off_session", payment_method="pm_card_visa",
        confirm=True,
    ))
    saved_card = first.payment_method
    assert saved_card.startswith("pm_") and saved_card != "pm_card_visa"

    no_show_fee = client.v1.payment_intents.create(params=booking_payment(
        host_account, amount=1000, fee=1000, customer=customer.id, payment_method=saved_card, confirm=True,
        off_session=True,
    ))
    assert no_show_fee.status == "succeeded"

    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.create(params=booking_payment(
            host_account, payment_method="pm_card_authenticationRequired", confirm=True, off_session=True
        ))
    assert raised.value.code == "authentication_required"


def test_a_failed_3ds_challenge_returns_the_intent_for_another_card(
    client: stripe.StripeClient, browser: stripe.StripeClient, fake: FakeStripe, host_account: str
) -> None:
    pi = client.v1.payment_intents.create(params=booking_payment(host_account))
    challenged = browser.v1.payment_intents.confirm(
        pi.id, params={"payment_method": "pm_card_authenticationRequired", "client_secret": pi.client_secret}
    )
    assert challenged.next_action.type == "use_stripe_sdk"

    requests.get(f"{challenged.next_action.use_stripe_sdk.stripe_js}?outcome=fail", timeout=5)

    failed = client.v1.payment_intents.retrieve(pi.id)
    assert (failed.status, failed.last_payment_error.code) == (
        "requires_payment_method", "payment_intent_authentication_failure"
    )
    assert types_of(fake.events())[-1] == "payment_intent.payment_failed"
    retried = browser.v1.payment_intents.confirm(
        pi.id, params={"payment_method": "pm_card_visa", "client_secret": pi.client_secret}
    )
    assert retried.status == "succeeded"


def test_a_reconciler_finds_intents_by_booking_metadata(client: stripe.StripeClient, host_account: str) -> None:
    pi = client.v1.payment_intents.create(params=booking_payment(host_account))
    client.v1.payment_intents.update(pi.id, params={"metadata": {"booking_id": "b-77", "note": "x"}})
    client.v1.payment_intents.update(pi.id, params={"metadata": {"note": ""}})  # an empty value unsets a key

    found = client.v1.payment_intents.search(params={"query": "metadata['booking_id']:'b-77'"})

    assert [p.id for p in found.data] == [pi.id]
    assert found.data[0].metadata.to_dict() == {"booking_id": "b-77"}


def test_the_client_secret_must_match(browser: stripe.StripeClient, client: stripe.StripeClient,
                                      host_account: str) -> None:
    pi = client.v1.payment_intents.create(params=booking_payment(host_account))

    with pytest.raises(stripe.InvalidRequestError) as raised:
        browser.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa",
                                                          "client_secret": f"{pi.id}_secret_wrong"})

    assert raised.value.param == "client_secret"


def test_a_destination_without_active_transfers_is_refused(client: stripe.StripeClient) -> None:
    account = client.v1.accounts.create(params=EXPRESS_HOST)

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(params=booking_payment(account.id))

    assert raised.value.code == "insufficient_capabilities_for_transfer"


def test_unknown_parameters_and_bad_integers_are_refused_like_stripe(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd", "capture": "manual"})
    with pytest.raises(stripe.InvalidRequestError) as not_an_integer:
        client.v1.payment_intents.create(params={"amount": "12.50", "currency": "usd"})

    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "capture")
    assert (not_an_integer.value.code, not_an_integer.value.param) == ("parameter_invalid_integer", "amount")


def test_cancel_after_succeeded_is_refused(client: stripe.StripeClient, host_account: str) -> None:
    pi = client.v1.payment_intents.create(params=booking_payment(host_account, payment_method="pm_card_visa",
                                                                 confirm=True))

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.cancel(pi.id, params={"cancellation_reason": "requested_by_customer"})

    assert raised.value.code == "payment_intent_unexpected_state"
    assert raised.value.http_status == 400


def test_cancelling_an_authorization_releases_it(client: stripe.StripeClient, fake: FakeStripe,
                                                 host_account: str) -> None:
    pi = client.v1.payment_intents.create(
        params=booking_payment(host_account, manual=True, payment_method="pm_card_visa", confirm=True)
    )

    canceled = client.v1.payment_intents.cancel(pi.id, params={"cancellation_reason": "requested_by_customer"})

    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "requested_by_customer")
    assert client.v1.charges.retrieve(pi.latest_charge).refunded is True
    assert types_of(fake.events())[-1] == "payment_intent.canceled"
    assert fake.balance() == 0 and fake.balance(host_account) == 0


def test_capture_twice_is_refused(client: stripe.StripeClient, host_account: str) -> None:
    pi = client.v1.payment_intents.create(
        params=booking_payment(host_account, manual=True, payment_method="pm_card_visa", confirm=True)
    )
    client.v1.payment_intents.capture(pi.id)

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.capture(pi.id)

    assert raised.value.code == "payment_intent_unexpected_state"


def test_capturing_more_than_authorized_is_refused(client: stripe.StripeClient, host_account: str) -> None:
    pi = client.v1.payment_intents.create(
        params=booking_payment(host_account, manual=True, payment_method="pm_card_visa", confirm=True)
    )

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.capture(pi.id, params={"amount_to_capture": 2001})

    assert raised.value.param == "amount_to_capture"


# ---- idempotency --------------------------------------------------------------------------------------


def test_the_same_key_and_params_replay_the_first_answer(client: stripe.StripeClient, fake: FakeStripe,
                                                         host_account: str) -> None:
    options: Any = {"idempotency_key": "booking:b-1:pi"}
    first = client.v1.payment_intents.create(params=booking_payment(host_account), options=options)

    again = client.v1.payment_intents.create(params=booking_payment(host_account), options=options)

    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert len([e for e in fake.events() if e["type"] == "payment_intent.created"]) == 1


def test_the_same_key_with_other_params_is_an_idempotency_error(client: stripe.StripeClient,
                                                                 host_account: str) -> None:
    options: Any = {"idempotency_key": "booking:b-1:pi"}
    client.v1.payment_intents.create(params=booking_payment(host_account), options=options)

    with pytest.raises(stripe.IdempotencyError) as raised:
        client.v1.payment_intents.create(params=booking_payment(host_account, amount=9999), options=options)

    assert raised.value.http_status == 400
    assert raised.value.error.type == "idempotency_error"


def test_a_declined_confirm_is_replayed_as_the_same_decline(client: stripe.StripeClient, fake: FakeStripe,
                                                            host_account: str) -> None:
    params = booking_payment(host_account, payment_method="pm_card_chargeDeclined", confirm=True)
    options: Any = {"idempotency_key": "booking:b-2:pi"}
    with pytest.raises(stripe.CardError) as first:
        client.v1.payment_intents.create(params=params, options=options)

    with pytest.raises(stripe.CardError) as replayed:
        client.v1.payment_intents.create(params=params, options=options)

    assert replayed.value.headers["Idempotent-Replayed"] == "true"
    assert replayed.value.error.payment_intent.id == first.value.error.payment_intent.id
    assert len(fake.events("payment_intent.created")) == 1


def test_keys_expire_after_24_hours_of_fake_time(client: stripe.StripeClient, fake: FakeStripe,
                                                 clock: ManualClock, host_account: str) -> None:
    options: Any = {"idempotency_key": "booking:b-3:pi"}
    first = client.v1.payment_intents.create(params=booking_payment(host_account), options=options)

    clock.advance(DAY)
    later = client.v1.payment_intents.create(params=booking_payment(host_account), options=options)

    assert later.id != first.id


@pytest.mark.parametrize("after_execute", [False, True], ids=["lost-before-running", "answer-lost-after-running"])
def test_an_injected_500_is_retried_by_the_library_and_makes_one_payment_intent(
    client: stripe.StripeClient, fake: FakeStripe, host_account: str, after_execute: bool
) -> None:
    fake.inject_fault("POST /v1/payment_intents", status=500, after_execute=after_execute)

    pi = client.v1.payment_intents.create(params=booking_payment(host_account),
                                          options={"idempotency_key": "booking:b-4:pi"})

    assert [e["data"]["object"]["id"] for e in fake.events("payment_intent.created")] == [pi.id]
    assert (pi.last_response.headers.get("Idempotent-Replayed") == "true") is after_execute


def test_a_hung_call_times_out_and_the_retry_gets_the_saved_result(base_url: str, fake: FakeStripe,
                                                                   host_account: str) -> None:
    impatient = stripe.StripeClient("sk_test_driveway", base_addresses={"api": base_url}, max_network_retries=2,
                                    http_client=stripe.RequestsClient(timeout=0.3))
    fake.inject_fault("POST /v1/payment_intents", mode="hang", hang_s=1.0, after_execute=True)

    pi = impatient.v1.payment_intents.create(params=booking_payment(host_account))

    assert pi.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(fake.events("payment_intent.created")) == 1


def test_a_second_request_while_the_first_still_runs_gets_409_key_in_use(base_url: str, fake: FakeStripe) -> None:
    # Whichever request arrives first takes the fault, hangs holding the key; the other must get the 409.
    fake.inject_fault("POST /v1/payment_intents", mode="hang", hang_s=0.3)
    headers = {"Authorization": "Bearer sk_test_driveway", "Idempotency-Key": "booking:b-5:pi"}

    def post() -> requests.Response:
        return requests.post(f"{base_url}/v1/payment_intents", data={"amount": 2000, "currency": "usd"},
                             headers=headers, timeout=5)

    with ThreadPoolExecutor(2) as pool:
        answers = sorted((f.result() for f in [pool.submit(post), pool.submit(post)]), key=lambda r: r.status_code)

    assert [a.status_code for a in answers] == [200, 409]
    assert answers[1].json()["error"]["code"] == "idempotency_key_in_use"
    assert len(fake.events("payment_intent.created")) == 1


def test_an_injected_429_reaches_the_caller_as_a_rate_limit_error(client: stripe.StripeClient,
                                                                   fake: FakeStripe) -> None:
    fake.inject_fault("GET /v1/accounts/*", status=429)

    with pytest.raises(stripe.RateLimitError):
        client.v1.accounts.retrieve("acct_anything")


# ---- refunds and money ----------------------------------------------------------------------------------


def test_a_partial_refund_reverses_the_transfer_and_the_fee_in_proportion(
    client: stripe.StripeClient, fake: FakeStripe, host_account: str
) -> None:
    pi = client.v1.payment_intents.create(params=booking_payment(host_account, amount=2000, fee=300,
                                                                 payment_method="pm_card_visa", confirm=True))

    refund = client.v1.refunds.create(params={
        "payment_intent": pi.id, "amount": 500, "reverse_transfer": True, "refund_application_fee": True,
    })

    assert refund.status == "succeeded" and refund.transfer_reversal.startswith("trr_")
    assert client.v1.refunds.retrieve(refund.id).amount == 500
    # A quarter refunded: the host gives back a quarter of 1700, the platform a quarter of its 300 fee.
    assert fake.balance(host_account) == 1700 - 425
    assert fake.balance() == 300 - 75
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (500, False)
    assert types_of(fake.events())[-2:] == ["refund.created", "charge.refunded"]

    client.v1.refunds.create(params={"payment_intent": pi.id, "reverse_transfer": True,
                                     "refund_application_fee": True})
    assert fake.balance(host_account) == 0 and fake.balance() == 0


def test_refunding_more_than_was_captured_is_refused(client: stripe.StripeClient, host_account: str) -> None:
    pi = client.v1.payment_intents.create(
        params=booking_payment(host_account, manual=True, payment_method="pm_card_visa", confirm=True)
    )
    client.v1.payment_intents.capture(pi.id, params={"amount_to_capture": 1500})

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1501})

    assert (raised.value.param, raised.value.code) == ("amount", "amount_too_large")


def test_an_uncaptured_payment_must_be_cancelled_not_refunded(client: stripe.StripeClient, host_account: str) -> None:
    pi = client.v1.payment_intents.create(
        params=booking_payment(host_account, manual=True, payment_method="pm_card_visa", confirm=True)
    )

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create(params={"payment_intent": pi.id})

    assert "Cancel the PaymentIntent" in str(raised.value.user_message)


def test_a_failed_refund_returns_the_money_and_says_so(client: stripe.StripeClient, fake: FakeStripe,
                                                       host_account: str) -> None:
    pi = client.v1.payment_intents.create(params=booking_payment(host_account, payment_method="pm_card_visa",
                                                                 confirm=True))
    refund = client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1000})

    fake.fail_refund(refund.id)

    assert client.v1.refunds.retrieve(refund.id).status == "failed"
    assert types_of(fake.events())[-2:] == ["refund.updated", "refund.failed"]
    assert fake.balance() == 300


def test_a_dispute_debits_the_platform_and_is_announced(client: stripe.StripeClient, fake: FakeStripe,
                                                        host_account: str, receiver: Receiver) -> None:
    pi = client.v1.payment_intents.create(params=booking_payment(host_account, payment_method="pm_card_visa",
                                                                 confirm=True))

    dispute = fake.open_dispute(pi.id)

    assert fake.wait_for_deliveries()
    assert receiver.event_types("/platform", PLATFORM_SECRET)[-1] == "charge.dispute.created"
    assert fake.balance() == 300 - 2000 - 1500  # the amount and Stripe's dispute fee
    assert client.v1.charges.retrieve(pi.latest_charge).disputed is True
    assert dispute["status"] == "needs_response"


# ---- hold expiry ------------------------------------------------------------------------------------------


def test_an_expired_hold_is_cancelled_with_charge_expired(client: stripe.StripeClient, fake: FakeStripe,
                                                          clock: ManualClock, host_account: str,
                                                          receiver: Receiver) -> None:
    pi = client.v1.payment_intents.create(
        params=booking_payment(host_account, manual=True, payment_method="pm_card_visa", confirm=True)
    )

    clock.advance(7 * DAY)

    expired = client.v1.payment_intents.retrieve(pi.id)
    assert (expired.status, expired.cancellation_reason) == ("canceled", "automatic")
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.capture(pi.id)
    assert fake.wait_for_deliveries()
    assert receiver.event_types("/platform", PLATFORM_SECRET)[-2:] == ["charge.expired", "payment_intent.canceled"]


# ---- Connect -----------------------------------------------------------------------------------------------


def test_onboarding_through_the_account_link_enables_the_account_and_tells_the_connect_endpoint(
    client: stripe.StripeClient, fake: FakeStripe, receiver: Receiver
) -> None:
    account = client.v1.accounts.create(params=EXPRESS_HOST)
    assert (account.charges_enabled, account.payouts_enabled) == (False, False)
    assert account.requirements.currently_due
    link = client.v1.account_links.create(params={
        "account": account.id, "type": "account_onboarding",
        "refresh_url": "http://127.0.0.1:9/onboarding/refresh", "return_url": "http://127.0.0.1:9/onboarding/done",
    })

    page = requests.get(link.url, allow_redirects=False, timeout=5)

    assert (page.status_code, page.headers["Location"]) == (302, "http://127.0.0.1:9/onboarding/done")
    onboarded = client.v1.accounts.retrieve(account.id)
    assert (onboarded.charges_enabled, onboarded.payouts_enabled) == (True, True)
    assert onboarded.requirements.currently_due == []
    assert fake.wait_for_deliveries()
    [delivery] = receiver.at("/connect")
    event = delivery.event(CONNECT_SECRET)
    assert (event.type, event.account, event.data.object.id) == ("account.updated", account.id, account.id)
    assert event.data.previous_attributes.charges_enabled is False
    with pytest.raises(stripe.SignatureVerificationError):
        delivery.event(PLATFORM_SECRET)
    assert receiver.at("/platform") == []


def test_an_account_link_is_single_use_and_short_lived(client: stripe.StripeClient, clock: ManualClock) -> None:
    account = client.v1.accounts.create(params=EXPRESS_HOST)
    urls = {"account": account.id, "type": "account_onboarding", "refresh_url": "http://127.0.0.1:9/refresh",
            "return_url": "http://127.0.0.1:9/done"}
    used = client.v1.account_links.create(params=urls)
    requests.get(used.url, allow_redirects=False, timeout=5)
    stale = client.v1.account_links.create(params=urls)
    clock.advance(301)

    for link in (used, stale):
        page = requests.get(link.url, allow_redirects=False, timeout=5)
        assert page.headers["Location"] == "http://127.0.0.1:9/refresh"


def test_a_restricted_host_cannot_receive_new_destination_charges(client: stripe.StripeClient, fake: FakeStripe,
                                                                  host_account: str, receiver: Receiver) -> None:
    pi = client.v1.payment_intents.create(params=booking_payment(host_account))

    fake.set_account_status(host_account, charges_enabled=False, payouts_enabled=False,
                            currently_due=["individual.verification.document"])

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})
    assert raised.value.code == "insufficient_capabilities_for_transfer"
    assert fake.wait_for_deliveries()
    assert receiver.event_types("/connect", CONNECT_SECRET)[-1] == "account.updated"
    # Connect events are listed with the account's Stripe-Account header, not among the platform's.
    listed = client.v1.events.list(params={"type": "account.updated"}, options={"stripe_account": host_account})
    assert len(listed.data) == 2
    assert client.v1.events.list(params={"type": "account.updated"}).data == []


def test_payouts_empty_the_hosts_balance_and_are_listed_for_the_account(
    client: stripe.StripeClient, fake: FakeStripe, host_account: str, receiver: Receiver
) -> None:
    client.v1.payment_intents.create(params=booking_payment(host_account, payment_method="pm_card_visa", confirm=True))

    [payout] = fake.run_payouts(host_account)

    listed = client.v1.payouts.list(options={"stripe_account": host_account})
    assert [(p.id, p.amount, p.status) for p in listed.data] == [(payout["id"], 1700, "paid")]
    assert client.v1.payouts.list().data == []
    assert client.v1.balance.retrieve(options={"stripe_account": host_account}).available[0].amount == 0
    assert fake.balance(host_account) == 0
    assert fake.wait_for_deliveries()
    assert receiver.event_types("/connect", CONNECT_SECRET)[-2:] == ["payout.created", "payout.paid"]


# ---- webhooks and events ------------------------------------------------------------------------------


def test_webhooks_are_signed_for_the_platform_endpoint_and_arrive_after_the_call(
    client: stripe.StripeClient, fake: FakeStripe, host_account: str, receiver: Receiver
) -> None:
    client.v1.payment_intents.create(params=booking_payment(host_account, payment_method="pm_card_visa", confirm=True))

    assert fake.wait_for_deliveries()
    events = [received.event(PLATFORM_SECRET) for received in receiver.at("/platform")]
    assert [e.type for e in events] == ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]
    assert events[0].request.id is not None
    assert all(attempt.succeeded for attempt in fake.deliveries)


def test_duplicate_chaos_delivers_every_event_twice(client: stripe.StripeClient, fake: FakeStripe,
                                                   host_account: str, receiver: Receiver) -> None:
    fake.set_chaos(duplicate=True)

    pi = client.v1.payment_intents.create(params=booking_payment(host_account))

    assert fake.wait_for_deliveries()
    received = [r.event(PLATFORM_SECRET) for r in receiver.at("/platform")]
    assert [(e.type, e.data.object.id) for e in received] == [("payment_intent.created", pi.id)] * 2
    assert received[0].id == received[1].id


def test_reorder_chaos_delivers_a_batch_newest_first(client: stripe.StripeClient, fake: FakeStripe,
                                                    host_account: str, receiver: Receiver) -> None:
    fake.set_chaos(reorder_batch=3)

    client.v1.payment_intents.create(params=booking_payment(host_account, payment_method="pm_card_visa", confirm=True))

    assert fake.wait_for_deliveries()
    assert receiver.event_types("/platform", PLATFORM_SECRET) == [
        "payment_intent.succeeded", "charge.succeeded", "payment_intent.created",
    ]


def test_a_500_from_the_endpoint_is_retried_with_backoff_on_the_fake_clock(
    client: stripe.StripeClient, fake: FakeStripe, clock: ManualClock, host_account: str, receiver: Receiver
) -> None:
    fake.set_chaos(retry_base_s=60)
    receiver.answer("/platform", 500, 500)
    pi = client.v1.payment_intents.create(params=booking_payment(host_account))
    assert fake.wait_for_deliveries()
    undelivered = client.v1.events.list(params={"delivery_success": False})
    assert [e.data.object.id for e in undelivered.data] == [pi.id]

    clock.advance(59)
    assert fake.wait_for_deliveries()
    assert len(receiver.at("/platform")) == 1, "not before the back-off has passed"
    clock.advance(1)
    assert fake.wait_for_deliveries()
    clock.advance(120)
    assert fake.wait_for_deliveries()

    assert [(a.attempt, a.status) for a in fake.deliveries[-3:]] == [(1, 500), (2, 500), (3, 200)]
    assert client.v1.events.list(params={"delivery_success": False}).data == []
    [created] = client.v1.events.list(params={"type": "payment_intent.created"}).data
    assert created.pending_webhooks == 0


def test_events_list_pages_newest_first_and_filters_by_type(client: stripe.StripeClient, host_account: str) -> None:
    for _ in range(3):
        client.v1.payment_intents.create(params=booking_payment(host_account))

    first_page = client.v1.events.list(params={"type": "payment_intent.*", "limit": 2})
    second_page = client.v1.events.list(params={"type": "payment_intent.*", "limit": 2,
                                                 "starting_after": first_page.data[-1].id})

    assert first_page.has_more and not second_page.has_more
    created = [e.created for e in first_page.data + second_page.data]
    assert len(created) == 3 and created == sorted(created, reverse=True)
    assert client.v1.events.retrieve(first_page.data[0].id).type == "payment_intent.created"


def test_the_control_route_configures_chaos_and_faults(base_url: str, client: stripe.StripeClient,
                                                       fake: FakeStripe) -> None:
    answer = requests.post(f"{base_url}/_fake/config", json={
        "chaos": {"duplicate": True, "delay_s": 5},
        "faults": [{"match": "GET /v1/accounts/*", "status": 429}],
    }, timeout=5)

    assert answer.status_code == 200
    config = answer.json()
    assert (config["chaos"]["duplicate"], config["chaos"]["delay_s"]) == (True, 5.0)
    assert config["webhooks"]["platform"]["secret"] != PLATFORM_SECRET, "secrets are redacted"
    with pytest.raises(stripe.RateLimitError):
        client.v1.accounts.retrieve("acct_anything")
    refused = requests.post(f"{base_url}/_fake/config", json={"chaos": {"explode": True}}, timeout=5)
    assert refused.status_code == 400
