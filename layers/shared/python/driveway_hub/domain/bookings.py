"""Booking use cases: create, cancel, extend, approve/reject, check-in/checkout, and the lifecycle's
status changes and settlements. Plain Python; every collaborator comes in as an argument.

Money rule: a booking's slot is held by the calendar from the moment it is created (PENDING_PAYMENT);
the payment is confirmed by Stripe's webhook, never by the client; whenever a booking leaves the live
statuses its PaymentIntent is cancelled, partially captured or refunded so that no money is held or
taken for a booking that does not deserve it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from driveway_hub import business_metrics
from driveway_hub.adapters.notifier import NotifierPort, live_event
from driveway_hub.adapters.workflow import WorkflowPort
from driveway_hub.domain import availability, pricing
from driveway_hub.domain.availability import Interval, WeeklyWindow
from driveway_hub.domain.booking_status import LIVE, TERMINAL, Status
from driveway_hub.domain.cancellation import NOT_CONFIRMED, CancelledBy, cancellation_outcome
from driveway_hub.errors import Conflict, InvalidInput, InvalidState, NotOwner, UpstreamUnavailable
from driveway_hub.observability import logger

if TYPE_CHECKING:  # the PynamoDB layer is loaded on first use, not at cold start (issue #8)
    from driveway_hub.data.bookings import Booking, BookingRepository
    from driveway_hub.payments.ports import SettlementInfo

# Holds last ~7 days; capture manually only when the booking starts well inside that (stripe.md).
MANUAL_CAPTURE_HORIZON = timedelta(days=5)
MAX_BOOKING_LENGTH = timedelta(days=92)
MAX_ADVANCE = timedelta(days=365)
NO_SHOW_KEEP_PERCENT = 50
SYSTEM = "system"
PAYMENT_STEP = "payment"  # the lifecycle step waiting for the booking's payment (payments.events too)


@dataclass(frozen=True)
class DrivewayTerms:
    """What booking needs to know about a driveway (adapted from the driveway repository)."""

    driveway_id: str
    host_id: str
    active: bool
    timezone: str
    weekly: Sequence[WeeklyWindow]
    blackouts: Sequence[Interval]
    rates: pricing.Rates
    instant_book: bool
    title: str = ""
    address_text: str = ""
    lat: float = 0.0
    lng: float = 0.0


class DrivewayCatalog(Protocol):
    def terms(self, driveway_id: str) -> DrivewayTerms: ...


class HostPayouts(Protocol):
    def host_payout_account(self, host_id: str) -> tuple[str | None, bool]: ...


class PaymentsPort(Protocol):
    """The subset of driveway_hub.payments.stripe_adapter.StripePayments that booking uses."""

    @property
    def publishable_key(self) -> str: ...

    def create_booking_payment(self, *, booking_id: str, amount_cents: int, currency: str, platform_fee_cents: int,
                               host_account_id: str, capture_manual: bool, customer_id: str | None = None,
                               metadata: dict[str, str]) -> Any: ...

    def create_extension_payment(self, *, booking_id: str, extension_no: int, amount_cents: int, currency: str,
                                 platform_fee_cents: int, host_account_id: str, capture_manual: bool) -> Any: ...

    def cancel(self, pi_id: str, *, reason: str) -> Any: ...

    def capture(self, pi_id: str, *, amount_cents: int | None = None, application_fee_cents: int | None = None,
                idempotency_key: str) -> Any: ...

    def settle_cancellation(self, pi_id: str, *, refund_cents: int, idempotency_key: str,
                            cancel_reason: str = "requested_by_customer") -> SettlementInfo: ...


@dataclass(frozen=True)
class Caller:
    user_id: str
    is_admin: bool = False


@dataclass
class BookingContext:
    """The collaborators of every booking use case."""

    bookings: BookingRepository
    notifier: NotifierPort
    workflow: WorkflowPort
    platform_fee_bps: int = pricing.DEFAULT_PLATFORM_FEE_BPS
    timing: dict[str, int] = field(default_factory=dict)
    # Business metric sink (driveway_hub.business_metrics.count in production).
    count: Callable[[str], None] = business_metrics.no_count


# ---- status changes ------------------------------------------------------------------------------
def change_status(ctx: BookingContext, booking_id: str, new: Status, *, by: str, reason: str | None, now: datetime,
                  updates: dict[str, Any] | None = None) -> Booking:
    """THE way a booking changes status: conditional transition + history + live event to both sides."""
    booking, changed = ctx.bookings.transition(booking_id, new, by=by, reason=reason, now=now, updates=updates)
    if changed:
        if new is Status.CONFIRMED:
            ctx.count(business_metrics.BOOKINGS_CONFIRMED)  # the conditional transition: once per booking
        previous = ctx.bookings.history(booking_id)[-1].previous
        ctx.notifier.publish((booking.driver_id, booking.host_id), live_event(
            "booking.updated", booking_id, now, status=booking.status, previous=previous, reason=reason))
    return booking


def lifecycle_plan(booking: Booking, now: datetime, timing: dict[str, int]) -> dict[str, Any]:
    """Times the state machine waits for, computed from the booking and the configured grace periods.

    Step Functions needs absolute timestamps (Wait) or relative seconds (task timeouts) at the moment
    a state starts; the task before each wait returns this plan.
    """
    start, end = booking.interval
    lead = timedelta(seconds=timing.get("navigation_lead_s", 1800))
    arrival_deadline = start + timedelta(seconds=timing.get("arrival_grace_s", 1800))
    navigate_at = max(now, start - lead)
    return {
        "navigate_at": navigate_at.isoformat(),
        "arrival_timeout_s": max(1, int((arrival_deadline - now).total_seconds())),
        "end_timeout_s": max(1, int((end - now).total_seconds())),
        "overstay_grace_s": max(0, timing.get("overstay_grace_s", 900)),
    }


# ---- create --------------------------------------------------------------------------------------
def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None:
        raise InvalidInput(f"{name} must include a UTC offset", field=name)


def validate_window(start: datetime, end: datetime, now: datetime) -> None:
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end <= start:
        raise InvalidInput("end must be after start", field="end")
    if start < now - timedelta(minutes=1):
        raise InvalidInput("start must not be in the past", field="start")
    if start - now > MAX_ADVANCE:
        raise InvalidInput("start must be within a year", field="start")
    if end - start > MAX_BOOKING_LENGTH:
        raise InvalidInput("a booking may last at most 92 days", field="end")


def _free_check(terms: DrivewayTerms, start: datetime, end: datetime) -> Callable[[Iterable[Interval]], bool]:
    def is_free(others: Iterable[Interval]) -> bool:
        return availability.is_free(terms.weekly, terms.timezone, terms.blackouts, list(others), start, end)

    return is_free


@dataclass(frozen=True)
class CreatedBooking:
    booking: Booking
    payment_intent_id: str
    client_secret: str
    publishable_key: str


def create_booking(ctx: BookingContext, *, catalog: DrivewayCatalog, payouts: HostPayouts, payments: PaymentsPort,
                   caller: Caller, driveway_id: str, start: datetime, end: datetime, vehicle_id: str | None,
                   vin: str | None, now: datetime, booking_id: str | None = None) -> CreatedBooking:
    validate_window(start, end, now)
    terms = catalog.terms(driveway_id)
    if not terms.active:
        raise Conflict("This driveway is not taking bookings.", code="driveway_inactive")
    if terms.host_id == caller.user_id:
        raise Conflict("Hosts cannot book their own driveway.", code="own_driveway")
    account_id, charges_enabled = payouts.host_payout_account(terms.host_id)
    if not account_id or not charges_enabled:
        raise Conflict("The host cannot receive payments yet.", code="host_not_payable")
    quote = pricing.quote(terms.rates, start, end, platform_fee_bps=ctx.platform_fee_bps)
    created = now.isoformat()
    from driveway_hub.data.bookings import Booking

    booking = Booking(
        booking_id or f"bk_{uuid.uuid4().hex}", driveway_id=driveway_id, host_id=terms.host_id,
        driver_id=caller.user_id, start_at=start.isoformat(), end_at=end.isoformat(),
        status=Status.PENDING_PAYMENT.value,
        currency=quote.currency, subtotal_cents=quote.subtotal_cents, platform_fee_cents=quote.platform_fee_cents,
        total_cents=quote.total_cents, created_at=created, updated_at=created, vehicle_id=vehicle_id, vin=vin,
        capture_method="manual" if start - now <= MANUAL_CAPTURE_HORIZON else "automatic",
        details={"breakdown": [line.to_dict() for line in quote.breakdown], "instant_book": terms.instant_book},
    )
    ctx.bookings.reserve(booking, by=caller.user_id, now=now, is_free=_free_check(terms, start, end))
    try:
        intent = payments.create_booking_payment(
            booking_id=booking.booking_id, amount_cents=quote.total_cents, currency=quote.currency,
            platform_fee_cents=quote.platform_fee_cents, host_account_id=account_id,
            capture_manual=booking.capture_method == "manual",
            metadata={"booking_id": booking.booking_id, "driveway_id": driveway_id, "driver_id": caller.user_id},
        )
    except Exception as exc:
        # No PaymentIntent (declined, Stripe down after bounded retries): release the slot now rather
        # than hold it for a payment that cannot come.
        change_status(ctx, booking.booking_id, Status.PAYMENT_FAILED, by=SYSTEM,
                      reason=f"payment could not be started: {type(exc).__name__}", now=now)
        raise
    execution_arn: str | None = None
    try:
        ctx.bookings.update_fields(booking, now, payment_intent_id=intent.id)
        timing = ctx.timing
        execution_arn = ctx.workflow.start(booking.booking_id, {
            "booking_id": booking.booking_id,
            "needs_approval": not terms.instant_book,
            "payment_timeout_s": timing.get("payment_timeout_s", 900),
            "approval_timeout_s": timing.get("approval_timeout_s", 43200),
        })
        ctx.bookings.update_fields(booking, now, execution_arn=execution_arn)
    except Exception as exc:
        # Without its recorded PaymentIntent and running lifecycle nothing would ever expire this booking:
        # undo it (no hold on the driver's card, the slot released) and let the driver retry.
        _abandon_creation(ctx, payments, booking.booking_id, intent.id, execution_arn, now, exc)
        raise UpstreamUnavailable(
            "The booking could not be completed; nothing was charged. Please try again.") from exc
    ctx.count(business_metrics.BOOKINGS_CREATED)
    return CreatedBooking(booking, intent.id, intent.client_secret, payments.publishable_key)


def _abandon_creation(ctx: BookingContext, payments: PaymentsPort, booking_id: str, payment_intent_id: str,
                      execution_arn: str | None, now: datetime, cause: Exception) -> None:
    """Best-effort undo of a half-created booking, each step independent of the others.

    What still fails is left to the reconciler, which watches every PaymentIntent from its creation
    (an open intent of a booking that is not live is cancelled there)."""
    reason = f"booking could not be completed: {type(cause).__name__}"
    steps: list[tuple[str, Callable[[], object]]] = [
        ("cancel_payment", lambda: payments.cancel(payment_intent_id, reason="abandoned")),
        ("release_slot", lambda: change_status(ctx, booking_id, Status.PAYMENT_FAILED, by=SYSTEM, reason=reason,
                                               now=now)),
    ]
    if execution_arn:
        steps.insert(0, ("stop_lifecycle", lambda: ctx.workflow.stop(execution_arn, cause=reason)))
    for name, step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - every step is attempted; failures are logged for the reconciler
            logger.exception("could not undo a half-created booking", extra={"booking_id": booking_id, "step": name})


# ---- reads and ownership -------------------------------------------------------------------------
def require_party(booking: Booking, caller: Caller) -> str:
    """The caller's side of the booking ("driver"/"host"/"admin"), or NotOwner."""
    if caller.user_id == booking.driver_id:
        return "driver"
    if caller.user_id == booking.host_id:
        return "host"
    if caller.is_admin:
        return "admin"
    raise NotOwner("Only the booking's driver or host may do that.")


