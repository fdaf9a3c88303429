"""What a verified Stripe event does. Plain Python: every collaborator comes in through ``PaymentEffects``.

An event is a trigger, not a source of truth: its object may be stale (events arrive late, twice and out
of order), so the PaymentIntent, refund, dispute or account is retrieved again and only that current
state is applied, with forward-only writes. Two deliveries of any events about one payment, in any
order, therefore end in the same records and resume the booking's payment step at most once.

Effects on the booking (its PaymentIntent of kind ``charge``):

* authorized (``requires_capture``) or ``succeeded`` → the lifecycle's "payment" step is resumed with
  ``{"payment_intent_id", "payment_status"}``;
* an attempt failed (``requires_payment_method`` with an error) or the PaymentIntent was cancelled while
  the booking waited for it → the step fails with ``PaymentFailed`` (the lifecycle then cancels the
  PaymentIntent, marks the booking PAYMENT_FAILED and releases the slot);
* cancelled after payment (hold expired: ``charge.expired``) while the booking is live → the booking
  is flagged (``details.payment_problem``) for the reconciler and operators, and both sides are told.

Resuming goes through ``observe`` (the booking engine's fact + task-token hand-over: the fact is kept on
the booking, so a token parked after the webhook is resumed by the step itself).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pynamodb.exceptions import UpdateError

from driveway_hub import business_metrics
from driveway_hub.adapters.notifier import NotifierPort, live_event
from driveway_hub.domain.booking_status import LIVE, Status
from driveway_hub.errors import NotFound
from driveway_hub.observability import logger
from driveway_hub.payments.ports import (
    HostAccountsPort,
    PaymentIntentInfo,
    PaymentRecordsPort,
    PaymentsPort,
    RefundInfo,
    Watch,
)

PAYMENT_STEP = "payment"
# Check an authorized hold again this long before Stripe releases it (reconciler captures or flags).
HOLD_MARGIN_S = 24 * 3600
# How soon the reconciler looks again at a payment that is still moving.
RECHECK_PENDING_S = 15 * 60
RECHECK_HELD_MAX_S = 3600

_INTENT_EVENTS = ("payment_intent.",)
_CHARGE_EVENTS = frozenset({"charge.expired", "charge.refunded", "charge.succeeded", "charge.captured",
                            "charge.failed", "charge.updated"})
_REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"})


class BookingView(Protocol):
    """The booking fields payments read (``driveway_hub.data.bookings.Booking`` has them)."""

    booking_id: str
    driver_id: str
    host_id: str
    status: str
    payment_intent_id: str | None
    details: Any


class BookingsPort(Protocol):
    def get(self, booking_id: str, *, consistent: bool = False) -> Any: ...

    def update_fields(self, booking: Any, now: datetime, **fields: Any) -> Any: ...


# (booking_id, waiting_for, fact) -> resumed?  Bound to the booking engine's ``observe``.
Observe = Callable[[str, str, dict[str, Any]], bool]


@dataclass
class PaymentEffects:
    """The collaborators of event handling (and of the reconciler)."""

    stripe: PaymentsPort
    records: PaymentRecordsPort
    bookings: BookingsPort
    observe: Observe
    notifier: NotifierPort
    count: Callable[[str], None] = lambda _name: None  # metric sink (Powertools in production)


def booking_details(booking: Any) -> dict[str, Any]:
    details = booking.details
    if details is None:
        return {}
    return dict(details.as_dict() if hasattr(details, "as_dict") else details)


def _parties(booking: Any) -> Iterable[str]:
    return (booking.driver_id, booking.host_id)


def next_check(intent: PaymentIntentInfo, now_s: int) -> int:
    """When the reconciler should look at this PaymentIntent again."""
    if intent.status == "requires_capture" and intent.capture_before:
        return max(now_s, min(intent.capture_before - HOLD_MARGIN_S, now_s + RECHECK_HELD_MAX_S))
    if intent.status in ("succeeded", "canceled"):
        return now_s  # final at Stripe: one check that the booking agrees, then it leaves the list
    return now_s + RECHECK_PENDING_S


# ---- entry point ---------------------------------------------------------------------------------
def handle_event(fx: PaymentEffects, event: dict[str, Any], now: datetime) -> str:
    """Apply one verified platform or Connect event; answers what was done (for logs and tests)."""
    event_type = str(event.get("type", ""))
    obj = (event.get("data") or {}).get("object") or {}
    if event_type.startswith(_INTENT_EVENTS):
        return sync_intent(fx, str(obj["id"]), now)
    if event_type in _REFUND_EVENTS:
        return sync_refund(fx, str(obj["id"]), now)
    if event_type in _CHARGE_EVENTS:
        pi_id = obj.get("payment_intent")
        if not pi_id:
            return "ignored: charge without payment intent"
        outcome = sync_intent(fx, str(pi_id), now)
        if event_type == "charge.refunded":
            sync_refunds_of(fx, str(pi_id), now)
        return outcome
    if event_type.startswith("charge.dispute."):
        return record_dispute(fx, str(obj["id"]), now)
    return f"ignored: {event_type}"


# ---- PaymentIntents ------------------------------------------------------------------------------
def sync_intent(fx: PaymentEffects, pi_id: str, now: datetime) -> str:
    """Retrieve the PaymentIntent and bring our records and the booking in line with it."""
    intent = fx.stripe.retrieve(pi_id)
    booking = _booking_of(fx, intent.booking_id)
    if booking is None:
        return "ignored: no booking"
    changed = fx.records.record_intent(intent, booking_id=booking.booking_id, user_id=booking.driver_id,
                                       host_id=booking.host_id, now=now.isoformat())
    now_s = int(now.timestamp())
    # A booking that has ended is checked on the next run: any money still held for it is a mistake.
    check_after = next_check(intent, now_s) if Status(booking.status) in LIVE else now_s
    fx.records.watch(Watch(intent.id, booking.booking_id, check_after))
    outcome = apply_to_booking(fx, booking, intent, now)
    if changed:
        fx.notifier.publish(_parties(booking), live_event(
            "payment.updated", booking.booking_id, now, payment_intent_id=intent.id, status=intent.status,
            kind=intent.kind, amount_cents=intent.amount, currency=intent.currency))
    return outcome


def is_booking_payment(booking: Any, intent: PaymentIntentInfo) -> bool:
    """The booking's own PaymentIntent (not an extension/overstay charge)."""
    return intent.kind == "charge" and booking.payment_intent_id in (None, intent.id)


