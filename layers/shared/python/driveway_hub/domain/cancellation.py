"""The cancellation policy: how much of what the driver paid comes back, by who cancels and when.

| who cancels | when                             | refund            |
|-------------|----------------------------------|-------------------|
| driver      | 24 h or more before start        | 100 %             |
| driver      | less than 24 h before start      | 50 %              |
| driver      | at or after start                | 0 %               |
| host/admin  | any time                         | 100 % (and it counts against the host) |
| anyone      | before the booking was confirmed | 100 % of anything taken (usually nothing: the PI is cancelled) |

Amounts are integer minor units of the booking's total (what the driver paid, platform fee included:
Stripe refunds the fee proportionally with ``refund_application_fee``). A percentage that does not divide
evenly rounds in the driver's favour (half a cent up). Whether the money moves as a refund, a cancelled
authorization or a partial capture is the payment adapter's business (``settle_cancellation``); this
module only says how much the driver gets back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

FULL_REFUND_NOTICE = timedelta(hours=24)
LATE_REFUND_PERCENT = 50
# Cancelled before our webhook confirmed the payment. Stripe may already have charged or held the card
# (the driver cancels as the webhook is on its way); nothing is owed for a booking never confirmed.
NOT_CONFIRMED = "not_confirmed"


class CancelledBy(StrEnum):
    DRIVER = "driver"
    HOST = "host"
    ADMIN = "admin"


@dataclass(frozen=True)
class CancellationOutcome:
    refund_cents: int
    kept_cents: int
    rule: str
    counts_against_host: bool = False


def _percent(total_cents: int, percent: int) -> int:
    # Round half up, in the driver's favour.
    return (total_cents * percent + 50) // 100


def cancellation_outcome(
    *, total_cents: int, start: datetime, now: datetime, cancelled_by: CancelledBy, confirmed: bool = True
) -> CancellationOutcome:
    """How much of ``total_cents`` goes back to the driver."""
    if total_cents < 0:
        raise ValueError("total_cents must not be negative")
    if not confirmed:
        return CancellationOutcome(total_cents, 0, NOT_CONFIRMED)
    if cancelled_by in (CancelledBy.HOST, CancelledBy.ADMIN):
        return CancellationOutcome(total_cents, 0, f"{cancelled_by.value}_cancelled",
                                   counts_against_host=cancelled_by is CancelledBy.HOST)
    if now >= start:
        return CancellationOutcome(0, total_cents, "after_start")
    if start - now >= FULL_REFUND_NOTICE:
        return CancellationOutcome(total_cents, 0, "24h_or_more_notice")
    refund = _percent(total_cents, LATE_REFUND_PERCENT)
    return CancellationOutcome(refund, total_cents - refund, "less_than_24h_notice")