# ---- the booking's payments -----------------------------------------------------------------------
def extension_payments(details: dict[str, Any]) -> list[dict[str, Any]]:
    """The extensions' PaymentIntents, ``[{"payment_intent_id", "amount_cents"}]`` (``extend_booking``)."""
    found = details.get("extension_payments")
    return [dict(e) for e in found] if isinstance(found, list) else []


def refund_parts(booking: Booking, details: dict[str, Any], refund_cents: int) -> dict[str, int]:
    """How a refund of the whole booking splits over its PaymentIntents: each extension gets the share
    of its amount (rounded down), the booking's own PaymentIntent the rest. Integer cents, summing to
    ``refund_cents``."""
    total = int(booking.total_cents)
    parts: dict[str, int] = {}
    for extension in extension_payments(details):
        amount = int(extension["amount_cents"])
        parts[str(extension["payment_intent_id"])] = refund_cents * amount // total if total > 0 else 0
    if booking.payment_intent_id:
        parts[booking.payment_intent_id] = refund_cents - sum(parts.values())
    return parts


def settlement_key(booking: Booking, payment_intent_id: str, key: str) -> str:
    """The idempotency key of settling one of the booking's PaymentIntents (``key`` for its own)."""
    return key if payment_intent_id == booking.payment_intent_id else f"{key}:{payment_intent_id}"


