"""Stripe webhooks end to end in the local cloud: the fake Stripe signs and POSTs real webhooks to the
local API Gateway, our handler verifies them, records payments in DynamoDB (moto) and resumes a real
Step Functions task token (moto executing a small ASL whose waitForTaskToken task parks its token on
the booking, as the booking lifecycle's payment step does).

Covers the routes stripe_webhook and payments_reconciler.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import pytest
import requests

from driveway_hub import booking_runtime
from driveway_hub.adapters.workflow import StepFunctionsWorkflow
from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.data.base import bind_models
from driveway_hub.data.bookings import Booking, BookingRepository
from driveway_hub.data.payments import DynamoPaymentRecords, WebhookEventItem
from driveway_hub.domain.booking_status import LIVE, Status
from driveway_hub.domain.bookings import resume_if_observed
from driveway_hub.payments import runtime, stripe_adapter
from driveway_hub.payments.ports import PaymentIntentInfo, PaymentRecord
from driveway_hub.payments.stripe_adapter import StripePayments
from functions.payments import reconciler
from local.cloud import LocalCloud
from local.fake_stripe import FakeStripe, signature_header
from local.lambda_runtime import LocalLambdaContext
from local.resources import create_function, create_service_role, create_state_machine, substitute
from tests.integration.conftest import wait_until

pytestmark = pytest.mark.integration
# Routes these tests exercise end to end (tests/unit/test_route_table.py checks every route is covered).
COVERS = ("stripe_webhook", "payments_reconciler")

REAL_SECONDS_LIMIT = 15.0
TOTAL, FEE = 2300, 300
PARK_FUNCTION = "pay-test-await-payment"
ASL = """{
  "Comment": "The booking lifecycle's payment step, alone: wait for the Stripe webhook to resume the token.",
  "StartAt": "WaitForPayment",
  "States": {
    "WaitForPayment": {
      "Type": "Task",
      "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
      "Parameters": {"FunctionName": "${Fn_park}",
                     "Payload": {"booking_id.$": "$.booking_id", "task_token.$": "$$.Task.Token"}},
      "TimeoutSeconds": 3600,
      "ResultPath": "$.payment",
      "Catch": [{"ErrorEquals": ["PaymentFailed"], "ResultPath": "$.error", "Next": "PaymentFailed"}],
      "Next": "Paid"
    },
    "Paid": {"Type": "Pass", "Result": "PAID", "ResultPath": "$.status", "End": true},
    "PaymentFailed": {"Type": "Pass", "Result": "PAYMENT_FAILED", "ResultPath": "$.status", "End": true}
  }
}"""


def park_payment_token(event: dict[str, Any], context: Any) -> None:
    """The payment step's task: park the token on the booking, then resume at once if paid already."""
    ctx = booking_runtime.context(get_settings())
    ctx.bookings.park_token(event["booking_id"], "payment", event["task_token"], utcnow())
    resume_if_observed(ctx, event["booking_id"], "payment")


