"""Payment records, host payout accounts, the reconciler's watch list and processed webhook events.

Item types in the ``payments`` table (partition ``booking_id``, sort ``payment_id``; GSI ``by_user`` on
``user_id`` + ``created_at``):

==========================  ===================  =========================================================
booking_id                  payment_id           what
==========================  ===================  =========================================================
``<booking id>``            ``pi_…``             a PaymentIntent: charge / extension / overstay / no_show
``<booking id>``            ``re_…``             a refund of one of them
``<booking id>``            ``dp_…``             a dispute (no ``user_id``: ops data, not in the driver's list)
``host#<user id>``          ``account``          the host's Stripe Connect account and payout status
``watch#<0..7>``            ``pi_…``             a PaymentIntent the reconciler checks (see below)
==========================  ===================  =========================================================

Only rows a driver should see carry ``user_id`` (the driver) and ``created_at``, so the ``by_user``
index stays sparse: ``GET /v1/payments`` is one Query, newest first.

Forward-only writes: a status change is conditional on the status rank (``ports.PI_RANK``,
``ports.REFUND_RANK``), so webhooks delivered twice or out of order, and concurrent writers holding an
older retrieval, can never move a payment backwards; the same status only refreshes amounts.

The watch list: no Scan on any path, and the bookings table has no index on payment state (its
indexes belong to the booking engineer), so PaymentIntents to reconcile are kept in eight fixed
partitions ``watch#0..7`` of this table (sharded by a hash of the PaymentIntent id so no partition runs
hot). The reconciler Queries each partition for ``check_after <= now``. An item is added or moved when
a webhook records a PaymentIntent, and removed once its money and booking agree for good.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any, Literal

from pynamodb.attributes import BooleanAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from driveway_hub.data.base import TableModel
from driveway_hub.errors import InvalidInput
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
    Watch,
)

_CONDITION_FAILED = "ConditionalCheckFailedException"
WATCH_SHARDS = 8
WEBHOOK_EVENT_TTL_S = 30 * 24 * 3600
# A delivery that crashed mid-way leaves its event "processing"; after this lease a retry takes over.
WEBHOOK_LEASE_S = 60


def _condition_failed(exc: PutError | UpdateError | DeleteError) -> bool:
    return exc.cause_response_code == _CONDITION_FAILED


# ---- models --------------------------------------------------------------------------------------
class PaymentsByUser(GlobalSecondaryIndex["PaymentItem"]):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class PaymentItem(TableModel):
    logical_id = "payments"

    booking_id = UnicodeAttribute(hash_key=True)
    payment_id = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    amount_cents = NumberAttribute()
    currency = UnicodeAttribute()
    status = UnicodeAttribute()
    status_rank = NumberAttribute()
    updated_at = UnicodeAttribute()
    user_id = UnicodeAttribute(null=True)  # the driver; absent on ops-only rows (sparse by_user index)
    created_at = UnicodeAttribute(null=True)
    host_id = UnicodeAttribute(null=True)
    payment_intent_id = UnicodeAttribute(null=True)
    amount_refunded_cents = NumberAttribute(null=True)
    capture_before = NumberAttribute(null=True)
    last_error_code = UnicodeAttribute(null=True)

    by_user = PaymentsByUser()

    def to_record(self) -> PaymentRecord:
        return PaymentRecord(
            booking_id=self.booking_id, payment_id=self.payment_id, kind=self.kind,
            amount_cents=int(self.amount_cents), currency=self.currency, status=self.status,
            created_at=self.created_at or self.updated_at, updated_at=self.updated_at, user_id=self.user_id,
            host_id=self.host_id, payment_intent_id=self.payment_intent_id,
            amount_refunded_cents=int(self.amount_refunded_cents or 0),
            capture_before=None if self.capture_before is None else int(self.capture_before),
            last_error_code=self.last_error_code,
        )


class HostAccountItem(TableModel):
    """``host#<user id>`` / ``account``: never carries user_id, so it stays out of by_user."""

    logical_id = "payments"

    booking_id = UnicodeAttribute(hash_key=True)
    payment_id = UnicodeAttribute(range_key=True)
    host_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    opened_at = UnicodeAttribute()
    charges_enabled = BooleanAttribute(default=False)
    payouts_enabled = BooleanAttribute(default=False)
    details_submitted = BooleanAttribute(default=False)
    requirements = ListAttribute(of=UnicodeAttribute, default=list)
    checked_at_ms = NumberAttribute(default=0)

    def to_account(self) -> HostAccount:
        return HostAccount(
            host_id=self.host_id, account_id=self.account_id, charges_enabled=bool(self.charges_enabled),
            payouts_enabled=bool(self.payouts_enabled), details_submitted=bool(self.details_submitted),
            requirements=tuple(str(r) for r in self.requirements or []), checked_at_ms=int(self.checked_at_ms or 0),
        )


