"""What payment-aware domain code depends on: plain value types and Protocols.

``PaymentsPort`` is the Stripe side (implemented by ``stripe_adapter.StripePayments``); the stores are
implemented on DynamoDB in ``driveway_hub.data.payments``. Tests hand in fakes of any of them.
Money is always integer minor units with a lower-case ISO currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# PaymentIntent statuses in the order a payment moves forward. The four before authorization share
# one rank: a decline sends a PaymentIntent from requires_action back to requires_payment_method and a
# new attempt may follow, so among them the latest retrieval is simply the truth.
PI_RANK: Mapping[str, int] = {
    "requires_payment_method": 0,
    "requires_confirmation": 0,
    "requires_action": 0,
    "processing": 0,
    "requires_capture": 1,
    "succeeded": 2,
    "canceled": 2,
}
PRE_AUTHORIZATION = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})
# A refund can still fail after it succeeded (closed card): failed/canceled rank above succeeded.
REFUND_RANK: Mapping[str, int] = {"pending": 0, "requires_action": 0, "succeeded": 1, "failed": 2, "canceled": 2}

PaymentKind = Literal["charge", "extension", "overstay", "no_show", "refund", "dispute"]
SettlementAction = Literal["captured", "canceled", "refunded", "none"]


@dataclass(frozen=True)
class PaymentIntentInfo:
    """A PaymentIntent as our code needs it. ``client_secret`` goes to the driver's app only, never to logs."""

    id: str
    client_secret: str | None = field(repr=False)
    status: str
    amount: int
    capture_method: str
    currency: str = "usd"
    amount_capturable: int = 0
    amount_received: int = 0
    amount_refunded: int = 0  # refunded after capture (a partial capture's released part is not counted)
    application_fee_amount: int | None = None
    capture_before: int | None = None  # unix seconds: the hold's deadline (manual capture, authorized)
    customer: str | None = None
    payment_method: str | None = None
    latest_charge: str | None = None
    cancellation_reason: str | None = None
    last_error_code: str | None = None  # decline_code or code of the last failed attempt
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def booking_id(self) -> str | None:
        return self.metadata.get("booking_id")

    @property
    def kind(self) -> str:
        return self.metadata.get("kind", "charge")

    @property
    def amount_refundable(self) -> int:
        return max(0, self.amount_received - self.amount_refunded)

    @property
    def failed_attempt(self) -> bool:
        """Back at requires_payment_method because an attempt failed (not merely never tried)."""
        return self.status == "requires_payment_method" and self.last_error_code is not None


@dataclass(frozen=True)
class RefundInfo:
    id: str
    payment_intent_id: str | None
    amount: int
    currency: str
    status: str
    failure_reason: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SettlementInfo:
    """What ``settle_cancellation`` did: ``captured_cents`` kept, ``refunded_cents`` returned to the driver."""

    payment_intent_id: str
    action: SettlementAction
    status: str
    captured_cents: int = 0
    refunded_cents: int = 0
    refund: RefundInfo | None = None


@dataclass(frozen=True)
class AccountStatus:
    account_id: str
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool
    requirements: tuple[str, ...] = ()
    user_id: str | None = None  # from the account's metadata (set when we created it)


@dataclass(frozen=True)
class DisputeInfo:
    id: str
    payment_intent_id: str | None
    charge_id: str | None
    amount: int
    currency: str
    status: str
    reason: str | None


