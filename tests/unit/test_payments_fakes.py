"""In-memory fakes of the payment ports (no tests here: the payments unit tests import these).

They keep the same rules as the real adapters where the domain relies on them: records only move
forward (status rank), a task token is handed out once, processed event ids are remembered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, cast

from driveway_hub.data.bookings import Booking
from driveway_hub.domain.bookings import BookingContext, observe
from driveway_hub.errors import NotFound
from driveway_hub.payments.events import PaymentEffects
from driveway_hub.payments.ports import (
    PI_RANK,
    REFUND_RANK,
    AccountStatus,
    DisputeInfo,
    HostAccount,
    PaymentIntentInfo,
    PaymentRecord,
    RecordPage,
    RefundInfo,
    SettlementInfo,
    Watch,
)

T0 = datetime.fromisoformat("2026-12-01T09:00:00+00:00")


def intent(status: str = "requires_payment_method", *, pi_id: str = "pi_1", booking_id: str = "bk1",
           kind: str = "charge", amount: int = 2300, **fields: Any) -> PaymentIntentInfo:
    values: dict[str, Any] = {
        "amount_capturable": amount if status == "requires_capture" else 0,
        "amount_received": amount if status == "succeeded" else 0,
    }
    values.update(fields)
    return PaymentIntentInfo(id=pi_id, client_secret=f"{pi_id}_secret", status=status, amount=amount,
                             capture_method="manual", application_fee_amount=300,
                             metadata={"booking_id": booking_id, "kind": kind}, **values)


def booking(status: str = "PENDING_PAYMENT", *, booking_id: str = "bk1", pi_id: str | None = "pi_1",
            details: dict[str, Any] | None = None) -> Booking:
    return Booking(booking_id, driveway_id="dw1", host_id="host1", driver_id="driver1",
                   start_at="2026-12-01T10:00:00+00:00", end_at="2026-12-01T12:00:00+00:00", status=status,
                   currency="usd", subtotal_cents=2000, platform_fee_cents=300, total_cents=2300,
                   created_at=T0.isoformat(), updated_at=T0.isoformat(), payment_intent_id=pi_id,
                   details=details)


@dataclass
class FakeStripe:
    """The Stripe port: current objects by id, and every money-moving call made."""

    intents: dict[str, PaymentIntentInfo] = field(default_factory=dict)
    refunds: dict[str, RefundInfo] = field(default_factory=dict)
    disputes: dict[str, DisputeInfo] = field(default_factory=dict)
    accounts: dict[str, AccountStatus] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    created_accounts: int = 0

    @property
    def publishable_key(self) -> str:
        return "pk_test_fake"

    def put(self, info: PaymentIntentInfo) -> PaymentIntentInfo:
        self.intents[info.id] = info
        return info

    def retrieve(self, pi_id: str) -> PaymentIntentInfo:
        return self.intents[pi_id]

    def cancel(self, pi_id: str, *, reason: str) -> PaymentIntentInfo:
        self.calls.append(("cancel", pi_id, reason))
        return self.put(replace(self.intents[pi_id], status="canceled", amount_capturable=0))

    def capture(self, pi_id: str, *, amount_cents: int | None = None, application_fee_cents: int | None = None,
                idempotency_key: str) -> PaymentIntentInfo:
        self.calls.append(("capture", pi_id, idempotency_key))
        current = self.intents[pi_id]
        amount = current.amount_capturable if amount_cents is None else amount_cents
        return self.put(replace(current, status="succeeded", amount_capturable=0, amount_received=amount))

    def settle_cancellation(self, pi_id: str, *, refund_cents: int, idempotency_key: str,
                            cancel_reason: str = "requested_by_customer") -> SettlementInfo:
        self.calls.append(("settle", pi_id, (refund_cents, idempotency_key)))
        return SettlementInfo(pi_id, "refunded", "succeeded", refunded_cents=refund_cents)

    def retrieve_refund(self, refund_id: str) -> RefundInfo:
        return self.refunds[refund_id]

    def list_refunds(self, pi_id: str) -> list[RefundInfo]:
        return [r for r in self.refunds.values() if r.payment_intent_id == pi_id]

    def retrieve_dispute(self, dispute_id: str) -> DisputeInfo:
        return self.disputes[dispute_id]

    def undelivered_events(self, *, limit: int = 100) -> list[dict[str, Any]]:
        return list(self.events[:limit])

    def create_host_account(self, *, user_id: str, email: str | None) -> str:
        self.created_accounts += 1
        account_id = f"acct_{user_id}"
        self.accounts.setdefault(account_id, AccountStatus(account_id, False, False, False, ("external_account",),
                                                           user_id))
        return account_id

    def onboarding_link(self, account_id: str, refresh_url: str, return_url: str) -> str:
        return f"https://connect.example/onboard/{account_id}"

    def account_status(self, account_id: str) -> AccountStatus:
        return self.accounts[account_id]

    def list_payouts(self, account_id: str) -> list[dict[str, Any]]:
        return [{"payout_id": "po_1", "amount_cents": 1000, "currency": "usd", "status": "paid"}]


@dataclass
class FakeRecords:
    rows: dict[tuple[str, str], PaymentRecord] = field(default_factory=dict)
    watches: dict[str, Watch] = field(default_factory=dict)

    def record_intent(self, intent: PaymentIntentInfo, *, booking_id: str, user_id: str | None, host_id: str | None,
                      now: str) -> bool:
        row = PaymentRecord(booking_id, intent.id, intent.kind, intent.amount, intent.currency, intent.status, now, now,
                            user_id, host_id, None, intent.amount_refunded, intent.capture_before,
                            intent.last_error_code)
        return self._forward(row, PI_RANK)

    def record_refund(self, refund: RefundInfo, *, booking_id: str, user_id: str | None, host_id: str | None,
                      now: str) -> bool:
        row = PaymentRecord(booking_id, refund.id, "refund", refund.amount, refund.currency, refund.status, now, now,
                            user_id, host_id, refund.payment_intent_id)
        return self._forward(row, REFUND_RANK)

    def record_dispute(self, dispute: DisputeInfo, *, booking_id: str, host_id: str | None, now: str) -> bool:
        self.rows[(booking_id, dispute.id)] = PaymentRecord(booking_id, dispute.id, "dispute", dispute.amount,
                                                           dispute.currency, dispute.status, now, now, None, host_id,
                                                           dispute.payment_intent_id)
        return True

    def _forward(self, row: PaymentRecord, ranks: Any) -> bool:
        """True when the status is new or moved forward; the same status only refreshes amounts."""
        key = (row.booking_id, row.payment_id)
        old = self.rows.get(key)
        if old is not None:
            row = replace(row, created_at=old.created_at)
            if old.status == row.status:
                self.rows[key] = row
                return False
            old_rank, new_rank = ranks.get(old.status, 0), ranks.get(row.status, 0)
            if not (new_rank > old_rank or new_rank == old_rank == 0):
                return False
        self.rows[key] = row
        return True

    def for_booking(self, booking_id: str) -> list[PaymentRecord]:
        return [r for (b, _), r in self.rows.items() if b == booking_id]

    def list_for_user(self, user_id: str, *, limit: int, cursor: str | None) -> RecordPage:
        mine = sorted((r for r in self.rows.values() if r.user_id == user_id), key=lambda r: r.created_at,
                      reverse=True)
        return RecordPage(mine[:limit], None)

    def watch(self, watch: Watch) -> None:
        self.watches[watch.payment_intent_id] = watch

    def unwatch(self, payment_intent_id: str) -> None:
        self.watches.pop(payment_intent_id, None)

    def due_watches(self, now: int, *, limit: int) -> list[Watch]:
        return [w for w in self.watches.values() if w.check_after <= now][:limit]


@dataclass
class FakeBookings:
    """The booking repository calls payments make (directly or through the booking engine's observe)."""

    items: dict[str, Booking] = field(default_factory=dict)
    facts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    tokens_taken: list[str] = field(default_factory=list)

    def add(self, item: Booking) -> Booking:
        self.items[item.booking_id] = item
        return item

    def get(self, booking_id: str, *, consistent: bool = False) -> Booking:
        if booking_id not in self.items:
            raise NotFound(booking_id)
        return self.items[booking_id]

    def update_fields(self, booking: Any, now: datetime, **fields: Any) -> Booking:
        for name, value in fields.items():
            setattr(self.items[booking.booking_id], name, value)
        return self.items[booking.booking_id]

    def park_token(self, booking_id: str, waiting_for: str, token: str, now: datetime) -> None:
        self.items[booking_id].task_token = token
        self.items[booking_id].waiting_for = waiting_for

    def take_token(self, booking_id: str, waiting_for: str) -> str | None:
        item = self.items[booking_id]
        if not item.task_token or item.waiting_for != waiting_for:
            return None
        token, item.task_token, item.waiting_for = item.task_token, None, None
        self.tokens_taken.append(token)
        return token

    def record_fact(self, booking_id: str, waiting_for: str, fact: dict[str, Any]) -> None:
        self.facts.setdefault((booking_id, waiting_for), fact)  # first observation wins

    def fact(self, booking_id: str, waiting_for: str) -> dict[str, Any] | None:
        return self.facts.get((booking_id, waiting_for))


@dataclass
class FakeWorkflow:
    resumed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)

    def start(self, booking_id: str, payload: dict[str, Any]) -> str:
        return f"arn:execution:{booking_id}"

    def resume(self, token: str, output: dict[str, Any]) -> bool:
        self.resumed.append((token, output))
        return True

    def fail(self, token: str, error: str, cause: str) -> bool:
        self.failed.append((token, error, cause))
        return True

    def stop(self, execution_arn: str, cause: str) -> None:
        pass


