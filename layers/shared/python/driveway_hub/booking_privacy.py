"""Bookings in a user's data export, and what erasing an account does to them.

Export: every booking the user made (as driver) or hosted, with its status history.
Erasure: live bookings that have not started are cancelled under the normal policy (as the driver:
the driver's refund rule; as the host: a full refund to the driver). Booking and payment records are
kept (docs/retention.md): they hold ids and amounts, not names or contact details, and tax and dispute
rules require them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from driveway_hub.booking_views import booking_view, history_view
from driveway_hub.data.bookings import Booking
from driveway_hub.domain.booking_status import Status
from driveway_hub.domain.bookings import BookingContext, Caller, PaymentsPort, cancel_booking
from driveway_hub.observability import logger

CANCELLABLE = frozenset({Status.PENDING_PAYMENT, Status.AWAITING_APPROVAL, Status.CONFIRMED})


class BookingPersonalData:
    section = "bookings"

    def __init__(self, ctx: BookingContext, payments: PaymentsPort,
                 payment_watch: Callable[[datetime], Callable[[str, str], None]]):
        self._ctx = ctx
        self._payments = payments
        self._payment_watch = payment_watch  # cancel_booking's watch_payment, for the time of the erasure

    def _all(self, role: str, user_id: str) -> list[Booking]:
        items: list[Booking] = []
        cursor = None
        while True:
            page = self._ctx.bookings.list_for(role, user_id, limit=100, cursor=cursor)
            items.extend(page.items)
            if not page.next_cursor:
                return items
            cursor = page.next_cursor

    def export(self, user_id: str) -> dict[str, Any]:
        return {
            role: [{**booking_view(b), "history": history_view(self._ctx.bookings.history(b.booking_id))}
                   for b in self._all(role, user_id)]
            for role in ("driver", "host")
        }

    def erase(self, user_id: str, erased_at: datetime) -> None:
        for role in ("driver", "host"):
            for booking in self._all(role, user_id):
                if Status(booking.status) not in CANCELLABLE:
                    continue
                cancel_booking(self._ctx, payments=self._payments, caller=Caller(user_id),
                               booking_id=booking.booking_id, reason="account deleted", now=erased_at,
                               watch_payment=self._payment_watch(erased_at))
                logger.info("booking cancelled on account deletion", extra={"booking_id": booking.booking_id})
