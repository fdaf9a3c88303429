"""Booking statuses and the only moves between them.

Every status change goes through ``BookingRepository.transition`` with the expected current statuses
taken from ``ALLOWED``, so a change can never go backwards or be lost to a concurrent writer.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PENDING_PAYMENT = "PENDING_PAYMENT"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    CONFIRMED = "CONFIRMED"
    EN_ROUTE = "EN_ROUTE"
    ARRIVED = "ARRIVED"
    PARKING = "PARKING"
    PARKED = "PARKED"
    COMPLETED = "COMPLETED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    NO_SHOW = "NO_SHOW"


# A live booking holds its slot on the driveway's calendar.
LIVE: frozenset[Status] = frozenset({
    Status.PENDING_PAYMENT, Status.AWAITING_APPROVAL, Status.CONFIRMED, Status.EN_ROUTE,
    Status.ARRIVED, Status.PARKING, Status.PARKED,
})
TERMINAL: frozenset[Status] = frozenset(set(Status) - LIVE)

# new status -> the statuses it may be reached from.
ALLOWED: dict[Status, frozenset[Status]] = {
    Status.AWAITING_APPROVAL: frozenset({Status.PENDING_PAYMENT}),
    Status.CONFIRMED: frozenset({Status.PENDING_PAYMENT, Status.AWAITING_APPROVAL}),
    Status.EN_ROUTE: frozenset({Status.CONFIRMED}),
    Status.ARRIVED: frozenset({Status.CONFIRMED, Status.EN_ROUTE}),
    Status.PARKING: frozenset({Status.ARRIVED}),
    Status.PARKED: frozenset({Status.ARRIVED, Status.PARKING}),
    Status.COMPLETED: frozenset({Status.PARKED, Status.ARRIVED, Status.PARKING}),
    Status.PAYMENT_FAILED: frozenset({Status.PENDING_PAYMENT}),
    Status.EXPIRED: frozenset({Status.PENDING_PAYMENT, Status.AWAITING_APPROVAL}),
    Status.REJECTED: frozenset({Status.AWAITING_APPROVAL}),
    Status.CANCELLED: frozenset({Status.PENDING_PAYMENT, Status.AWAITING_APPROVAL, Status.CONFIRMED, Status.EN_ROUTE}),
    Status.NO_SHOW: frozenset({Status.CONFIRMED, Status.EN_ROUTE}),
}


def can_move(current: Status, new: Status) -> bool:
    return current in ALLOWED.get(new, frozenset())
