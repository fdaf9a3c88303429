"""No double booking, ever: the calendar's conditional transaction under real concurrency (threads
against moto's DynamoDB) and under random sequences of create / cancel / extend (Hypothesis)."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driveway_hub.config import get_settings
from driveway_hub.data.base import bind_models
from driveway_hub.data.bookings import Booking, BookingRepository
from driveway_hub.domain.availability import Interval
from driveway_hub.domain.booking_status import LIVE, Status
from driveway_hub.errors import InvalidState, SlotUnavailable
from local.cloud import LocalCloud

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def repo(local_cloud: LocalCloud) -> BookingRepository:
    settings = get_settings()
    bind_models(settings)
    return BookingRepository(settings.region, settings.aws_endpoint_url)


def _no_overlap(wanted: Interval) -> object:
    def is_free(others: Iterable[Interval]) -> bool:
        return all(not (o.start < wanted.end and wanted.start < o.end) for o in others)

    return is_free


def _booking(driveway_id: str, start: datetime, end: datetime) -> Booking:
    now = T0.isoformat()
    return Booking(
        str(uuid.uuid4()), driveway_id=driveway_id, host_id="host-1", driver_id="driver-1",
        start_at=start.isoformat(), end_at=end.isoformat(), status="", currency="usd",
        subtotal_cents=1000, platform_fee_cents=150, total_cents=1150, created_at=now, updated_at=now,
    )


def _reserve(repo: BookingRepository, driveway_id: str, start: datetime, end: datetime) -> Booking:
    booking = _booking(driveway_id, start, end)
    is_free = _no_overlap(Interval(start, end))
    return repo.reserve(booking, by="driver-1", now=T0, is_free=is_free)  # type: ignore[arg-type]


def test_fifty_threads_booking_overlapping_windows_exactly_one_wins(repo: BookingRepository) -> None:
    driveway_id = f"dw-race-{uuid.uuid4()}"
    barrier = threading.Barrier(50)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        start = T0 + timedelta(minutes=i % 30)  # all windows overlap the others
        barrier.wait()
        try:
            _reserve(repo, driveway_id, start, start + timedelta(hours=2))
            result = "won"
        except SlotUnavailable:
            result = "slot_unavailable"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1
    assert outcomes.count("slot_unavailable") == 49
    assert len(repo.live_intervals(driveway_id)) == 1


def test_non_overlapping_concurrent_bookings_all_succeed(repo: BookingRepository) -> None:
    driveway_id = f"dw-parallel-{uuid.uuid4()}"
    errors: list[Exception] = []

    def attempt(i: int) -> None:
        start = T0 + timedelta(hours=3 * i)
        try:
            _reserve(repo, driveway_id, start, start + timedelta(hours=2))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(repo.live_intervals(driveway_id)) == 6


def test_cancelling_releases_the_slot_and_records_history(repo: BookingRepository) -> None:
    driveway_id = f"dw-cancel-{uuid.uuid4()}"
    first = _reserve(repo, driveway_id, T0, T0 + timedelta(hours=2))
    with pytest.raises(SlotUnavailable):
        _reserve(repo, driveway_id, T0 + timedelta(hours=1), T0 + timedelta(hours=3))
    booking, changed = repo.transition(
        first.booking_id, Status.CANCELLED, by="driver-1", reason="plans changed", now=T0
    )
    assert changed and booking.status == "CANCELLED"
    again, changed_again = repo.transition(first.booking_id, Status.CANCELLED, by="driver-1", reason="again", now=T0)
    assert not changed_again and again.status == "CANCELLED"
    _reserve(repo, driveway_id, T0 + timedelta(hours=1), T0 + timedelta(hours=3))
    history = repo.history(first.booking_id)
    assert [(h.status, h.previous, h.by, h.reason) for h in history] == [
        ("PENDING_PAYMENT", None, "driver-1", "created"),
        ("CANCELLED", "PENDING_PAYMENT", "driver-1", "plans changed"),
    ]


def test_status_never_moves_backwards(repo: BookingRepository) -> None:
    booking = _reserve(repo, f"dw-back-{uuid.uuid4()}", T0, T0 + timedelta(hours=1))
    repo.transition(booking.booking_id, Status.CONFIRMED, by="stripe", reason="paid", now=T0)
    with pytest.raises(InvalidState):
        repo.transition(booking.booking_id, Status.PAYMENT_FAILED, by="stripe", reason="late event", now=T0)


# ---- property: random create / cancel / extend sequences never leave two live overlapping bookings ----
operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.integers(0, 20), st.integers(1, 6)),
        st.tuples(st.just("cancel"), st.integers(0, 30), st.just(0)),
        st.tuples(st.just("extend"), st.integers(0, 30), st.integers(1, 4)),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_random_sequences_never_double_book(repo: BookingRepository, ops: list[tuple[str, int, int]]) -> None:
    driveway_id = f"dw-prop-{uuid.uuid4()}"
    created: list[Booking] = []
    for op, a, b in ops:
        if op == "create":
            start = T0 + timedelta(hours=a)
            with contextlib.suppress(SlotUnavailable):
                created.append(_reserve(repo, driveway_id, start, start + timedelta(hours=b)))
        elif op == "cancel" and created:
            target = created[a % len(created)]
            repo.transition(target.booking_id, Status.CANCELLED, by="driver-1", reason=None, now=T0)
        elif op == "extend" and created:
            target = repo.get(created[a % len(created)].booking_id, consistent=True)
            if Status(target.status) not in LIVE:
                continue
            new_end = target.interval.end + timedelta(hours=b)
            is_free = _no_overlap(Interval(target.interval.start, new_end))
            with contextlib.suppress(SlotUnavailable):
                repo.reschedule(target, new_end, by="driver-1", now=T0, is_free=is_free, updates={})  # type: ignore[arg-type]
    live = [repo.get(b.booking_id, consistent=True) for b in created]
    live = [b for b in live if Status(b.status) in LIVE]
    for i, x in enumerate(live):
        for y in live[i + 1:]:
            overlap = x.interval.start < y.interval.end and y.interval.start < x.interval.end
            assert not overlap, (x.booking_id, y.booking_id)
    # The calendar holds exactly the live bookings, with their current intervals.
    assert repo.live_intervals(driveway_id) == {b.booking_id: b.interval for b in live}
