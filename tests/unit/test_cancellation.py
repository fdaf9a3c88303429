from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driveway_hub.domain.cancellation import CancelledBy, cancellation_outcome

START = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before_start", "by", "refund", "rule"),
    [
        (timedelta(hours=48), CancelledBy.DRIVER, 10_001, "24h_or_more_notice"),
        (timedelta(hours=24), CancelledBy.DRIVER, 10_001, "24h_or_more_notice"),
        (timedelta(hours=23, minutes=59), CancelledBy.DRIVER, 5_001, "less_than_24h_notice"),
        (timedelta(0), CancelledBy.DRIVER, 0, "after_start"),
        (timedelta(hours=-1), CancelledBy.DRIVER, 0, "after_start"),
        (timedelta(hours=-1), CancelledBy.HOST, 10_001, "host_cancelled"),
        (timedelta(hours=2), CancelledBy.ADMIN, 10_001, "admin_cancelled"),
    ],
)
def test_policy_table(before_start: timedelta, by: CancelledBy, refund: int, rule: str) -> None:
    outcome = cancellation_outcome(total_cents=10_001, start=START, now=START - before_start, cancelled_by=by)
    assert (outcome.refund_cents, outcome.rule) == (refund, rule)
    assert outcome.refund_cents + outcome.kept_cents == 10_001


def test_host_cancellation_counts_against_the_host() -> None:
    outcome = cancellation_outcome(total_cents=500, start=START, now=START, cancelled_by=CancelledBy.HOST)
    assert outcome.counts_against_host


def test_nothing_is_owed_before_the_booking_is_confirmed() -> None:
    # Whatever a payment racing our webhook took comes back, even at or after start.
    outcome = cancellation_outcome(total_cents=500, start=START, now=START, cancelled_by=CancelledBy.DRIVER,
                                   confirmed=False)
    assert (outcome.refund_cents, outcome.kept_cents, outcome.rule) == (500, 0, "not_confirmed")


@given(total=st.integers(0, 10**9), minutes=st.integers(-10_000, 10_000), by=st.sampled_from(list(CancelledBy)))
def test_refund_never_exceeds_what_was_paid(total: int, minutes: int, by: CancelledBy) -> None:
    now = START - timedelta(minutes=minutes)
    outcome = cancellation_outcome(total_cents=total, start=START, now=now, cancelled_by=by)
    assert 0 <= outcome.refund_cents <= total
    assert outcome.refund_cents + outcome.kept_cents == total