@dataclass
class FakeNotifier:
    sent: list[tuple[tuple[str, ...], dict[str, Any]]] = field(default_factory=list)

    def publish(self, user_ids: Iterable[str], event: dict[str, Any]) -> int:
        self.sent.append((tuple(user_ids), event))
        return 1


@dataclass
class FakeWebhookEvents:
    states: dict[str, str] = field(default_factory=dict)

    def begin(self, event_id: str, event_type: str, now: int) -> Literal["new", "done", "busy"]:
        state = self.states.get(event_id)
        if state is None:
            self.states[event_id] = "processing"
            return "new"
        return "done" if state == "done" else "busy"

    def finish(self, event_id: str, now: int) -> None:
        self.states[event_id] = "done"

    def abandon(self, event_id: str) -> None:
        self.states.pop(event_id, None)


@dataclass
class FakeHostAccounts:
    items: dict[str, HostAccount] = field(default_factory=dict)

    def get(self, host_id: str) -> HostAccount | None:
        return self.items.get(host_id)

    def create(self, host_id: str, account_id: str, now: str) -> HostAccount:
        return self.items.setdefault(host_id, HostAccount(host_id, account_id))

    def update_status(self, host_id: str, status: AccountStatus, checked_at_ms: int) -> bool:
        current = self.items.get(host_id)
        if current is None or current.account_id != status.account_id or current.checked_at_ms > checked_at_ms:
            return False
        self.items[host_id] = HostAccount(host_id, status.account_id, status.charges_enabled, status.payouts_enabled,
                                          status.details_submitted, status.requirements, checked_at_ms)
        return True


@dataclass
class World:
    """Every fake wired as production wires the real ones (runtime.effects)."""

    stripe: FakeStripe = field(default_factory=FakeStripe)
    records: FakeRecords = field(default_factory=FakeRecords)
    bookings: FakeBookings = field(default_factory=FakeBookings)
    workflow: FakeWorkflow = field(default_factory=FakeWorkflow)
    notifier: FakeNotifier = field(default_factory=FakeNotifier)
    counted: list[str] = field(default_factory=list)

    @property
    def effects(self) -> PaymentEffects:
        ctx = BookingContext(bookings=cast(Any, self.bookings), notifier=self.notifier, workflow=self.workflow)
        return PaymentEffects(
            stripe=cast(Any, self.stripe), records=self.records, bookings=self.bookings,
            observe=lambda booking_id, waiting_for, fact: observe(ctx, booking_id, waiting_for, fact),
            notifier=self.notifier, count=self.counted.append,
        )