class WatchItem(TableModel):
    logical_id = "payments"

    booking_id = UnicodeAttribute(hash_key=True)  # watch#<shard>
    payment_id = UnicodeAttribute(range_key=True)  # the PaymentIntent id
    target_booking_id = UnicodeAttribute()
    check_after = NumberAttribute()


class WebhookEventItem(TableModel):
    logical_id = "webhook_events"

    event_id = UnicodeAttribute(hash_key=True)
    event_type = UnicodeAttribute()
    status = UnicodeAttribute()  # processing | done
    received_at = NumberAttribute()
    lease_until = NumberAttribute()
    expires_at = NumberAttribute()  # TTL: 30 days, beyond Stripe's 3 days of retries


def host_key(host_id: str) -> str:
    return f"host#{host_id}"


def watch_shard(payment_intent_id: str) -> str:
    return f"watch#{zlib.crc32(payment_intent_id.encode()) % WATCH_SHARDS}"


# ---- payment records -----------------------------------------------------------------------------
def _moves_forward(rank: int, status: str) -> Condition:
    """A new row, or a different status that is further on (pre-authorization statuses move freely)."""
    condition: Condition = PaymentItem.payment_id.does_not_exist() | (PaymentItem.status_rank < rank)
    if rank == 0:
        condition = condition | ((PaymentItem.status_rank == 0) & (PaymentItem.status != status))
    return condition


