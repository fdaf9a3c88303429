"""The reconciler's decisions (a pure matrix) and a run over fakes: every mend reuses the booking
engine's idempotency keys, and a mended payment leaves the watch list."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from driveway_hub.domain.booking_status import Status
from driveway_hub.payments.errors import StripeUnavailable
from driveway_hub.payments.ports import PaymentIntentInfo, Watch
from driveway_hub.payments.reconciler import Mend, decide, reconcile
from tests.unit.test_payments_fakes import T0, World, booking, intent

NOW = int(T0.timestamp())
FAR = NOW + 6 * 86400  # a fresh hold
SOON = NOW + 3600  # a hold that lapses within the margin
PENDING_REFUND = {"refund": {"amount_cents": 1150, "currency": "usd", "status": "pending"}}
DONE_REFUND = {"refund": {"amount_cents": 1150, "currency": "usd", "status": "succeeded"}}
# A cancelled booking with an extension: the refund split over both PaymentIntents (domain.bookings.refund_parts).
SPLIT_REFUND = {"refund": {"amount_cents": 1150, "currency": "usd", "status": "pending",
                           "parts": {"pi_1": 1000, "pi_ext": 150}}}


def failed() -> PaymentIntentInfo:
    return intent("requires_payment_method", last_error_code="card_declined")


# (booking status, details, PaymentIntent, main?, expected Mend)
MATRIX: list[tuple[str, dict[str, Any], PaymentIntentInfo, bool, Mend]] = [
    # never paid
    ("PENDING_PAYMENT", {}, intent("requires_payment_method"), True, Mend("none", done=False)),
    ("PENDING_PAYMENT", {}, failed(), True, Mend("observe_failed", done=False)),
    ("EXPIRED", {}, intent("requires_payment_method"), True, Mend("cancel", done=True)),
    ("PAYMENT_FAILED", {}, intent("requires_action"), True, Mend("cancel", done=True)),
    ("CANCELLED", {}, intent("processing"), True, Mend("none", done=False)),
    ("CONFIRMED", {}, intent("requires_payment_method"), True,
     Mend("flag", done=True, problem="confirmed_without_payment")),
    ("CONFIRMED", {}, intent("requires_payment_method", kind="extension"), False, Mend("none", done=False)),
    # held
    ("PENDING_PAYMENT", {}, intent("requires_capture", capture_before=FAR), True, Mend("observe_paid", done=False)),
    ("EXPIRED", {}, intent("requires_capture", capture_before=FAR), True, Mend("cancel", done=True)),
    ("REJECTED", {}, intent("requires_capture", capture_before=FAR), True, Mend("cancel", done=True)),
    ("CANCELLED", PENDING_REFUND, intent("requires_capture", capture_before=FAR), True,
     Mend("settle", done=True, key="booking:bk1:cancel", refund_cents=1150)),
    ("CANCELLED", DONE_REFUND, intent("requires_capture", capture_before=FAR), True, Mend("none", done=True)),
    ("CANCELLED", {}, intent("requires_capture", capture_before=FAR), True,
     Mend("settle", done=True, key="booking:bk1:settle:CANCELLED", refund_cents=2300)),
    ("CANCELLED", {}, intent("requires_capture", kind="extension", pi_id="pi_ext"), False,
     Mend("flag", done=True, problem="extension_held_on_cancelled_booking")),
    ("CANCELLED", SPLIT_REFUND, intent("requires_capture", kind="extension", pi_id="pi_ext"), False,
     Mend("settle", done=True, key="booking:bk1:cancel:pi_ext", refund_cents=150)),
    ("CANCELLED", SPLIT_REFUND, intent("requires_capture", capture_before=FAR), True,
     Mend("settle", done=True, key="booking:bk1:cancel", refund_cents=1000)),
    ("CANCELLED", SPLIT_REFUND, intent("succeeded", kind="extension", pi_id="pi_ext"), False,
     Mend("settle", done=True, key="booking:bk1:cancel:pi_ext", refund_cents=150)),
    ("COMPLETED", {}, intent("requires_capture", capture_before=FAR), True,
     Mend("capture", done=True, key="booking:bk1:capture")),
    ("NO_SHOW", {}, intent("requires_capture", capture_before=FAR), True,
     Mend("flag", done=True, problem="no_show_hold_unsettled")),
    ("CONFIRMED", {}, intent("requires_capture", capture_before=FAR), True, Mend("none", done=False)),
    ("CONFIRMED", {}, intent("requires_capture", capture_before=SOON), True,
     Mend("capture", done=True, key="booking:bk1:capture")),
    ("PARKED", {}, intent("requires_capture", capture_before=SOON, kind="extension", pi_id="pi_ext"), False,
     Mend("capture", done=True, key="pi_ext:capture")),
    ("AWAITING_APPROVAL", {}, intent("requires_capture", capture_before=SOON), True,
     Mend("flag", done=False, problem="hold_expiring_awaiting_approval")),
    # captured
    ("PENDING_PAYMENT", {}, intent("succeeded"), True, Mend("none", done=True)),
    ("COMPLETED", {}, intent("succeeded"), True, Mend("none", done=True)),
    ("CANCELLED", PENDING_REFUND, intent("succeeded"), True,
     Mend("settle", done=True, key="booking:bk1:cancel", refund_cents=1150)),
    ("CANCELLED", {}, intent("succeeded", amount_refunded=300), True,
     Mend("settle", done=True, key="booking:bk1:settle:CANCELLED", refund_cents=2000)),
    ("EXPIRED", {}, intent("succeeded"), True,
     Mend("settle", done=True, key="booking:bk1:settle:EXPIRED", refund_cents=2300)),
    # cancelled at Stripe
    ("PENDING_PAYMENT", {}, intent("canceled"), True, Mend("observe_failed", done=True)),
    ("CONFIRMED", {}, intent("canceled", cancellation_reason="automatic"), True,
     Mend("flag", done=True, problem="hold_expired")),
    ("PARKED", {}, intent("canceled", cancellation_reason="fraudulent"), True,
     Mend("flag", done=True, problem="payment_canceled")),
    ("CANCELLED", {}, intent("canceled"), True, Mend("none", done=True)),
]


@pytest.mark.parametrize(("status", "details", "pi", "main", "expected"), MATRIX,
                         ids=[f"{m[0]}-{m[2].kind}-{m[2].status}-{i}" for i, m in enumerate(MATRIX)])
def test_decide(status: str, details: dict[str, Any], pi: PaymentIntentInfo, main: bool, expected: Mend) -> None:
    assert decide(booking_id="bk1", status=Status(status), details=details, intent=pi, main=main,
                  now_s=NOW) == expected


def test_every_booking_status_and_payment_status_has_a_decision() -> None:
    for status in Status:
        for pi_status in ("requires_payment_method", "requires_confirmation", "requires_action", "processing",
                          "requires_capture", "succeeded", "canceled"):
            for main in (True, False):
                mend = decide(booking_id="bk1", status=status, details={}, intent=intent(pi_status), main=main,
                              now_s=NOW)
                assert mend.action in {"none", "observe_paid", "observe_failed", "cancel", "capture", "settle",
                                       "flag"}


# ---- a run ---------------------------------------------------------------------------------------
def watch(world: World, status: str, pi: PaymentIntentInfo, booking_id: str = "bk1", **kwargs: Any) -> None:
    world.bookings.add(booking(status, booking_id=booking_id, pi_id=pi.id, **kwargs))
    world.stripe.put(replace(pi, metadata={"booking_id": booking_id, "kind": pi.kind}))
    world.records.watch(Watch(pi.id, booking_id, NOW))


def test_a_run_mends_each_disagreement_and_forgets_what_is_settled() -> None:
    world = World()
    watch(world, "PENDING_PAYMENT", intent("requires_capture", pi_id="pi_paid", capture_before=FAR), "bk_paid")
    world.bookings.park_token("bk_paid", "payment", "token-paid", T0)
    watch(world, "EXPIRED", intent("requires_capture", pi_id="pi_expired", capture_before=FAR), "bk_expired")
    watch(world, "CANCELLED", intent("succeeded", pi_id="pi_refund"), "bk_refund", details=dict(PENDING_REFUND))
    watch(world, "COMPLETED", intent("succeeded", pi_id="pi_fine"), "bk_fine")

    report = reconcile(world.effects, T0)

    assert report.actions == {"observe_paid": 1, "cancel": 1, "settle": 1, "none": 1}
    assert world.workflow.resumed == [("token-paid", {"payment_intent_id": "pi_paid",
                                                      "payment_status": "requires_capture"})]
    assert ("cancel", "pi_expired", "abandoned") in world.stripe.calls
    assert ("settle", "pi_refund", (1150, "booking:bk_refund:cancel")) in world.stripe.calls
    refund = world.bookings.items["bk_refund"].details["refund"]
    assert refund["status"] == "succeeded"
    assert set(world.records.watches) == {"pi_paid"}  # still moving: checked again later
    assert world.records.watches["pi_paid"].check_after > NOW

    again = reconcile(world.effects, T0)
    assert again.checked == 0  # nothing due: the second run does nothing


def test_stripe_down_defers_an_item_and_the_others_still_run() -> None:
    world = World()
    watch(world, "EXPIRED", intent("requires_capture", pi_id="pi_a"), "bk_a")
    watch(world, "EXPIRED", intent("requires_capture", pi_id="pi_b"), "bk_b")
    real_cancel = world.stripe.cancel

    def cancel(pi_id: str, *, reason: str) -> PaymentIntentInfo:
        if pi_id == "pi_a":
            raise StripeUnavailable("down")
        return real_cancel(pi_id, reason=reason)

    world.stripe.cancel = cancel  # type: ignore[method-assign]
    report = reconcile(world.effects, T0)
    assert (report.deferred, report.actions) == (1, {"cancel": 1})
    assert "pi_a" in world.records.watches and "pi_b" not in world.records.watches


def test_undelivered_events_are_replayed_through_the_handler() -> None:
    world = World()
    world.stripe.events = [{"id": "evt_lost", "type": "payment_intent.succeeded"}]
    replayed: list[str] = []

    def replay(event: dict[str, Any]) -> str:
        replayed.append(event["id"])
        return "applied"

    report = reconcile(world.effects, T0, replay=replay)
    assert replayed == ["evt_lost"] and report.replayed == 1


def test_a_booking_that_no_longer_exists_leaves_the_watch_list() -> None:
    world = World()
    world.stripe.put(intent("succeeded", pi_id="pi_orphan"))
    world.records.watch(Watch("pi_orphan", "bk_gone", NOW))
    assert reconcile(world.effects, T0).actions == {"gone": 1}
    assert world.records.watches == {}
