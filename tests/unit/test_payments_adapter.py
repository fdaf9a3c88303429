"""StripePayments against a stub HTTP transport: the real stripe library parses each canned answer, so
these tests pin the error mapping (Stripe error → domain error → HTTP status), the retries, the
idempotency keys and the parameters we send — without a socket."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

import pytest
import stripe

from driveway_hub.errors import Conflict, InvalidInput, PaymentDeclined, UpstreamUnavailable
from driveway_hub.http import status_for
from driveway_hub.payments import stripe_adapter
from driveway_hub.payments.errors import (
    HostNotPayable,
    InvalidAmount,
    PaymentStateError,
    StripeMisconfigured,
    StripeUnavailable,
)
from driveway_hub.payments.stripe_adapter import StripePayments, proportional_fee

SECRET = "sk_test_unit_secret_never_logged"
ACCT = "acct_1Host"


@dataclass
class Sent:
    method: str
    url: str
    headers: dict[str, str]
    form: dict[str, list[str]]


@dataclass
class StubHTTP(stripe.HTTPClient):
    """Answers queued (status, body) pairs; ``error`` raises a connection failure instead."""

    answers: list[tuple[int, dict[str, Any]] | Exception] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    name = "stub"

    def __post_init__(self) -> None:
        super().__init__()

    def request(self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None, *,
                _usage: list[str] | None = None) -> tuple[str, int, Mapping[str, str]]:
        form = parse_qs(post_data.decode() if isinstance(post_data, bytes) else (post_data or ""))
        self.sent.append(Sent(method, url, dict(headers or {}), form))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return json.dumps(body), status, {"request-id": "req_stub"}

    def request_stream(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # The library sleeps 0.5-5 s between retries; the count of attempts is what these tests check.
    monkeypatch.setattr(stripe.HTTPClient, "_sleep_time_seconds", lambda self, n: 0.0)


@pytest.fixture
def http() -> StubHTTP:
    return StubHTTP()


@pytest.fixture
def payments(http: StubHTTP) -> StripePayments:
    return StripePayments(SECRET, "pk_test_unit", "http://stripe.invalid", http_client=http)


def pi_body(status: str = "requires_payment_method", **extra: Any) -> dict[str, Any]:
    body = {"id": "pi_1", "object": "payment_intent", "amount": 2300, "currency": "usd", "status": status,
            "capture_method": "manual", "client_secret": "pi_1_secret_abc", "amount_capturable": 0,
            "amount_received": 0, "application_fee_amount": 300, "metadata": {"booking_id": "bk1", "kind": "charge"},
            "customer": "cus_1", "payment_method": None, "latest_charge": None, "last_payment_error": None}
    body.update(extra)
    return body


def error(status: int, kind: str, code: str | None = None, **extra: Any) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"type": kind, "code": code, "message": "stub message", **extra}}


def create(payments: StripePayments, **overrides: Any) -> Any:
    args: dict[str, Any] = {"booking_id": "bk1", "amount_cents": 2300, "currency": "USD", "platform_fee_cents": 300,
                            "host_account_id": ACCT, "capture_manual": True, "customer_id": "cus_1",
                            "metadata": {"driver_id": "d1"}}
    args.update(overrides)
    return payments.create_booking_payment(**args)


# ---- what we send ------------------------------------------------------------------------------
def test_booking_payment_is_a_keyed_destination_charge_that_saves_the_card(http: StubHTTP,
                                                                          payments: StripePayments) -> None:
    http.answers.append((200, pi_body()))
    info = create(payments)
    sent = http.sent[0]
    assert sent.method == "post" and sent.url.endswith("/v1/payment_intents")
    assert sent.headers["Idempotency-Key"] == "booking:bk1:pi"
    assert sent.headers["Authorization"] == f"Bearer {SECRET}"
    assert sent.form["transfer_data[destination]"] == [ACCT]
    assert sent.form["application_fee_amount"] == ["300"]
    assert sent.form["amount"] == ["2300"] and sent.form["currency"] == ["usd"]
    assert sent.form["capture_method"] == ["manual"]
    assert sent.form["setup_future_usage"] == ["off_session"]
    assert sent.form["metadata[booking_id]"] == ["bk1"] and sent.form["metadata[driver_id]"] == ["d1"]
    assert info.id == "pi_1" and info.client_secret == "pi_1_secret_abc" and info.status == "requires_payment_method"


def test_without_a_customer_one_is_created_per_booking_with_its_own_key(http: StubHTTP,
                                                                        payments: StripePayments) -> None:
    http.answers += [(200, {"id": "cus_9", "object": "customer"}), (200, pi_body())]
    create(payments, customer_id=None)
    assert http.sent[0].url.endswith("/v1/customers")
    assert http.sent[0].headers["Idempotency-Key"] == "booking:bk1:customer"
    assert http.sent[1].form["customer"] == ["cus_9"]


def test_extension_and_off_session_charges_have_their_own_keys(http: StubHTTP, payments: StripePayments) -> None:
    http.answers += [(200, pi_body()), (200, pi_body("succeeded"))]
    payments.create_extension_payment(booking_id="bk1", extension_no=2, amount_cents=500, currency="usd",
                                      platform_fee_cents=75, host_account_id=ACCT, capture_manual=False)
    payments.charge_off_session(booking_id="bk1", purpose="overstay", amount_cents=900, currency="usd",
                                platform_fee_cents=100, host_account_id=ACCT, customer_id="cus_1",
                                payment_method_id="pm_1")
    assert http.sent[0].headers["Idempotency-Key"] == "booking:bk1:ext:2"
    assert http.sent[0].form["metadata[kind]"] == ["extension"]
    assert http.sent[1].headers["Idempotency-Key"] == "booking:bk1:overstay"
    assert http.sent[1].form["off_session"] == ["true"] and http.sent[1].form["confirm"] == ["true"]


@pytest.mark.parametrize(("overrides", "error_type"), [
    ({"amount_cents": 23.5}, InvalidAmount),
    ({"amount_cents": 0}, InvalidAmount),
    ({"amount_cents": True}, InvalidAmount),
    ({"platform_fee_cents": 2301}, InvalidAmount),
    ({"currency": "dollars"}, InvalidAmount),
    ({"host_account_id": ""}, HostNotPayable),
])
def test_bad_amounts_and_missing_host_accounts_never_reach_stripe(
    http: StubHTTP, payments: StripePayments, overrides: dict[str, Any], error_type: type[Exception]
) -> None:
    with pytest.raises(error_type):
        create(payments, **overrides)
    assert http.sent == []


def test_off_session_without_a_saved_card_is_a_state_error(http: StubHTTP, payments: StripePayments) -> None:
    with pytest.raises(PaymentStateError):
        payments.charge_off_session(booking_id="bk1", purpose="no_show", amount_cents=900, currency="usd",
                                    platform_fee_cents=0, host_account_id=ACCT, customer_id=None,
                                    payment_method_id=None)


# ---- error mapping -----------------------------------------------------------------------------
def test_a_decline_is_402_payment_declined_with_the_decline_code(http: StubHTTP, payments: StripePayments) -> None:
    http.answers.append(error(402, "card_error", "card_declined", decline_code="insufficient_funds",
                              payment_intent=pi_body()))
    with pytest.raises(PaymentDeclined) as caught:
        create(payments)
    assert status_for(caught.value) == HTTPStatus.PAYMENT_REQUIRED
    assert caught.value.code == "payment_declined"
    assert caught.value.details == [{"decline_code": "insufficient_funds", "code": "card_declined",
                                     "payment_intent_id": "pi_1"}]


def test_stripe_5xx_is_retried_twice_then_stripe_unavailable_503(http: StubHTTP, payments: StripePayments) -> None:
    http.answers += [error(500, "api_error")] * 3
    with pytest.raises(StripeUnavailable) as caught:
        create(payments)
    assert len(http.sent) == 3  # max_network_retries=2
    assert {s.headers["Idempotency-Key"] for s in http.sent} == {"booking:bk1:pi"}  # retries reuse the key
    assert status_for(caught.value) == HTTPStatus.SERVICE_UNAVAILABLE
    assert caught.value.code == "upstream_unavailable"
    # Step Functions matches Retry on the Lambda errorType, which is the class name.
    assert type(caught.value).__name__ == "StripeUnavailable"


def test_a_transient_5xx_recovers_within_the_library_retries(http: StubHTTP, payments: StripePayments) -> None:
    http.answers += [error(500, "api_error"), (200, pi_body())]
    assert create(payments).id == "pi_1"


def test_rate_limit_and_connection_failures_are_stripe_unavailable(http: StubHTTP, payments: StripePayments) -> None:
    http.answers.append(error(429, "invalid_request_error", "rate_limit"))
    with pytest.raises(StripeUnavailable):
        payments.retrieve("pi_1")
    failure = stripe.APIConnectionError("connection reset", should_retry=True)
    http.answers += [failure, failure, failure]
    with pytest.raises(StripeUnavailable):
        payments.retrieve("pi_1")


def test_refused_credentials_are_not_retryable(http: StubHTTP, payments: StripePayments) -> None:
    http.answers.append(error(401, "invalid_request_error"))
    with pytest.raises(StripeMisconfigured) as caught:
        payments.retrieve("pi_1")
    assert isinstance(caught.value, UpstreamUnavailable) and not isinstance(caught.value, StripeUnavailable)


def test_idempotency_mismatch_is_a_conflict(http: StubHTTP, payments: StripePayments) -> None:
    http.answers.append(error(400, "idempotency_error"))
    with pytest.raises(Conflict) as caught:
        create(payments)
    assert caught.value.code == "idempotency_conflict"
    assert status_for(caught.value) == HTTPStatus.CONFLICT


@pytest.mark.parametrize(("code", "error_type", "status"), [
    ("payment_intent_unexpected_state", PaymentStateError, HTTPStatus.CONFLICT),
    ("charge_already_refunded", PaymentStateError, HTTPStatus.CONFLICT),
    ("resource_missing", PaymentStateError, HTTPStatus.CONFLICT),
    ("insufficient_capabilities_for_transfer", HostNotPayable, HTTPStatus.CONFLICT),
    ("amount_too_small", InvalidAmount, HTTPStatus.BAD_REQUEST),
])
def test_invalid_requests_become_domain_errors(http: StubHTTP, payments: StripePayments, code: str,
                                               error_type: type[Exception], status: HTTPStatus) -> None:
    refunding = code == "charge_already_refunded"
    if refunding:
        http.answers.append((200, {"object": "list", "data": [], "has_more": False, "url": "/v1/refunds"}))
    http.answers.append(error(400, "invalid_request_error", code))
    with pytest.raises(error_type) as caught:
        payments.refund("pi_1", amount_cents=100, idempotency_key="k") if refunding else create(payments)
    assert http.answers == []  # the error came from the call under test
    assert status_for(caught.value) == status  # type: ignore[arg-type]


def test_a_request_we_built_wrong_is_a_fault_not_the_clients_mistake(http: StubHTTP,
                                                                      payments: StripePayments) -> None:
    http.answers.append(error(400, "invalid_request_error", "parameter_unknown", param="bogus"))
    with pytest.raises(RuntimeError, match="parameter_unknown"):
        create(payments)


def test_cancel_is_a_no_op_when_already_cancelled_and_refuses_after_capture(http: StubHTTP,
                                                                            payments: StripePayments) -> None:
    http.answers += [error(400, "invalid_request_error", "payment_intent_unexpected_state"), (200, pi_body("canceled"))]
    assert payments.cancel("pi_1", reason="abandoned").status == "canceled"
    http.answers += [error(400, "invalid_request_error", "payment_intent_unexpected_state"),
                     (200, pi_body("succeeded"))]
    with pytest.raises(PaymentStateError) as caught:
        payments.cancel("pi_1", reason="abandoned")
    assert caught.value.code == "payment_already_captured"


def test_cancel_sends_only_reasons_stripe_accepts(http: StubHTTP, payments: StripePayments) -> None:
    http.answers += [(200, pi_body("canceled")), (200, pi_body("canceled"))]
    payments.cancel("pi_1", reason="abandoned")
    payments.cancel("pi_1", reason="host rejected")
    assert [s.form["cancellation_reason"] for s in http.sent] == [["abandoned"], ["requested_by_customer"]]


def test_capturing_twice_returns_the_captured_payment(http: StubHTTP, payments: StripePayments) -> None:
    http.answers += [error(400, "invalid_request_error", "payment_intent_unexpected_state"),
                     (200, pi_body("succeeded", amount_received=2300))]
    assert payments.capture("pi_1", idempotency_key="booking:bk1:capture").status == "succeeded"


# ---- secrets stay secret ----------------------------------------------------------------------
def test_neither_key_nor_client_secret_reaches_logs_or_reprs(http: StubHTTP, payments: StripePayments,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    http.answers += [error(402, "card_error", "card_declined", decline_code="generic_decline"), (200, pi_body())]
    with pytest.raises(PaymentDeclined):
        create(payments)
    info = create(payments, booking_id="bk2")
    output = capsys.readouterr()
    assert SECRET not in output.out + output.err
    assert SECRET not in repr(payments)
    assert "pi_1_secret_abc" not in repr(info)


def test_one_stripe_client_per_process_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stripe_adapter, "_clients", {})
    first = StripePayments(SECRET, "pk", "http://a.invalid").client
    again = StripePayments(SECRET, "pk", "http://a.invalid").client
    other = StripePayments(SECRET, "pk", "http://b.invalid").client
    assert first is again and first is not other
    with pytest.raises(ValueError, match="secret key"):
        StripePayments("", "pk")


@pytest.mark.parametrize(("fee", "part", "total", "expected"), [
    (300, 1300, 2300, 169), (300, 2300, 2300, 300), (300, 0, 2300, 0), (0, 100, 100, 0), (7, 1, 3, 2),
])
def test_the_fee_on_a_partial_capture_is_proportional_and_rounds_down(fee: int, part: int, total: int,
                                                                       expected: int) -> None:
    assert proportional_fee(fee, part, total) == expected


def test_negative_refunds_are_refused(http: StubHTTP, payments: StripePayments) -> None:
    with pytest.raises(InvalidInput):
        payments.settle_cancellation("pi_1", refund_cents=-1, idempotency_key="k")
    with pytest.raises(InvalidInput):
        payments.refund("pi_1", amount_cents=0, idempotency_key="k")


@pytest.fixture(autouse=True)
def _forget_clients() -> Iterator[None]:
    yield
    stripe_adapter._clients.clear()