@dataclass
class PaymentsCloud:
    cloud: LocalCloud
    fake: FakeStripe
    stripe_base: str
    api: str
    secrets: dict[str, str]
    payments: StripePayments
    host_account: str
    machine_arn: str
    bookings: BookingRepository
    records: DynamoPaymentRecords

    # ---- bookings and payments -----------------------------------------------------------------
    def booking(self, status: str = "PENDING_PAYMENT", *, manual: bool = True, driver_id: str = "driver-1",
                host_id: str = "host-1", host_account: str | None = None) -> tuple[Booking, PaymentIntentInfo]:
        booking_id = f"bk_{uuid.uuid4().hex}"
        now = utcnow()
        start = now + timedelta(days=1)
        item = Booking(booking_id, driveway_id=f"dw-{uuid.uuid4().hex[:8]}", host_id=host_id, driver_id=driver_id,
                       start_at=start.isoformat(), end_at=(start + timedelta(hours=2)).isoformat(), status=status,
                       currency="usd", subtotal_cents=TOTAL - FEE, platform_fee_cents=FEE, total_cents=TOTAL,
                       created_at=now.isoformat(), updated_at=now.isoformat(),
                       capture_method="manual" if manual else "automatic")
        self.bookings.reserve(item, by=driver_id, now=now, is_free=lambda _others: True)
        pi = self.payments.create_booking_payment(
            booking_id=booking_id, amount_cents=TOTAL, currency="usd", platform_fee_cents=FEE,
            host_account_id=host_account or self.host_account, capture_manual=manual,
            metadata={"booking_id": booking_id, "driver_id": driver_id})
        self.bookings.update_fields(self.bookings.get(booking_id, consistent=True), now, payment_intent_id=pi.id)
        return self.bookings.get(booking_id, consistent=True), pi

    def confirm(self, pi: PaymentIntentInfo, card: str = "pm_card_visa") -> requests.Response:
        return requests.post(f"{self.stripe_base}/v1/payment_intents/{pi.id}/confirm",
                             data={"payment_method": card, "client_secret": pi.client_secret},
                             headers={"Authorization": f"Bearer {self.secrets['publishable_key']}"}, timeout=10)

    def delivered(self) -> None:
        assert self.fake.wait_for_deliveries(timeout=REAL_SECONDS_LIMIT), "webhooks still in flight"

    def payment_rows(self, booking_id: str) -> dict[str, PaymentRecord]:
        return {r.payment_id: r for r in self.records.for_booking(booking_id)}

    # ---- the waiting step -----------------------------------------------------------------------
    def start_waiting(self, booking_id: str, *, parked: bool = True) -> str:
        sfn = self.cloud.client("stepfunctions")
        arn: str = sfn.start_execution(stateMachineArn=self.machine_arn, name=f"pay-{booking_id}",
                                       input=json.dumps({"booking_id": booking_id}))["executionArn"]
        if parked:
            wait_until(lambda: self.bookings.get(booking_id, consistent=True).waiting_for == "payment",
                       "the payment token to be parked")
        return arn

    def finished(self, execution_arn: str) -> dict[str, Any]:
        sfn = self.cloud.client("stepfunctions")
        result: dict[str, Any] = {}

        def stopped() -> bool:
            result.update(sfn.describe_execution(executionArn=execution_arn))
            return bool(result["status"] != "RUNNING")

        wait_until(stopped, f"execution {execution_arn}")
        return result


@contextmanager
def payments_cloud(local_cloud: LocalCloud) -> Iterator[PaymentsCloud]:
    """The local cloud's own fake Stripe (LocalCloud wires it: webhook endpoints = the gateway's two Stripe
    routes with the secrets from Secrets Manager, STRIPE_API_BASE for the handlers), an onboarded host
    and a one-step state machine whose waitForTaskToken task parks its token on the booking."""
    resources, fake = local_cloud.resources, local_cloud.stripe
    assert resources is not None and local_cloud.moto is not None and fake is not None
    secrets: dict[str, str] = json.loads(local_cloud.client("secretsmanager").get_secret_value(
        SecretId=resources.secret_ids["stripe"])["SecretString"])
    settings = get_settings()
    assert settings.stripe_api_base, "LocalCloud sets STRIPE_API_BASE"
    bind_models(settings)
    payments = runtime.stripe_payments(settings)
    account = payments.create_host_account(user_id="host-1", email=None)
    fake.complete_onboarding(account)
    role = create_service_role(local_cloud.client("iam"), "pay-test-lambda", "lambda.amazonaws.com")
    function_arn = create_function(local_cloud.client("lambda"), PARK_FUNCTION, f"{__name__}.park_payment_token", role)
    local_cloud.moto.add_handler(PARK_FUNCTION, park_payment_token)
    states_role = create_service_role(local_cloud.client("iam"), "pay-test-states", "states.amazonaws.com")
    machine = create_state_machine(local_cloud.client("stepfunctions"), "pay-test-payment-step",
                                   substitute(ASL, {"Fn_park": function_arn}), states_role)
    try:
        yield PaymentsCloud(local_cloud, fake, settings.stripe_api_base, str(local_cloud.urls["rest"]), secrets,
                            payments, account, machine,
                            BookingRepository(settings.region, settings.aws_endpoint_url), DynamoPaymentRecords())
    finally:
        local_cloud.moto.remove_handler(PARK_FUNCTION)
        stripe_adapter._clients.clear()