# ---- cancel --------------------------------------------------------------------------------------
def _no_watch(payment_intent_id: str, booking_id: str) -> None:
    """The default ``watch_payment``: no reconciler to tell."""


def cancel_booking(ctx: BookingContext, *, payments: PaymentsPort, caller: Caller, booking_id: str,
                   reason: str | None, now: datetime,
                   watch_payment: Callable[[str, str], None] = _no_watch) -> Booking:
    """Cancel per the policy and settle every PaymentIntent of the booking.

    ``watch_payment(payment_intent_id, booking_id)`` asks the payment reconciler to check that PaymentIntent on its
    next run. It is called before any money moves, so a cancellation whose call dies after the status
    change (a throttled write, a Stripe error, a lost Lambda) is still settled.
    """
    booking = ctx.bookings.get(booking_id, consistent=True)
    side = require_party(booking, caller)
    status = Status(booking.status)
    if status is Status.CANCELLED:
        # Cancelling twice moves no more money (the same idempotency keys); a retry finishes a settlement
        # that an earlier call left pending.
        if _refund_of(booking).get("status") == "pending":
            return _settle_cancellation(ctx, payments, booking, now, watch_payment)
        return booking
    if status in TERMINAL or status not in {Status.PENDING_PAYMENT, Status.AWAITING_APPROVAL, Status.CONFIRMED,
                                             Status.EN_ROUTE}:
        raise InvalidState(f"A {status.value} booking cannot be cancelled.")
    # PENDING_PAYMENT: our webhook may not have arrived although the card was already charged or held;
    # the booking was never confirmed, so whatever was taken comes back in full (rule "not_confirmed").
    confirmed = status is not Status.PENDING_PAYMENT
    outcome = cancellation_outcome(total_cents=int(booking.total_cents), start=booking.interval.start, now=now,
                                   cancelled_by=CancelledBy(side), confirmed=confirmed)
    refund = {"amount_cents": outcome.refund_cents, "currency": booking.currency, "rule": outcome.rule,
              "status": "pending"}
    details = dict(booking.details.as_dict() if booking.details else {})
    details.update(refund=refund, cancelled_by=side, counts_against_host=outcome.counts_against_host)
    # The status change is the authority (it releases the slot); money follows, and a Stripe failure
    # leaves refund.status "pending" for a retry or the reconciler instead of a live booking with money
    # returned.
    booking = change_status(ctx, booking_id, Status.CANCELLED, by=caller.user_id, reason=reason or "cancelled",
                            now=now, updates={"details": details})
    if booking.execution_arn:
        ctx.workflow.stop(booking.execution_arn, cause=f"cancelled by {side}")
    return _settle_cancellation(ctx, payments, booking, now, watch_payment)