class DynamoPaymentRecords:
    """``PaymentRecordsPort`` on the payments table. Call ``bind_models(settings)`` first."""

    def record_intent(self, intent: PaymentIntentInfo, *, booking_id: str, user_id: str | None, host_id: str | None,
                      now: str) -> bool:
        rank = PI_RANK.get(intent.status, 0)
        actions: list[Action] = [
            PaymentItem.kind.set(intent.kind),
            PaymentItem.amount_cents.set(intent.amount),
            PaymentItem.currency.set(intent.currency),
            PaymentItem.status.set(intent.status),
            PaymentItem.status_rank.set(rank),
            PaymentItem.updated_at.set(now),
            PaymentItem.created_at.set(PaymentItem.created_at | now),
            PaymentItem.amount_refunded_cents.set(intent.amount_refunded),
        ]
        actions += _optional(user_id=user_id, host_id=host_id, capture_before=intent.capture_before,
                             last_error_code=intent.last_error_code)
        # Refunds only grow: an older retrieval of the same status must not shrink the refunded amount.
        grown = PaymentItem.amount_refunded_cents.does_not_exist() | (
            PaymentItem.amount_refunded_cents <= intent.amount_refunded)
        return self._write(PaymentItem(booking_id, intent.id), actions, rank, intent.status, grown)

    def record_refund(self, refund: RefundInfo, *, booking_id: str, user_id: str | None, host_id: str | None,
                      now: str) -> bool:
        rank = REFUND_RANK.get(refund.status, 0)
        actions: list[Action] = [
            PaymentItem.kind.set("refund"),
            PaymentItem.amount_cents.set(refund.amount),
            PaymentItem.currency.set(refund.currency),
            PaymentItem.status.set(refund.status),
            PaymentItem.status_rank.set(rank),
            PaymentItem.updated_at.set(now),
            PaymentItem.created_at.set(PaymentItem.created_at | now),
        ]
        actions += _optional(user_id=user_id, host_id=host_id, payment_intent_id=refund.payment_intent_id,
                             last_error_code=refund.failure_reason)
        return self._write(PaymentItem(booking_id, refund.id), actions, rank, refund.status)

    def record_dispute(self, dispute: DisputeInfo, *, booking_id: str, host_id: str | None, now: str) -> bool:
        actions: list[Action] = [
            PaymentItem.kind.set("dispute"),
            PaymentItem.amount_cents.set(dispute.amount),
            PaymentItem.currency.set(dispute.currency),
            PaymentItem.status.set(dispute.status),
            PaymentItem.status_rank.set(0),
            PaymentItem.updated_at.set(now),
        ]
        actions += _optional(host_id=host_id, payment_intent_id=dispute.payment_intent_id,
                             last_error_code=dispute.reason)
        return _conditional_update(PaymentItem(booking_id, dispute.id), actions, None)

    @staticmethod
    def _write(item: PaymentItem, actions: list[Action], rank: int, status: str,
               refresh_if: Condition | None = None) -> bool:
        """True when the status changed (new row or moved forward). The same status only refreshes the
        amounts (refunds, capture) and answers False; an older status changes nothing."""
        if _conditional_update(item, actions, _moves_forward(rank, status)):
            return True
        same = PaymentItem.status == status
        _conditional_update(item, actions, same if refresh_if is None else same & refresh_if)
        return False

    def for_booking(self, booking_id: str) -> list[PaymentRecord]:
        return [item.to_record() for item in PaymentItem.query(booking_id, consistent_read=True)]

    def list_for_user(self, user_id: str, *, limit: int, cursor: str | None) -> RecordPage:
        start = _decode_cursor(cursor, user_id)
        result = PaymentItem.by_user.query(user_id, scan_index_forward=False, limit=limit, last_evaluated_key=start)
        items = [item.to_record() for item in result]
        return RecordPage(items, _encode_cursor(result.last_evaluated_key))

    # ---- the reconciler's watch list -------------------------------------------------------------
    def watch(self, watch: Watch) -> None:
        WatchItem(watch_shard(watch.payment_intent_id), watch.payment_intent_id,
                  target_booking_id=watch.booking_id, check_after=watch.check_after).save()

    def unwatch(self, payment_intent_id: str) -> None:
        WatchItem(watch_shard(payment_intent_id), payment_intent_id).delete()

    def due_watches(self, now: int, *, limit: int) -> list[Watch]:
        due: list[Watch] = []
        for shard in range(WATCH_SHARDS):
            for item in WatchItem.query(f"watch#{shard}", filter_condition=WatchItem.check_after <= now):
                due.append(Watch(item.payment_id, item.target_booking_id, int(item.check_after)))
                if len(due) >= limit:
                    return due
        return due


def _conditional_update(item: PaymentItem, actions: list[Action], condition: Condition | None) -> bool:
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if _condition_failed(exc):
            return False
        raise
    return True


def _optional(**values: Any) -> list[Action]:
    """Set the attributes that have a value; leave the others as stored (never erase with None)."""
    return [getattr(PaymentItem, name).set(value) for name, value in values.items() if value is not None]


def _encode_cursor(last_evaluated_key: dict[str, Any] | None) -> str | None:
    if not last_evaluated_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_evaluated_key, sort_keys=True).encode()).decode()


def _decode_cursor(cursor: str | None, user_id: str) -> dict[str, Any] | None:
    """The start key from a cursor we issued, for this caller only (a forged one is a 400, not a 500)."""
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as exc:
        raise InvalidInput("cursor is not one this API returned", field="cursor") from exc
    expected = {"booking_id", "payment_id", "user_id", "created_at"}
    if (not isinstance(value, dict) or set(value) != expected
            or not all(isinstance(v, dict) and isinstance(v.get("S"), str) for v in value.values())
            or value["user_id"]["S"] != user_id):
        raise InvalidInput("cursor is not one this API returned", field="cursor")
    return value


