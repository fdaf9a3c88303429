"""Bookings, their history and the per-driveway calendar that makes double booking impossible.

No double booking, as a write-time guarantee
-------------------------------------------
Each driveway has one ``calendars`` item holding its live bookings' intervals (a map keyed by booking
id) and a ``version``. Reserving reads that item with a strongly consistent read, checks the new
interval against it (and the driveway's availability), then commits ONE DynamoDB transaction:

* update the calendar: add the interval, ``version + 1``, on condition ``version = <read version>``
  (or create it on condition it does not exist yet);
* put the booking, on condition it does not exist;
* put the first history entry.

Two concurrent reservations both read version *v*; only one transaction can satisfy ``version = v``,
the other is cancelled, re-reads, and now sees the winner's interval. A GSI query would not do: GSIs
are eventually consistent, so a read-then-write on them can miss a booking committed a moment ago.
Leaving a live status (cancel, expire, …) removes the interval in the same transaction that changes
the booking's status, so the calendar and the bookings cannot disagree.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from driveway_hub.data.base import TableModel
from driveway_hub.domain.availability import Interval
from driveway_hub.domain.booking_status import ALLOWED, LIVE, TERMINAL, Status
from driveway_hub.errors import InvalidInput, InvalidState, NotFound, SlotUnavailable

# Contended reservations retry this many times; each retry re-reads, so a real conflict surfaces as
# SlotUnavailable at once and only unrelated writers on the same driveway cause another attempt.
MAX_ATTEMPTS = 8
# Intervals that ended this long ago can no longer conflict with anything bookable: pruned on write.
PRUNE_AFTER = timedelta(days=2)


def _iso(value: datetime) -> str:
    return value.isoformat()


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


class _ByCreated(GlobalSecondaryIndex["Booking"]):
    class Meta:
        projection = AllProjection()


class BookingsByDriver(_ByCreated):
    class Meta(_ByCreated.Meta):
        index_name = "by_driver"

    driver_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class BookingsByHost(_ByCreated):
    class Meta(_ByCreated.Meta):
        index_name = "by_host"

    host_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class BookingsByDriveway(_ByCreated):
    class Meta(_ByCreated.Meta):
        index_name = "by_driveway"

    driveway_id = UnicodeAttribute(hash_key=True)
    start_at = UnicodeAttribute(range_key=True)


class BookingsByVin(_ByCreated):
    class Meta(_ByCreated.Meta):
        index_name = "by_vin"

    vin = UnicodeAttribute(hash_key=True)
    start_at = UnicodeAttribute(range_key=True)


class Booking(TableModel):
    logical_id = "bookings"

    booking_id = UnicodeAttribute(hash_key=True)
    driveway_id = UnicodeAttribute()
    host_id = UnicodeAttribute()
    driver_id = UnicodeAttribute()
    start_at = UnicodeAttribute()
    end_at = UnicodeAttribute()
    status = UnicodeAttribute()
    currency = UnicodeAttribute()
    subtotal_cents = NumberAttribute()
    platform_fee_cents = NumberAttribute()
    total_cents = NumberAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    history_seq = NumberAttribute(default=0)
    vehicle_id = UnicodeAttribute(null=True)
    vin = UnicodeAttribute(null=True)  # set only with a vehicle: the by_vin index stays sparse
    capture_method = UnicodeAttribute(null=True)
    payment_intent_id = UnicodeAttribute(null=True)
    task_token = UnicodeAttribute(null=True)
    # Which lifecycle step holds task_token: "payment", "approval", "arrival", "parked", "departure".
    waiting_for = UnicodeAttribute(null=True)
    execution_arn = UnicodeAttribute(null=True)
    details = MapAttribute[str, Any](null=True)  # free-form extras (refund, cancellation, quote lines)
    # What was observed for each awaited step ("payment", "arrival", …), whether or not its token was
    # parked yet: the step that parks its token late finds the fact here (see adapters/workflow.py).
    facts = MapAttribute[str, Any](null=True)

    by_driver = BookingsByDriver()
    by_host = BookingsByHost()
    by_driveway = BookingsByDriveway()
    by_vin = BookingsByVin()

    @property
    def interval(self) -> Interval:
        return Interval(_dt(self.start_at), _dt(self.end_at))


class BookingHistoryEntry(TableModel):
    logical_id = "booking_history"

    booking_id = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    status = UnicodeAttribute()
    previous = UnicodeAttribute(null=True)
    at = UnicodeAttribute()
    by = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)


class Calendar(TableModel):
    logical_id = "calendars"

    driveway_id = UnicodeAttribute(hash_key=True)
    version = NumberAttribute()
    # booking_id -> {"start": iso, "end": iso}
    intervals = MapAttribute[str, Any]()


@dataclass(frozen=True)
class Page:
    items: list[Booking]
    next_cursor: str | None


def encode_cursor(last_evaluated_key: dict[str, Any] | None) -> str | None:
    if not last_evaluated_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_evaluated_key, sort_keys=True).encode()).decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as exc:
        raise InvalidInput("cursor is not one this API returned", field="cursor") from exc
    if not isinstance(value, dict):
        raise InvalidInput("cursor is not one this API returned", field="cursor")
    return value


def _calendar_intervals(calendar: Calendar | None) -> dict[str, Interval]:
    if calendar is None:
        return {}
    raw = calendar.intervals.as_dict() if hasattr(calendar.intervals, "as_dict") else dict(calendar.intervals)
    return {bid: Interval(_dt(v["start"]), _dt(v["end"])) for bid, v in raw.items()}


def _is_contention(exc: TransactWriteError) -> bool:
    reasons = exc.cancellation_reasons or []
    return any(r is not None and r.code in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons)


class BookingRepository:
    """Persistence for bookings; every write that matters is conditional."""

    def __init__(self, region: str, host: str | None = None):
        self._connection = Connection(region=region, host=host)

    # ---- reads -----------------------------------------------------------------------------------
    def get(self, booking_id: str, *, consistent: bool = False) -> Booking:
        try:
            return Booking.get(booking_id, consistent_read=consistent)
        except DoesNotExist as exc:
            raise NotFound(f"booking {booking_id} not found") from exc

    def history(self, booking_id: str) -> list[BookingHistoryEntry]:
        return list(BookingHistoryEntry.query(booking_id, consistent_read=True))

    def live_intervals(self, driveway_id: str) -> dict[str, Interval]:
        return _calendar_intervals(self._calendar(driveway_id))

    def list_for(self, role: str, user_id: str, *, limit: int, cursor: str | None,
                 status: str | None = None) -> Page:
        index = Booking.by_driver if role == "driver" else Booking.by_host
        condition = Booking.status == status if status else None
        result = index.query(user_id, scan_index_forward=False, limit=limit, filter_condition=condition,
                             last_evaluated_key=decode_cursor(cursor))
        items = list(result)
        return Page(items, encode_cursor(result.last_evaluated_key))

    def active_for_vin(self, vin: str, now: datetime) -> Booking | None:
        """The live booking of a car around now (telemetry lookup): newest start first, few items."""
        window_start = _iso(now - timedelta(days=31))
        for booking in Booking.by_vin.query(vin, Booking.start_at >= window_start, scan_index_forward=False):
            if booking.status in LIVE and _dt(booking.start_at) - timedelta(hours=12) <= now:
                return booking
        return None

    def _calendar(self, driveway_id: str) -> Calendar | None:
        try:
            return Calendar.get(driveway_id, consistent_read=True)
        except DoesNotExist:
            return None

    # ---- writes ----------------------------------------------------------------------------------
    def reserve(self, booking: Booking, *, by: str, now: datetime,
                is_free: Callable[[Iterable[Interval]], bool]) -> Booking:
        """Create ``booking`` holding its slot, or raise SlotUnavailable.

        ``is_free`` gets the driveway's other live intervals and decides (availability windows,
        blackouts and these bookings: see domain.availability.is_free).
        """
        booking.status = Status.PENDING_PAYMENT.value if not booking.status else booking.status
        booking.history_seq = 1
        interval = {"start": booking.start_at, "end": booking.end_at}
        for _attempt in range(MAX_ATTEMPTS):
            calendar = self._calendar(booking.driveway_id)
            existing = _calendar_intervals(calendar)
            if not is_free(existing.values()):
                raise SlotUnavailable("The driveway is not free for that time.")
            try:
                with TransactWrite(connection=self._connection) as tx:
                    if calendar is None:
                        tx.save(Calendar(booking.driveway_id, version=1, intervals={booking.booking_id: interval}),
                                condition=Calendar.driveway_id.does_not_exist())
                    else:
                        stale = [bid for bid, iv in existing.items() if iv.end < now - PRUNE_AFTER]
                        actions: list[Action] = [
                            Calendar.intervals[booking.booking_id].set(interval), Calendar.version.add(1)
                        ]
                        actions += [Calendar.intervals[bid].remove() for bid in stale]
                        tx.update(calendar, actions=actions, condition=Calendar.version == calendar.version)
                    tx.save(booking, condition=Booking.booking_id.does_not_exist())
                    tx.save(self._history(booking.booking_id, 1, booking.status, None, now, by, "created"),
                            condition=BookingHistoryEntry.seq.does_not_exist())
                return booking
            except TransactWriteError as exc:
                if not _is_contention(exc):
                    raise
        raise SlotUnavailable("The driveway's calendar is busy; try again.")

    def transition(
        self, booking_id: str, new: Status, *, by: str, reason: str | None, now: datetime,
        expected: frozenset[Status] | None = None, updates: dict[str, Any] | None = None,
    ) -> tuple[Booking, bool]:
        """Move a booking to ``new`` from one of ``expected`` (default: ``ALLOWED[new]``).

        Returns ``(booking, changed)``. Already in ``new`` → no write, ``changed`` False (retries and
        duplicate webhooks are harmless). Any other status → InvalidState. The status update, the
        history entry and (when leaving a live status) the calendar release commit together.
        """
        allowed = expected if expected is not None else ALLOWED[new]
        for _attempt in range(MAX_ATTEMPTS):
            booking = self.get(booking_id, consistent=True)
            current = Status(booking.status)
            if current == new:
                return booking, False
            if current not in allowed:
                raise InvalidState(f"booking is {current.value}; cannot become {new.value}")
            seq = int(booking.history_seq) + 1
            actions: list[Action] = [
                Booking.status.set(new.value), Booking.updated_at.set(_iso(now)), Booking.history_seq.set(seq)
            ]
            for name, value in (updates or {}).items():
                attribute = getattr(Booking, name)
                actions.append(attribute.remove() if value is None else attribute.set(value))
            try:
                with TransactWrite(connection=self._connection) as tx:
                    unchanged = (Booking.status == current.value) & (Booking.history_seq == booking.history_seq)
                    tx.update(booking, actions=actions, condition=unchanged)
                    tx.save(self._history(booking_id, seq, new.value, current.value, now, by, reason),
                            condition=BookingHistoryEntry.seq.does_not_exist())
                    if new in TERMINAL and current in LIVE:
                        tx.update(Calendar(booking.driveway_id),
                                  actions=[Calendar.intervals[booking_id].remove(), Calendar.version.add(1)],
                                  condition=Calendar.driveway_id.exists())
                booking.refresh(consistent_read=True)
                return booking, True
            except TransactWriteError as exc:
                if not _is_contention(exc):
                    raise
        raise InvalidState("booking changed concurrently too many times; try again")

    def update_fields(self, booking: Booking, now: datetime, **fields: Any) -> Booking:
        """Set non-status fields (payment ids, execution ARN, details) of an existing booking."""
        actions: list[Action] = [Booking.updated_at.set(_iso(now))]
        for name, value in fields.items():
            attribute = getattr(Booking, name)
            actions.append(attribute.remove() if value is None else attribute.set(value))
        # Not conditioned on the status: these fields never decide a transition, and the status may move
        # concurrently (a fast webhook or cancel) between reading the booking and recording its ids.
        booking.update(actions=actions, condition=Booking.booking_id.exists())
        return booking

    def park_token(self, booking_id: str, waiting_for: str, token: str, now: datetime) -> None:
        """Store the lifecycle's task token for the step that waits (called by that step's task)."""
        try:
            Booking(booking_id).update(
                actions=[Booking.task_token.set(token), Booking.waiting_for.set(waiting_for),
                         Booking.updated_at.set(_iso(now))],
                condition=Booking.booking_id.exists(),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise NotFound(f"booking {booking_id} not found") from exc
            raise

    def record_fact(self, booking_id: str, waiting_for: str, fact: dict[str, Any]) -> None:
        """Remember that the awaited fact happened (first observation wins)."""
        booking = self.get(booking_id, consistent=True)
        facts = dict(booking.facts.as_dict() if booking.facts else {})
        if waiting_for in facts:
            return
        facts[waiting_for] = fact
        try:
            booking.update(actions=[Booking.facts.set(facts)],
                           condition=Booking.facts.does_not_exist() | (Booking.facts == booking.facts))
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            self.record_fact(booking_id, waiting_for, fact)  # another fact landed meanwhile: merge again

    def fact(self, booking_id: str, waiting_for: str) -> dict[str, Any] | None:
        booking = self.get(booking_id, consistent=True)
        facts = booking.facts.as_dict() if booking.facts else {}
        value = facts.get(waiting_for)
        return dict(value) if isinstance(value, dict) else None

    def take_token(self, booking_id: str, waiting_for: str) -> str | None:
        """Claim the task token of the step ``waiting_for``, exactly once.

        A conditional remove: of two concurrent callers (duplicate webhooks, replayed telemetry) only
        one gets the token; the other gets None and must not resume the workflow again.
        """
        booking = self.get(booking_id, consistent=True)
        token = booking.task_token
        if not token or booking.waiting_for != waiting_for:
            return None
        try:
            booking.update(actions=[Booking.task_token.remove(), Booking.waiting_for.remove()],
                           condition=(Booking.task_token == token) & (Booking.waiting_for == waiting_for))
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return token

    def reschedule(self, booking: Booking, new_end: datetime, *, by: str, now: datetime,
                   is_free: Callable[[Iterable[Interval]], bool], updates: dict[str, Any]) -> Booking:
        """Extend a live booking's end, with the same calendar guarantee as ``reserve``."""
        for _attempt in range(MAX_ATTEMPTS):
            calendar = self._calendar(booking.driveway_id)
            others = {bid: iv for bid, iv in _calendar_intervals(calendar).items() if bid != booking.booking_id}
            if not is_free(others.values()):
                raise SlotUnavailable("The driveway is not free for the extended time.")
            if calendar is None:
                raise InvalidState("booking holds no slot")
            actions: list[Action] = [Booking.end_at.set(_iso(new_end)), Booking.updated_at.set(_iso(now))]
            actions += [getattr(Booking, k).set(v) for k, v in updates.items()]
            try:
                with TransactWrite(connection=self._connection) as tx:
                    tx.update(calendar, actions=[
                        Calendar.intervals[booking.booking_id].set({"start": booking.start_at, "end": _iso(new_end)}),
                        Calendar.version.add(1),
                    ], condition=Calendar.version == calendar.version)
                    tx.update(booking, actions=actions, condition=Booking.status == booking.status)
                booking.refresh(consistent_read=True)
                return booking
            except TransactWriteError as exc:
                if not _is_contention(exc):
                    raise
        raise SlotUnavailable("The driveway's calendar is busy; try again.")

    @staticmethod
    def _history(booking_id: str, seq: int, status: str, previous: str | None, now: datetime, by: str,
                 reason: str | None) -> BookingHistoryEntry:
        return BookingHistoryEntry(booking_id, seq, status=status, previous=previous, at=_iso(now), by=by,
                                   reason=reason)