def _refund_of(booking: Booking) -> dict[str, Any]:
    refund = (booking.details.as_dict() if booking.details else {}).get("refund")
    return dict(refund) if isinstance(refund, dict) else {}


def _settle_cancellation(ctx: BookingContext, payments: PaymentsPort, booking: Booking, now: datetime,
                         watch_payment: Callable[[str, str], None]) -> Booking:
    """Every PaymentIntent of a cancelled booking (its own and its extensions') gives back its share of
    ``details.refund``; Stripe being unavailable leaves the refund "pending" (the reconciler settles
    every part with the same keys)."""
    if not booking.payment_intent_id:
        return booking
    details = dict(booking.details.as_dict() if booking.details else {})
    refund = dict(details["refund"])  # status "pending" until every part is settled
    parts = refund_parts(booking, details, int(refund["amount_cents"]))
    for payment_intent_id in parts:
        watch_payment(payment_intent_id, booking.booking_id)
    returned, pending = 0, False
    for payment_intent_id, cents in parts.items():
        try:
            key = settlement_key(booking, payment_intent_id, f"booking:{booking.booking_id}:cancel")
            settled = payments.settle_cancellation(payment_intent_id, refund_cents=cents, idempotency_key=key)
        except UpstreamUnavailable:
            pending = True
        else:
            returned += settled.refunded_cents
    if not pending:
        if refund.get("rule") == NOT_CONFIRMED:
            refund["amount_cents"] = returned  # what the race with the webhook had taken; usually nothing
        refund["status"] = "succeeded" if refund["amount_cents"] else "none"
    if len(parts) > 1:
        refund["parts"] = parts
    details["refund"] = refund
    return ctx.bookings.update_fields(booking, now, details=details)