def apply_to_booking(fx: PaymentEffects, booking: Any, intent: PaymentIntentInfo, now: datetime) -> str:
    if not is_booking_payment(booking, intent):
        return f"recorded {intent.kind} {intent.status}"
    status = Status(booking.status)
    if intent.status in ("requires_capture", "succeeded"):
        resumed = fx.observe(booking.booking_id, PAYMENT_STEP,
                             {"payment_intent_id": intent.id, "payment_status": intent.status})
        return f"paid ({intent.status}); resumed={resumed}"
    if intent.failed_attempt or (intent.status == "canceled" and status is Status.PENDING_PAYMENT):
        cause = intent.last_error_code or f"payment {intent.status}"
        failed_step = fx.observe(booking.booking_id, PAYMENT_STEP,
                                 {"failed": True, "error": "PaymentFailed", "cause": cause,
                                  "payment_intent_id": intent.id})
        if failed_step:  # once per booking, however many events say so
            fx.count("PaymentFailures")
        return f"failed ({cause}); failed_step={failed_step}"
    if intent.status == "canceled" and status in LIVE:
        problem = "hold_expired" if intent.cancellation_reason == "automatic" else "payment_canceled"
        flagged = flag_booking(fx, booking, problem, intent.id, now)
        return f"flagged {problem}" if flagged else f"already flagged {problem}"
    return f"recorded {intent.status}"


def flag_booking(fx: PaymentEffects, booking: Any, problem: str, pi_id: str, now: datetime) -> bool:
    """Mark a live booking whose money went wrong (reconciler and operators act; both sides are told)."""
    details = booking_details(booking)
    current = details.get("payment_problem") or {}
    if current.get("problem") == problem and current.get("payment_intent_id") == pi_id:
        return False
    details["payment_problem"] = {"problem": problem, "payment_intent_id": pi_id, "at": now.isoformat()}
    try:
        fx.bookings.update_fields(booking, now, details=details)
    except UpdateError:  # update_fields is conditional on the status: it moved meanwhile; once more, fresh
        fresh = fx.bookings.get(booking.booking_id, consistent=True)
        if Status(fresh.status) not in LIVE:
            return False
        details = {**booking_details(fresh), "payment_problem": details["payment_problem"]}
        fx.bookings.update_fields(fresh, now, details=details)
    fx.count(business_metrics.PAYMENT_PROBLEMS)
    logger.error("booking flagged: payment problem",
                 extra={"booking_id": booking.booking_id, "problem": problem, "payment_intent_id": pi_id})
    fx.notifier.publish(_parties(booking), live_event(
        "payment.updated", booking.booking_id, now, payment_intent_id=pi_id, status="problem", problem=problem))
    return True