class PaymentsPort(Protocol):
    """Everything the application asks of Stripe. Errors are domain errors (``payments.errors``)."""

    @property
    def publishable_key(self) -> str: ...

    def create_booking_payment(self, *, booking_id: str, amount_cents: int, currency: str, platform_fee_cents: int,
                               host_account_id: str, capture_manual: bool, customer_id: str | None = None,
                               metadata: dict[str, str]) -> PaymentIntentInfo: ...

    def create_extension_payment(self, *, booking_id: str, extension_no: int, amount_cents: int, currency: str,
                                 platform_fee_cents: int, host_account_id: str,
                                 capture_manual: bool) -> PaymentIntentInfo: ...

    def charge_off_session(self, *, booking_id: str, purpose: str, amount_cents: int, currency: str,
                           platform_fee_cents: int, host_account_id: str, customer_id: str | None,
                           payment_method_id: str | None) -> PaymentIntentInfo: ...

    def retrieve(self, pi_id: str) -> PaymentIntentInfo: ...

    def cancel(self, pi_id: str, *, reason: str) -> PaymentIntentInfo: ...

    def capture(self, pi_id: str, *, amount_cents: int | None = None, application_fee_cents: int | None = None,
                idempotency_key: str) -> PaymentIntentInfo: ...

    def refund(self, pi_id: str, *, amount_cents: int, idempotency_key: str) -> RefundInfo: ...

    def settle_cancellation(self, pi_id: str, *, refund_cents: int, idempotency_key: str,
                            cancel_reason: str = "requested_by_customer") -> SettlementInfo: ...

    def retrieve_refund(self, refund_id: str) -> RefundInfo: ...

    def list_refunds(self, pi_id: str) -> list[RefundInfo]: ...

    def retrieve_dispute(self, dispute_id: str) -> DisputeInfo: ...

    def undelivered_events(self, *, limit: int = 100) -> list[dict[str, Any]]: ...

    def create_host_account(self, *, user_id: str, email: str | None) -> str: ...

    def onboarding_link(self, account_id: str, refresh_url: str, return_url: str) -> str: ...

    def account_status(self, account_id: str) -> AccountStatus: ...

    def list_payouts(self, account_id: str) -> list[dict[str, Any]]: ...


# ---- our records ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PaymentRecord:
    """One row of GET /v1/payments: a PaymentIntent (charge/extension/overstay), a refund or a dispute."""

    booking_id: str
    payment_id: str
    kind: str
    amount_cents: int
    currency: str
    status: str
    created_at: str
    updated_at: str
    user_id: str | None = None
    host_id: str | None = None
    payment_intent_id: str | None = None  # refunds and disputes: the PaymentIntent they belong to
    amount_refunded_cents: int = 0
    capture_before: int | None = None
    last_error_code: str | None = None


@dataclass(frozen=True)
class RecordPage:
    items: list[PaymentRecord]
    next_cursor: str | None


@dataclass(frozen=True)
class Watch:
    """A PaymentIntent the reconciler keeps an eye on until its money and its booking agree."""

    payment_intent_id: str
    booking_id: str
    check_after: int  # unix seconds


class PaymentRecordsPort(Protocol):
    def record_intent(self, intent: PaymentIntentInfo, *, booking_id: str, user_id: str | None, host_id: str | None,
                      now: str) -> bool: ...

    def record_refund(self, refund: RefundInfo, *, booking_id: str, user_id: str | None, host_id: str | None,
                      now: str) -> bool: ...

    def record_dispute(self, dispute: DisputeInfo, *, booking_id: str, host_id: str | None, now: str) -> bool: ...

    def for_booking(self, booking_id: str) -> list[PaymentRecord]: ...

    def list_for_user(self, user_id: str, *, limit: int, cursor: str | None) -> RecordPage: ...

    def watch(self, watch: Watch) -> None: ...

    def unwatch(self, payment_intent_id: str) -> None: ...

    def due_watches(self, now: int, *, limit: int) -> list[Watch]: ...


@dataclass(frozen=True)
class HostAccount:
    host_id: str
    account_id: str
    charges_enabled: bool = False
    payouts_enabled: bool = False
    details_submitted: bool = False
    requirements: tuple[str, ...] = ()
    checked_at_ms: int = 0


class HostAccountsPort(Protocol):
    def get(self, host_id: str) -> HostAccount | None: ...

    def create(self, host_id: str, account_id: str, now: str) -> HostAccount: ...

    def update_status(self, host_id: str, status: AccountStatus, checked_at_ms: int) -> bool: ...


class WebhookEventsPort(Protocol):
    def begin(self, event_id: str, event_type: str, now: int) -> Literal["new", "done", "busy"]: ...

    def finish(self, event_id: str, now: int) -> None: ...

    def abandon(self, event_id: str) -> None: ...