# ---- lifecycle settlements -----------------------------------------------------------------------
def settle_ended_booking(ctx: BookingContext, *, payments: PaymentsPort, booking_id: str, outcome: str,
                         error: str | None, now: datetime) -> Booking:
    """Terminal paths of the lifecycle: release the slot and make the money right, exactly once.

    EXPIRED / PAYMENT_FAILED: cancel the PaymentIntent (usually nothing was taken; a payment that completed
    as the window closed is refunded in full). REJECTED and compensation
    after a failure (FAILED → CANCELLED): full refund or cancelled hold. NO_SHOW: keep the policy's share.
    """
    booking = ctx.bookings.get(booking_id, consistent=True)
    total = int(booking.total_cents)
    if outcome in ("EXPIRED", "PAYMENT_FAILED"):
        target, refund_cents, reason = Status(outcome), total, error or outcome.lower()
    elif outcome == "REJECTED":
        target, refund_cents, reason = Status.REJECTED, total, "host rejected or did not answer"
    elif outcome == "NO_SHOW":
        keep = (total * NO_SHOW_KEEP_PERCENT + 99) // 100
        target, refund_cents, reason = Status.NO_SHOW, total - keep, "car did not arrive by start + grace"
    else:
        target, refund_cents, reason = Status.CANCELLED, total, f"system error: {error or 'unknown'}"
    if Status(booking.status) in LIVE:
        expected = frozenset(LIVE) if target is Status.CANCELLED else None
        booking, changed = ctx.bookings.transition(booking_id, target, by=SYSTEM, reason=reason, now=now,
                                                   expected=expected)
        # The contract's booking.updated carries "previous"; the history entry written with the change
        # is the authority on what it was (as in change_status).
        previous = ctx.bookings.history(booking_id)[-1].previous if changed else None
        ctx.notifier.publish((booking.driver_id, booking.host_id), live_event(
            "booking.updated", booking_id, now, status=booking.status, previous=previous, reason=reason))
    if booking.payment_intent_id and Status(booking.status) is target:
        # EXPIRED / PAYMENT_FAILED: usually an unpaid PaymentIntent to cancel, but a payment that completed
        # as the window closed is released or refunded in full too (the reconciler's key for it).
        abandoned = target in (Status.EXPIRED, Status.PAYMENT_FAILED)
        details = dict(booking.details.as_dict() if booking.details else {})
        for payment_intent_id, cents in refund_parts(booking, details, refund_cents).items():
            payments.settle_cancellation(payment_intent_id, refund_cents=cents, idempotency_key=settlement_key(
                booking, payment_intent_id, f"booking:{booking_id}:settle:{target.value}"),
                cancel_reason="abandoned" if abandoned else "requested_by_customer")
        ctx.notifier.publish((booking.driver_id, booking.host_id), live_event(
            "payment.updated", booking_id, now, status=target.value.lower(), refund_cents=refund_cents))
    return booking


# ---- steps a person completes: host approval, check-in, checkout -------------------------------------
def resume_step(ctx: BookingContext, *, caller: Caller, booking_id: str, waiting_for: str, side: str,
                output: dict[str, Any] | None = None, fail_error: str | None = None) -> Booking:
    """Complete (or fail) the lifecycle step ``waiting_for`` on behalf of ``side`` ("driver"/"host").

    The workflow makes the status change; this only hands it the task token, exactly once.
    """
    booking = ctx.bookings.get(booking_id, consistent=True)
    party = require_party(booking, caller)
    if party not in (side, "admin"):
        raise NotOwner(f"Only the booking's {side} may do that.")
    token = ctx.bookings.take_token(booking_id, waiting_for)
    if token is None:
        raise InvalidState(f"This booking is not waiting for {waiting_for} (it is {booking.status}).")
    ok = (ctx.workflow.fail(token, fail_error, f"{waiting_for} refused by {party}") if fail_error
          else ctx.workflow.resume(token, {"by": party, **(output or {})}))
    if not ok:
        raise InvalidState(f"The {waiting_for} step already ended.")
    return booking


# ---- extend -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Extension:
    booking: Booking
    payment_intent_id: str | None
    client_secret: str | None
    total_delta_cents: int


