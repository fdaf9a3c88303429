"""Webhook verification and once-only processing: every rejection is a 400 that changes nothing."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import driveway_hub.payments.runtime as runtime
from driveway_hub.http import status_for
from driveway_hub.payments.errors import WebhookInProgress, WebhookRejected
from driveway_hub.payments.webhooks import WebhookReceiver, header, raw_body, verify
from functions.payments import stripe_connect_webhook, stripe_webhook
from local.fake_stripe import signature_header
from local.lambda_runtime import LocalLambdaContext
from tests.unit.test_payments_fakes import T0, FakeWebhookEvents

PLATFORM_SECRET = "whsec_unit_platform"
CONNECT_SECRET = "whsec_unit_connect"
EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


def stripe_payload(event_id: str = "evt_1", event_type: str = "payment_intent.succeeded",
                   account: str | None = None) -> str:
    event: dict[str, Any] = {"id": event_id, "object": "event", "type": event_type, "created": int(time.time()),
                             "data": {"object": {"id": "pi_1", "object": "payment_intent"}}}
    if account:
        event["account"] = account
    return json.dumps(event, indent=2)  # Stripe pretty-prints: re-serialising changes the bytes


def signed(payload: str, secret: str = PLATFORM_SECRET, at: int | None = None) -> str:
    return signature_header(payload, secret, int(time.time()) if at is None else at)


class Recorder:
    def __init__(self, fail_times: int = 0) -> None:
        self.applied: list[str] = []
        self.fail_times = fail_times

    def __call__(self, event: dict[str, Any], now: datetime) -> str:
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("downstream failed")
        self.applied.append(event["id"])
        return "applied"


def receiver(endpoint: str = "platform", apply: Callable[[dict[str, Any], datetime], str] | None = None,
             events: FakeWebhookEvents | None = None) -> WebhookReceiver:
    secret = PLATFORM_SECRET if endpoint == "platform" else CONNECT_SECRET
    return WebhookReceiver(endpoint, secret, events or FakeWebhookEvents(), apply or Recorder())  # type: ignore[arg-type]


# ---- rejections: 400, nothing recorded, nothing applied ---------------------------------------------
REJECTIONS: dict[str, Callable[[str], tuple[bytes, str | None]]] = {
    "wrong secret": lambda p: (p.encode(), signed(p, "whsec_someone_else")),
    "connect secret on the platform endpoint": lambda p: (p.encode(), signed(p, CONNECT_SECRET)),
    "stale timestamp": lambda p: (p.encode(), signed(p, at=int(time.time()) - 301)),
    "re-serialised body": lambda p: (json.dumps(json.loads(p)).encode(), signed(p)),
    "altered body": lambda p: (p.replace("succeeded", "canceled").encode(), signed(p)),
    "missing header": lambda p: (p.encode(), None),
    "garbage header": lambda p: (p.encode(), "nonsense"),
}


@pytest.mark.parametrize("case", REJECTIONS, ids=list(REJECTIONS))
def test_a_webhook_that_does_not_verify_is_rejected_and_changes_nothing(case: str) -> None:
    apply, events = Recorder(), FakeWebhookEvents()
    body, signature = REJECTIONS[case](stripe_payload())
    with pytest.raises(WebhookRejected) as caught:
        receiver(apply=apply, events=events).receive(body, signature, now=T0)
    assert status_for(caught.value) == 400 and caught.value.code == "invalid_signature"
    assert apply.applied == [] and events.states == {}


def test_a_validly_signed_body_that_is_not_an_event_is_rejected() -> None:
    body = "not json"
    with pytest.raises(WebhookRejected):
        verify(body.encode(), signed(body), PLATFORM_SECRET)


def test_the_platform_secret_does_not_open_the_connect_endpoint() -> None:
    payload = stripe_payload(event_type="account.updated", account="acct_1")
    with pytest.raises(WebhookRejected):
        receiver("connect").receive(payload.encode(), signed(payload, PLATFORM_SECRET), now=T0)


def test_a_missing_secret_is_our_fault_not_the_callers() -> None:
    payload = stripe_payload()
    with pytest.raises(RuntimeError, match="not configured"):
        verify(payload.encode(), signed(payload), "")


# ---- raw body and header extraction --------------------------------------------------------------
def test_a_base64_body_is_verified_as_the_bytes_sent() -> None:
    payload = stripe_payload()
    event = {"body": base64.b64encode(payload.encode()).decode(), "isBase64Encoded": True,
             "headers": {"STRIPE-SIGNATURE": signed(payload)}}
    verified = verify(raw_body(event), header(event, "Stripe-Signature"), PLATFORM_SECRET)
    assert verified["id"] == "evt_1"


def test_headers_are_found_whatever_their_case_and_in_multi_value_form() -> None:
    assert header({"headers": {"stripe-signature": "a"}}, "Stripe-Signature") == "a"
    assert header({"headers": None, "multiValueHeaders": {"Stripe-Signature": ["x", "b"]}}, "stripe-signature") == "b"
    assert header({}, "Stripe-Signature") is None


def test_bad_base64_is_a_rejection() -> None:
    with pytest.raises(WebhookRejected):
        raw_body({"body": "***", "isBase64Encoded": True})


# ---- once per event id ---------------------------------------------------------------------------
def test_a_duplicate_delivery_answers_ok_and_does_nothing() -> None:
    apply = Recorder()
    hook = receiver(apply=apply)
    payload = stripe_payload()
    first = hook.receive(payload.encode(), signed(payload), now=T0)
    again = hook.receive(payload.encode(), signed(payload), now=T0)
    assert (first.duplicate, again.duplicate) == (False, True)
    assert apply.applied == ["evt_1"]


def test_a_failed_processing_is_released_so_stripes_retry_processes_it() -> None:
    apply, events = Recorder(fail_times=1), FakeWebhookEvents()
    hook = receiver(apply=apply, events=events)
    payload = stripe_payload()
    with pytest.raises(RuntimeError):
        hook.receive(payload.encode(), signed(payload), now=T0)
    assert events.states == {}
    assert not hook.receive(payload.encode(), signed(payload), now=T0).duplicate
    assert apply.applied == ["evt_1"]


def test_a_delivery_racing_another_of_the_same_event_is_told_to_retry() -> None:
    events = FakeWebhookEvents({"evt_1": "processing"})
    payload = stripe_payload()
    with pytest.raises(WebhookInProgress) as caught:
        receiver(events=events).receive(payload.encode(), signed(payload), now=T0)
    assert status_for(caught.value) == 409


def test_an_event_for_the_other_endpoint_is_acknowledged_and_ignored() -> None:
    apply, events = Recorder(), FakeWebhookEvents()
    payload = stripe_payload(event_type="account.updated", account="acct_1")
    receipt = receiver(apply=apply, events=events).receive(payload.encode(), signed(payload), now=T0)
    assert receipt.outcome == "ignored: wrong endpoint"
    assert apply.applied == [] and events.states == {}


# ---- the thin handlers ----------------------------------------------------------------------------
def _invoke(module: Any, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = module.handler(event, LocalLambdaContext(function_name="unit"))
    return result


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    apply = Recorder()
    receivers = {"platform": receiver("platform", apply), "connect": receiver("connect", apply)}
    monkeypatch.setattr(stripe_webhook, "get_settings", lambda: None)
    monkeypatch.setattr(stripe_connect_webhook, "get_settings", lambda: None)
    monkeypatch.setattr(runtime, "webhook_receiver", lambda settings, endpoint: receivers[endpoint])
    return {"apply": apply}


def test_the_sample_event_is_refused_as_a_stale_replay(wired: dict[str, Any]) -> None:
    sample = json.loads((EVENTS_DIR / "stripe_webhook.json").read_text())
    response = _invoke(stripe_webhook, sample)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "invalid_signature"
    assert wired["apply"].applied == []


def test_the_platform_handler_applies_a_signed_event(wired: dict[str, Any]) -> None:
    sample = json.loads((EVENTS_DIR / "stripe_webhook.json").read_text())
    payload = stripe_payload("evt_handler")
    sample.update(body=payload, headers={"stripe-signature": signed(payload)}, multiValueHeaders=None)
    response = _invoke(stripe_webhook, sample)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"received": True, "duplicate": False}
    assert wired["apply"].applied == ["evt_handler"]


def test_the_connect_handler_uses_the_connect_secret(wired: dict[str, Any]) -> None:
    sample = json.loads((EVENTS_DIR / "stripe_connect_webhook.json").read_text())
    payload = stripe_payload("evt_connect", "account.updated", account="acct_1")
    sample.update(body=payload, headers={"Stripe-Signature": signed(payload, CONNECT_SECRET)}, multiValueHeaders=None)
    assert _invoke(stripe_connect_webhook, sample)["statusCode"] == 200
    sample.update(headers={"Stripe-Signature": signed(payload, PLATFORM_SECRET)})
    assert _invoke(stripe_connect_webhook, sample)["statusCode"] == 400
    assert wired["apply"].applied == ["evt_connect"]