# ---- host payout accounts ------------------------------------------------------------------------
class DynamoHostAccounts:
    """``HostAccountsPort``: the host's connected account id and what Stripe lets it do."""

    def get(self, host_id: str) -> HostAccount | None:
        try:
            return HostAccountItem.get(host_key(host_id), "account", consistent_read=True).to_account()
        except DoesNotExist:
            return None

    def create(self, host_id: str, account_id: str, now: str) -> HostAccount:
        """Remember the host's account; if another request stored one first, that one is the host's."""
        item = HostAccountItem(host_key(host_id), "account", host_id=host_id, account_id=account_id, opened_at=now)
        try:
            item.save(condition=HostAccountItem.booking_id.does_not_exist())
        except PutError as exc:
            if not _condition_failed(exc):
                raise
            existing = self.get(host_id)
            if existing is None:  # the condition failed because it exists, and accounts are never deleted
                raise RuntimeError(f"host account item of {host_id} vanished") from exc
            return existing
        return item.to_account()

    def update_status(self, host_id: str, status: AccountStatus, checked_at_ms: int) -> bool:
        """Store the account's status as retrieved at ``checked_at_ms``; an older retrieval never wins."""
        try:
            HostAccountItem(host_key(host_id), "account").update(
                actions=[
                    HostAccountItem.charges_enabled.set(status.charges_enabled),
                    HostAccountItem.payouts_enabled.set(status.payouts_enabled),
                    HostAccountItem.details_submitted.set(status.details_submitted),
                    # pynamodb's stubs type list values as attributes; the values are plain strings.
                    HostAccountItem.requirements.set(list(status.requirements)),  # type: ignore[arg-type]
                    HostAccountItem.checked_at_ms.set(checked_at_ms),
                ],
                condition=HostAccountItem.booking_id.exists()
                & (HostAccountItem.account_id == status.account_id)
                & (HostAccountItem.checked_at_ms.does_not_exist() | (HostAccountItem.checked_at_ms <= checked_at_ms)),
            )
        except UpdateError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True


# ---- processed webhook events --------------------------------------------------------------------
class DynamoWebhookEvents:
    """``WebhookEventsPort``: at most one successful processing per Stripe event id.

    ``begin`` claims the event with a conditional put (new, or a crashed claim whose lease ran out);
    ``finish`` marks it done; ``abandon`` releases a claim whose processing failed, so Stripe's retry
    processes it again instead of being mistaken for a duplicate.
    """

    def begin(self, event_id: str, event_type: str, now: int) -> Literal["new", "done", "busy"]:
        item = WebhookEventItem(event_id, event_type=event_type, status="processing", received_at=now,
                                lease_until=now + WEBHOOK_LEASE_S, expires_at=now + WEBHOOK_EVENT_TTL_S)
        try:
            item.save(condition=WebhookEventItem.event_id.does_not_exist()
                      | ((WebhookEventItem.status == "processing") & (WebhookEventItem.lease_until < now)))
        except PutError as exc:
            if not _condition_failed(exc):
                raise
            try:
                existing = WebhookEventItem.get(event_id, consistent_read=True)
            except DoesNotExist:
                return "busy"  # released between our put and this read: let Stripe retry
            return "done" if existing.status == "done" else "busy"
        return "new"

    def finish(self, event_id: str, now: int) -> None:
        WebhookEventItem(event_id).update(actions=[WebhookEventItem.status.set("done")])

    def abandon(self, event_id: str) -> None:
        try:
            WebhookEventItem(event_id).delete(condition=WebhookEventItem.status == "processing")
        except DeleteError as exc:
            if not _condition_failed(exc):
                raise