def extend_booking(ctx: BookingContext, *, catalog: DrivewayCatalog, payouts: HostPayouts, payments: PaymentsPort,
                   caller: Caller, booking_id: str, new_end: datetime, now: datetime) -> Extension:
    """Move the end later: re-priced, conflict-checked on the calendar, the difference charged by a
    second PaymentIntent. A failed charge puts the end back, so no slot is held without payment."""
    booking = ctx.bookings.get(booking_id, consistent=True)
    if require_party(booking, caller) == "host":
        raise NotOwner("Only the booking's driver may extend it.")
    status = Status(booking.status)
    if status not in LIVE or status in (Status.PENDING_PAYMENT, Status.AWAITING_APPROVAL):
        raise InvalidState(f"A {status.value} booking cannot be extended.")
    _require_aware(new_end, "end")
    start, old_end = booking.interval
    if new_end <= old_end:
        raise InvalidInput("end can only move later", field="end")
    if new_end - start > MAX_BOOKING_LENGTH:
        raise InvalidInput("a booking may last at most 92 days", field="end")
    terms = catalog.terms(booking.driveway_id)
    change = pricing.price_change(terms.rates, start, old_end, new_end, platform_fee_bps=ctx.platform_fee_bps)
    details = dict(booking.details.as_dict() if booking.details else {})
    extension_no = int(details.get("extensions", 0)) + 1
    details["extensions"] = extension_no
    booking = ctx.bookings.reschedule(
        booking, new_end, by=caller.user_id, now=now, is_free=_free_check(terms, old_end, new_end),
        updates={"subtotal_cents": change.new.subtotal_cents, "platform_fee_cents": change.new.platform_fee_cents,
                 "total_cents": change.new.total_cents, "details": details})
    if change.total_delta_cents <= 0:
        return Extension(booking, None, None, change.total_delta_cents)
    account_id, _ = payouts.host_payout_account(booking.host_id)
    try:
        intent = payments.create_extension_payment(
            booking_id=booking_id, extension_no=extension_no, amount_cents=change.total_delta_cents,
            currency=change.new.currency, platform_fee_cents=max(0, change.platform_fee_delta_cents),
            host_account_id=account_id or "", capture_manual=booking.capture_method == "manual")
    except Exception:
        ctx.bookings.reschedule(booking, old_end, by=SYSTEM, now=now, is_free=lambda _others: True, updates={
            "subtotal_cents": change.old.subtotal_cents, "platform_fee_cents": change.old.platform_fee_cents,
            "total_cents": change.old.total_cents})
        raise
    # Remembered so that a cancellation or a no-show settles this PaymentIntent too (refund_parts).
    details["extension_payments"] = [*extension_payments(details),
                                     {"payment_intent_id": intent.id, "amount_cents": change.total_delta_cents}]
    booking = ctx.bookings.update_fields(booking, now, details=details)
    ctx.notifier.publish((booking.driver_id, booking.host_id), live_event(
        "booking.updated", booking_id, now, status=booking.status, end=booking.end_at, reason="extended"))
    return Extension(booking, intent.id, intent.client_secret, change.total_delta_cents)


# ---- observed facts resume waiting steps ----------------------------------------------------------------
def _hand_over(ctx: BookingContext, booking_id: str, waiting_for: str, fact: dict[str, Any]) -> bool:
    token = ctx.bookings.take_token(booking_id, waiting_for)
    if token is None:
        return False
    failed = bool(fact.get("failed"))
    handed = (ctx.workflow.fail(token, str(fact.get("error", "StepFailed")), str(fact.get("cause", ""))) if failed
              else ctx.workflow.resume(token, fact))
    if handed and waiting_for == PAYMENT_STEP:
        # Whoever observed it first (webhook, reconciler or the step itself), the payment step ends here once.
        ctx.count(business_metrics.PAYMENT_FAILED if failed else business_metrics.PAYMENT_SUCCEEDED)
    return handed


def observe(ctx: BookingContext, booking_id: str, waiting_for: str, fact: dict[str, Any]) -> bool:
    """Something awaited happened (payment authorized, car arrived…): record it, then resume the step
    if its token is parked. Safe to call any number of times; resumes at most once.

    A failure is a fact too: ``{"failed": True, "error": "PaymentFailed", "cause": "..."}``.
    """
    ctx.bookings.record_fact(booking_id, waiting_for, fact)
    return _hand_over(ctx, booking_id, waiting_for, ctx.bookings.fact(booking_id, waiting_for) or fact)


def resume_if_observed(ctx: BookingContext, booking_id: str, waiting_for: str) -> bool:
    """Called by the step right after parking its token: the fact may have come first."""
    fact = ctx.bookings.fact(booking_id, waiting_for)
    return fact is not None and _hand_over(ctx, booking_id, waiting_for, fact)