def _booking_of(fx: PaymentEffects, booking_id: str | None) -> Any | None:
    if not booking_id:
        logger.info("stripe object without a booking id: not ours")
        return None
    try:
        return fx.bookings.get(booking_id, consistent=True)
    except NotFound:
        logger.warning("stripe object for an unknown booking", extra={"booking_id": booking_id})
        return None


# ---- refunds -------------------------------------------------------------------------------------
def sync_refund(fx: PaymentEffects, refund_id: str, now: datetime) -> str:
    refund = fx.stripe.retrieve_refund(refund_id)
    return _record_refund(fx, refund, now)


def sync_refunds_of(fx: PaymentEffects, pi_id: str, now: datetime) -> list[str]:
    return [_record_refund(fx, refund, now) for refund in fx.stripe.list_refunds(pi_id)]


def _record_refund(fx: PaymentEffects, refund: RefundInfo, now: datetime) -> str:
    booking_id = refund.metadata.get("booking_id")
    if not booking_id and refund.payment_intent_id:
        booking_id = fx.stripe.retrieve(refund.payment_intent_id).booking_id
    booking = _booking_of(fx, booking_id)
    if booking is None:
        return "ignored: refund without booking"
    changed = fx.records.record_refund(refund, booking_id=booking.booking_id, user_id=booking.driver_id,
                                       host_id=booking.host_id, now=now.isoformat())
    if refund.status == "failed":
        # The money came back to us (closed card…): someone must pay the driver another way.
        fx.count(business_metrics.REFUND_FAILURES)
        logger.error("refund failed", extra={"booking_id": booking.booking_id, "refund_id": refund.id,
                                             "failure_reason": refund.failure_reason})
    if changed:
        fx.notifier.publish(_parties(booking), live_event(
            "payment.updated", booking.booking_id, now, refund_id=refund.id, status=refund.status, kind="refund",
            amount_cents=refund.amount, currency=refund.currency))
    return f"refund {refund.status}"


# ---- disputes ------------------------------------------------------------------------------------
def record_dispute(fx: PaymentEffects, dispute_id: str, now: datetime) -> str:
    dispute = fx.stripe.retrieve_dispute(dispute_id)
    intent = fx.stripe.retrieve(dispute.payment_intent_id) if dispute.payment_intent_id else None
    booking = _booking_of(fx, intent.booking_id if intent else None)
    if booking is None:
        return "ignored: dispute without booking"
    fx.records.record_dispute(dispute, booking_id=booking.booking_id, host_id=booking.host_id, now=now.isoformat())
    fx.count(business_metrics.PAYMENT_DISPUTES)
    # We bear the losses of connected accounts (controller.losses = application): ops must respond.
    logger.error("payment disputed", extra={"booking_id": booking.booking_id, "dispute_id": dispute.id,
                                            "reason": dispute.reason, "status": dispute.status,
                                            "amount_cents": dispute.amount})
    return f"dispute {dispute.status}"


# ---- Connect accounts ----------------------------------------------------------------------------
def handle_connect_event(stripe: PaymentsPort, accounts: HostAccountsPort, event: dict[str, Any], now: datetime) -> str:
    """Connect endpoint: ``account.updated`` refreshes the host's payout status; payouts are read live
    by GET /v1/payouts, so ``payout.*`` needs nothing stored."""
    event_type = str(event.get("type", ""))
    if event_type != "account.updated":
        return f"ignored: {event_type}"
    obj = (event.get("data") or {}).get("object") or {}
    return sync_account(stripe, accounts, str(obj.get("id") or event.get("account")), now)


def sync_account(stripe: PaymentsPort, accounts: HostAccountsPort, account_id: str, now: datetime) -> str:
    status = stripe.account_status(account_id)
    if not status.user_id:
        return "ignored: account not created by us"
    stored = accounts.update_status(status.user_id, status, int(now.timestamp() * 1000))
    logger.info("host account status", extra={"host_id": status.user_id, "charges_enabled": status.charges_enabled,
                                              "payouts_enabled": status.payouts_enabled, "stored": stored})
    return f"account charges_enabled={status.charges_enabled} payouts_enabled={status.payouts_enabled}"