@pytest.fixture(scope="module")
def pc(local_cloud: LocalCloud) -> Iterator[PaymentsCloud]:
    with payments_cloud(local_cloud) as cloud:
        yield cloud


@pytest.fixture
def resumes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every send_task_success our code makes (the real call still happens)."""
    calls: list[dict[str, Any]] = []
    original = StepFunctionsWorkflow.resume

    def spy(self: StepFunctionsWorkflow, token: str, output: dict[str, Any]) -> bool:
        calls.append(output)
        return original(self, token, output)

    monkeypatch.setattr(StepFunctionsWorkflow, "resume", spy)
    return calls


@pytest.fixture(autouse=True)
def calm_delivery(pc: PaymentsCloud) -> Iterator[None]:
    yield
    pc.fake.set_chaos(duplicate=False, reorder_batch=0, retry=True)


# ---- the payment step ------------------------------------------------------------------------------
def test_an_authorized_payment_resumes_the_payment_step_exactly_once(pc: PaymentsCloud,
                                                                     resumes: list[dict[str, Any]]) -> None:
    pc.fake.set_chaos(duplicate=True)  # every event delivered twice
    booking, pi = pc.booking()
    execution = pc.start_waiting(booking.booking_id)
    assert pc.confirm(pi).json()["status"] == "requires_capture"
    pc.delivered()

    result = pc.finished(execution)
    assert result["status"] == "SUCCEEDED"
    output = json.loads(result["output"])
    assert output["status"] == "PAID"
    assert output["payment"] == {"payment_intent_id": pi.id, "payment_status": "requires_capture"}
    assert resumes == [{"payment_intent_id": pi.id, "payment_status": "requires_capture"}]
    assert pc.bookings.get(booking.booking_id, consistent=True).task_token is None
    row = pc.payment_rows(booking.booking_id)[pi.id]
    assert (row.status, row.kind, row.user_id, row.amount_cents) == ("requires_capture", "charge", "driver-1", TOTAL)
    attempts = [d for d in pc.fake.deliveries if d.event_id in {e["id"] for e in pc.fake.events()}]
    assert attempts and all(d.succeeded for d in attempts)


def test_a_webhook_before_the_token_is_parked_is_resumed_by_the_step(pc: PaymentsCloud,
                                                                     resumes: list[dict[str, Any]]) -> None:
    booking, pi = pc.booking()
    pc.confirm(pi)
    pc.delivered()  # paid while nothing waits yet: the fact is kept on the booking
    execution = pc.start_waiting(booking.booking_id, parked=False)
    assert pc.finished(execution)["status"] == "SUCCEEDED"
    assert resumes == [{"payment_intent_id": pi.id, "payment_status": "requires_capture"}]


def test_a_declined_card_fails_the_payment_step(pc: PaymentsCloud) -> None:
    booking, pi = pc.booking()
    execution = pc.start_waiting(booking.booking_id)
    answer = pc.confirm(pi, "pm_card_chargeDeclined")
    assert answer.status_code == 402 and answer.json()["error"]["code"] == "card_declined"
    pc.delivered()
    result = pc.finished(execution)
    output = json.loads(result["output"])
    assert output["status"] == "PAYMENT_FAILED"
    assert output["error"]["Error"] == "PaymentFailed"  # (moto 5.2.5 drops the Cause of send_task_failure)
    assert pc.payment_rows(booking.booking_id)[pi.id].last_error_code == "generic_decline"


def test_duplicates_and_reverse_order_converge_with_one_capture_and_one_refund(
    pc: PaymentsCloud, resumes: list[dict[str, Any]]
) -> None:
    pc.fake.set_chaos(duplicate=True, reorder_batch=3)  # twice each, held in threes and sent newest first
    booking, pi = pc.booking()
    execution = pc.start_waiting(booking.booking_id)
    pc.confirm(pi)
    pc.payments.capture(pi.id, idempotency_key=f"booking:{booking.booking_id}:capture")
    pc.payments.capture(pi.id, idempotency_key=f"booking:{booking.booking_id}:capture")
    for _ in range(2):
        pc.payments.settle_cancellation(pi.id, refund_cents=500, idempotency_key=f"booking:{booking.booking_id}:cancel")
    pc.delivered()

    assert pc.finished(execution)["status"] == "SUCCEEDED"
    assert len(resumes) == 1 and resumes[0]["payment_intent_id"] == pi.id
    rows = pc.payment_rows(booking.booking_id)
    assert rows[pi.id].status == "succeeded" and rows[pi.id].amount_refunded_cents == 500
    refunds = [r for r in rows.values() if r.kind == "refund"]
    assert [(r.status, r.amount_cents, r.payment_intent_id) for r in refunds] == [("succeeded", 500, pi.id)]
    mine = [e for e in pc.fake.events() if e["data"]["object"].get("payment_intent") == pi.id]
    assert len([e for e in mine if e["type"] == "charge.captured"]) == 1
    assert len([e for e in mine if e["type"] == "refund.created"]) == 1
    assert all(d.succeeded for d in pc.fake.deliveries)


def test_refund_failures_and_disputes_are_recorded(pc: PaymentsCloud) -> None:
    booking, pi = pc.booking(manual=False)
    pc.confirm(pi)
    settled = pc.payments.settle_cancellation(pi.id, refund_cents=700, idempotency_key="ops:refund")
    assert settled.refund is not None
    pc.delivered()
    pc.fake.fail_refund(settled.refund.id)
    pc.fake.open_dispute(pi.id)
    pc.delivered()
    rows = pc.payment_rows(booking.booking_id)
    assert rows[settled.refund.id].status == "failed"
    disputes = [r for r in rows.values() if r.kind == "dispute"]
    assert len(disputes) == 1 and disputes[0].user_id is None and disputes[0].payment_intent_id == pi.id


# ---- rejections: 400 and nothing changes ---------------------------------------------------------------
def _post(pc: PaymentsCloud, body: bytes, signature: str | None, path: str = "/webhooks/stripe") -> requests.Response:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return requests.post(f"{pc.api}{path}", data=body, headers=headers, timeout=10)


def _state(pc: PaymentsCloud, booking_id: str) -> tuple[int, list[tuple[str, str]], str | None]:
    events = sum(1 for _ in WebhookEventItem.scan())  # test-only Scan: counts what was recorded
    rows = sorted((r.payment_id, r.status) for r in pc.records.for_booking(booking_id))
    return events, rows, pc.bookings.get(booking_id, consistent=True).task_token


def test_webhooks_that_do_not_verify_are_400_and_change_nothing(pc: PaymentsCloud) -> None:
    booking, pi = pc.booking()
    pc.start_waiting(booking.booking_id)
    # A genuine, current event about this payment, as Stripe would sign it.
    event = {"id": f"evt_forged_{uuid.uuid4().hex[:8]}", "object": "event", "type": "payment_intent.succeeded",
             "created": int(time.time()), "data": {"object": {"id": pi.id, "object": "payment_intent"}}}
    payload = json.dumps(event, indent=2)
    now = int(time.time())
    platform, connect = pc.secrets["webhook_secret"], pc.secrets["connect_webhook_secret"]
    cases = {
        "wrong secret": (payload.encode(), signature_header(payload, "whsec_attacker", now)),
        "connect secret on platform endpoint": (payload.encode(), signature_header(payload, connect, now)),
        "stale timestamp": (payload.encode(), signature_header(payload, platform, now - 600)),
        "re-serialised body": (json.dumps(event).encode(), signature_header(payload, platform, now)),
        "missing signature": (payload.encode(), None),
    }
    before = _state(pc, booking.booking_id)
    for case, (body, signature) in cases.items():
        response = _post(pc, body, signature)
        assert response.status_code == 400, case
        assert response.json()["error"]["code"] == "invalid_signature", case
    assert _state(pc, booking.booking_id) == before
    assert _post(pc, payload.encode(), signature_header(payload, platform, now),
                 "/webhooks/stripe/connect").status_code == 400  # platform secret on the Connect endpoint
    # The same bytes correctly signed are accepted (so the rejections above were about the signature).
    assert _post(pc, payload.encode(), signature_header(payload, platform, now)).status_code == 200


# ---- the reconciler --------------------------------------------------------------------------------
def _run_reconciler() -> dict[str, Any]:
    context = cast(Any, LocalLambdaContext(function_name="payments_reconciler"))
    result: dict[str, Any] = reconciler.handler({}, context)
    return result


def test_the_reconciler_replays_lost_webhooks_and_resumes_the_step(pc: PaymentsCloud,
                                                                   resumes: list[dict[str, Any]]) -> None:
    booking, pi = pc.booking()
    execution = pc.start_waiting(booking.booking_id)
    pc.fake.set_chaos(retry=False)
    pc.fake.set_webhook_endpoint("platform", f"{pc.api}/nowhere", pc.secrets["webhook_secret"])
    try:
        pc.confirm(pi)
        pc.delivered()  # every attempt answered 404: Stripe keeps them as undelivered
    finally:
        pc.fake.set_webhook_endpoint("platform", f"{pc.api}/webhooks/stripe", pc.secrets["webhook_secret"])
    assert pc.bookings.get(booking.booking_id, consistent=True).task_token is not None

    report = _run_reconciler()
    assert report["replayed"] >= 1 and report["errors"] == 0
    assert pc.finished(execution)["status"] == "SUCCEEDED"
    assert resumes == [{"payment_intent_id": pi.id, "payment_status": "requires_capture"}]
    assert _run_reconciler()["replayed"] == report["replayed"]  # still listed by Stripe, but a duplicate now
    assert len(resumes) == 1


def test_the_reconciler_settles_a_cancelled_booking_whose_refund_is_pending(pc: PaymentsCloud) -> None:
    booking, pi = pc.booking()
    pc.confirm(pi)
    pc.delivered()
    # The cancellation went through but Stripe was down: the policy's refund is still owed.
    refund = {"amount_cents": 1000, "currency": "usd", "rule": "test", "status": "pending"}
    pc.bookings.transition(booking.booking_id, Status.CANCELLED, by="driver-1", reason="plans changed", now=utcnow(),
                           expected=frozenset(LIVE), updates={"details": {"refund": refund}})
    runtime.recheck_soon(get_settings(), payment_intent_id=pi.id, booking_id=booking.booking_id, now=utcnow())

    report = _run_reconciler()
    assert report["actions"].get("settle") == 1 and report["errors"] == 0
    settled = pc.payments.retrieve(pi.id)
    assert (settled.status, settled.amount_received) == ("succeeded", TOTAL - 1000)
    details = pc.bookings.get(booking.booking_id, consistent=True).details
    assert details is not None and details.as_dict()["refund"]["status"] == "succeeded"
    captures = len(pc.fake.events("charge.captured"))
    pc.delivered()
    _run_reconciler()
    _run_reconciler()
    assert len(pc.fake.events("charge.captured")) == captures  # mended once, never again
    assert pc.payments.retrieve(pi.id).amount_received == TOTAL - 1000


# ---- holds expire (last: it moves the local cloud's clock, which the fake Stripe follows) -------------
def test_an_expired_hold_flags_the_live_booking_for_follow_up(pc: PaymentsCloud) -> None:
    booking, pi = pc.booking("CONFIRMED")
    pc.confirm(pi)
    pc.delivered()
    pc.cloud.clock.advance(8 * 86400)  # Stripe releases an authorization after 7 days
    assert pi.id in pc.fake.expire_holds() or pc.payments.retrieve(pi.id).status == "canceled"
    pc.delivered()
    details = pc.bookings.get(booking.booking_id, consistent=True).details
    assert details is not None
    problem = details.as_dict()["payment_problem"]
    assert problem["problem"] == "hold_expired" and problem["payment_intent_id"] == pi.id
    assert pc.payment_rows(booking.booking_id)[pi.id].status == "canceled"
