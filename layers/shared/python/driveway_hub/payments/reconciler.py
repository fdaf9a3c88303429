"""The payment reconciler: finds PaymentIntents whose state disagrees with their booking, or whose hold
nears Stripe's ``capture_before``, and mends them. Runs on a schedule (EventBridge); idempotent.

Where it looks (no Scan): the watch list in the payments table (``data/payments.py``), fed by every
recorded PaymentIntent, plus Stripe's own list of events whose webhook was never acknowledged
(``events.list(delivery_success=false)``), replayed through the same de-duplicated handler. A
PaymentIntent whose every webhook was lost is therefore found by the replay. What it cannot see: a
PaymentIntent Stripe has no undelivered event for and we never recorded — possible only if
``payment_intent.created`` is not subscribed; keep it in the endpoint's enabled events.

Each decision is ``decide()``: a pure function of the booking's status and details and the
PaymentIntent, so the whole matrix is unit-tested. Every action reuses the idempotency keys of the
booking engine (``booking:<id>:capture``, ``booking:<id>:cancel``, ``booking:<id>:settle:<STATUS>``),
so the reconciler and a late lifecycle step can never both move the money.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from driveway_hub import business_metrics
from driveway_hub.domain.booking_status import LIVE, Status
from driveway_hub.domain.cancellation import NOT_CONFIRMED
from driveway_hub.errors import DomainError, NotFound
from driveway_hub.observability import logger
from driveway_hub.payments.errors import StripeUnavailable
from driveway_hub.payments.events import (
    HOLD_MARGIN_S,
    PAYMENT_STEP,
    PaymentEffects,
    booking_details,
    flag_booking,
    is_booking_payment,
    next_check,
)
from driveway_hub.payments.ports import PRE_AUTHORIZATION, PaymentIntentInfo, Watch

Action = Literal["none", "observe_paid", "observe_failed", "cancel", "capture", "settle", "flag"]
NOTHING_OWED = frozenset({Status.EXPIRED, Status.PAYMENT_FAILED, Status.REJECTED})
SERVICE_UNDER_WAY = frozenset({Status.CONFIRMED, Status.EN_ROUTE, Status.ARRIVED, Status.PARKING, Status.PARKED})


@dataclass(frozen=True)
class Mend:
    action: Action
    done: bool  # stop watching once this is done (the next webhook puts it back for one last check)
    key: str = ""
    refund_cents: int = 0
    problem: str = ""


def _wait() -> Mend:
    return Mend("none", done=False)


def decide(*, booking_id: str, status: Status, details: dict[str, Any], intent: PaymentIntentInfo, main: bool,
           now_s: int) -> Mend:
    """What to do about one PaymentIntent of one booking (see the module docstring)."""
    if intent.status in PRE_AUTHORIZATION or intent.status == "processing":
        return _unpaid(status, intent, main)
    if intent.status == "requires_capture":
        return _held(booking_id, status, details, intent, main, now_s)
    if intent.status == "succeeded":
        return _captured(booking_id, status, details, intent, main)
    # canceled
    if main and status is Status.PENDING_PAYMENT:
        return Mend("observe_failed", done=True)
    if main and status in LIVE:
        problem = "hold_expired" if intent.cancellation_reason == "automatic" else "payment_canceled"
        return Mend("flag", done=True, problem=problem)
    return Mend("none", done=True)


def _unpaid(status: Status, intent: PaymentIntentInfo, main: bool) -> Mend:
    if status not in LIVE:
        # Nothing was taken and nothing should be: release it (processing: wait until it settles).
        return _wait() if intent.status == "processing" else Mend("cancel", done=True)
    if status is Status.PENDING_PAYMENT:
        return Mend("observe_failed", done=False) if main and intent.failed_attempt else _wait()
    if main:
        # A booking past payment whose own payment never completed: should be impossible; people decide.
        return Mend("flag", done=True, problem="confirmed_without_payment")
    return _wait()  # an extension the driver has yet to pay


def _held(booking_id: str, status: Status, details: dict[str, Any], intent: PaymentIntentInfo, main: bool,
          now_s: int) -> Mend:
    capture_key = f"booking:{booking_id}:capture" if main else f"{intent.id}:capture"
    if status is Status.PENDING_PAYMENT:
        return Mend("observe_paid", done=False) if main else _wait()
    if status in NOTHING_OWED:
        return Mend("cancel", done=True)
    if status is Status.CANCELLED:
        return _settle_cancelled(booking_id, details, intent, main)
    if status is Status.COMPLETED:
        return Mend("capture", done=True, key=capture_key)
    if status is Status.NO_SHOW:
        return Mend("flag", done=True, problem="no_show_hold_unsettled")
    expiring = intent.capture_before is not None and intent.capture_before - now_s <= HOLD_MARGIN_S
    if not expiring:
        return _wait()
    if status in SERVICE_UNDER_WAY:
        # The booking is on and the hold is about to lapse: capture now; a later cancellation refunds.
        return Mend("capture", done=True, key=capture_key)
    return Mend("flag", done=False, problem="hold_expiring_awaiting_approval")


def _captured(booking_id: str, status: Status, details: dict[str, Any], intent: PaymentIntentInfo,
              main: bool) -> Mend:
    if status is Status.CANCELLED and (main or intent.id in _refund_parts(details)):
        return _settle_cancelled(booking_id, details, intent, main)
    if main and status in NOTHING_OWED:
        # Money taken for a booking that never happened (e.g. charged after the payment window closed).
        return Mend("settle", done=True, key=f"booking:{booking_id}:settle:{status.value}",
                    refund_cents=intent.amount_refundable)
    return Mend("none", done=True)


def _refund_parts(details: dict[str, Any]) -> dict[str, int]:
    refund = details.get("refund")
    parts = refund.get("parts") if isinstance(refund, dict) else None
    return {str(k): int(v) for k, v in parts.items()} if isinstance(parts, dict) else {}


def _settle_cancelled(booking_id: str, details: dict[str, Any], intent: PaymentIntentInfo, main: bool) -> Mend:
    """A cancelled booking: the policy's refund (cancel API; an extension's PaymentIntent its share,
    ``refund.parts``) or, for the lifecycle's compensation path, everything (its key). Settling twice with
    one key does nothing more, so "maybe already done" is safe."""
    refund = details.get("refund")
    parts = _refund_parts(details)
    if not main and intent.id not in parts:
        return Mend("flag", done=True, problem="extension_held_on_cancelled_booking")
    if isinstance(refund, dict) and "amount_cents" in refund:
        if refund.get("status") not in (None, "pending"):
            return Mend("none", done=True)
        key = f"booking:{booking_id}:cancel" if main else f"booking:{booking_id}:cancel:{intent.id}"
        return Mend("settle", done=True, key=key, refund_cents=parts.get(intent.id, int(refund["amount_cents"])))
    total = intent.amount_capturable if intent.status == "requires_capture" else intent.amount_refundable
    return Mend("settle", done=True, key=f"booking:{booking_id}:settle:CANCELLED", refund_cents=total)


# ---- running it ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReconcileReport:
    checked: int
    replayed: int
    actions: dict[str, int]
    deferred: int
    errors: int

    def to_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "replayed": self.replayed, "actions": self.actions,
                "deferred": self.deferred, "errors": self.errors}


def reconcile(fx: PaymentEffects, now: datetime, *, replay: Callable[[dict[str, Any]], str] | None = None,
              limit: int = 200) -> ReconcileReport:
    """One run: replay undelivered events, then check every watched PaymentIntent that is due."""
    replayed = 0
    if replay is not None:
        try:
            undelivered = fx.stripe.undelivered_events(limit=limit)
        except StripeUnavailable:
            logger.warning("reconciler: could not list undelivered events; next run")
            undelivered = []
        for event in undelivered:
            try:
                replay(event)
                replayed += 1
            except DomainError as exc:  # busy elsewhere, or Stripe down: the next run tries again
                logger.warning("reconciler: event not replayed", extra={"event_id": event.get("id"),
                                                                        "code": exc.code})
    actions: Counter[str] = Counter()
    deferred = errors = checked = 0
    for watch in fx.records.due_watches(int(now.timestamp()), limit=limit):
        checked += 1
        try:
            actions[mend(fx, watch, now)] += 1
        except StripeUnavailable:
            deferred += 1  # Stripe is down: the item stays due and the next run tries again
        except DomainError as exc:
            errors += 1
            fx.count(business_metrics.RECONCILER_ERRORS)
            logger.error("reconciler could not mend a payment", extra={
                "payment_intent_id": watch.payment_intent_id, "booking_id": watch.booking_id, "code": exc.code})
    report = ReconcileReport(checked, replayed, dict(actions), deferred, errors)
    logger.info("reconciler run", extra=report.to_dict())
    return report


def mend(fx: PaymentEffects, watch: Watch, now: datetime) -> str:
    """Check one watched PaymentIntent against its booking and act; answers the action taken."""
    try:
        booking = fx.bookings.get(watch.booking_id, consistent=True)
    except NotFound:
        fx.records.unwatch(watch.payment_intent_id)
        return "gone"
    intent = fx.stripe.retrieve(watch.payment_intent_id)
    fx.records.record_intent(intent, booking_id=booking.booking_id, user_id=booking.driver_id,
                             host_id=booking.host_id, now=now.isoformat())
    details = booking_details(booking)
    decision = decide(booking_id=booking.booking_id, status=Status(booking.status), details=details, intent=intent,
                      main=is_booking_payment(booking, intent), now_s=int(now.timestamp()))
    _execute(fx, booking, details, intent, decision, now)
    if decision.done:
        fx.records.unwatch(intent.id)
    else:
        fx.records.watch(Watch(intent.id, booking.booking_id, next_check(intent, int(now.timestamp()))))
    if decision.action != "none":
        logger.info("reconciler mended a payment", extra={"booking_id": booking.booking_id,
                                                           "payment_intent_id": intent.id,
                                                           "action": decision.action, "problem": decision.problem})
    return decision.action


def _execute(fx: PaymentEffects, booking: Any, details: dict[str, Any], intent: PaymentIntentInfo, decision: Mend,
             now: datetime) -> None:
    if decision.action == "observe_paid":
        fx.observe(booking.booking_id, PAYMENT_STEP, {"payment_intent_id": intent.id, "payment_status": intent.status})
    elif decision.action == "observe_failed":
        fx.observe(booking.booking_id, PAYMENT_STEP, {"failed": True, "error": "PaymentFailed",
                                                      "cause": intent.last_error_code or f"payment {intent.status}",
                                                      "payment_intent_id": intent.id})
    elif decision.action == "cancel":
        fx.stripe.cancel(intent.id, reason="abandoned")
    elif decision.action == "capture":
        fx.stripe.capture(intent.id, idempotency_key=decision.key)
    elif decision.action == "settle":
        settled = fx.stripe.settle_cancellation(intent.id, refund_cents=decision.refund_cents,
                                                idempotency_key=decision.key)
        refund = details.get("refund")
        if isinstance(refund, dict) and refund.get("status") == "pending":
            details["refund"] = {**refund, "status": "succeeded" if settled.refunded_cents else "none"}
            if refund.get("rule") == NOT_CONFIRMED:  # what a payment racing the webhook took; usually nothing
                details["refund"]["amount_cents"] = settled.refunded_cents
            fx.bookings.update_fields(booking, now, details=details)
    elif decision.action == "flag":
        flag_booking(fx, booking, decision.problem, intent.id, now)


