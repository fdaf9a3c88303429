"""How bookings look in API answers (one place, so every route shows the same fields)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driveway_hub.data.bookings import Booking, BookingHistoryEntry


def booking_view(booking: Booking) -> dict[str, Any]:
    details = booking.details.as_dict() if booking.details else {}
    view: dict[str, Any] = {
        "booking_id": booking.booking_id,
        "driveway_id": booking.driveway_id,
        "driver_id": booking.driver_id,
        "host_id": booking.host_id,
        "vehicle_id": booking.vehicle_id,
        "start": booking.start_at,
        "end": booking.end_at,
        "status": booking.status,
        "price": {
            "subtotal_cents": int(booking.subtotal_cents),
            "platform_fee_cents": int(booking.platform_fee_cents),
            "total_cents": int(booking.total_cents),
            "currency": booking.currency,
            "breakdown": details.get("breakdown", []),
        },
        "capture_method": booking.capture_method,
        "payment_intent_id": booking.payment_intent_id,
        "created_at": booking.created_at,
        "updated_at": booking.updated_at,
    }
    if "refund" in details:
        # The contract's refund; how it splits over the extensions' PaymentIntents stays internal.
        view["refund"] = {k: v for k, v in dict(details["refund"]).items() if k != "parts"}
    if "payment_problem" in details:
        view["payment_problem"] = details["payment_problem"]
    return view


def history_view(entries: list[BookingHistoryEntry]) -> list[dict[str, Any]]:
    return [{"status": e.status, "previous": e.previous, "at": e.at, "by": e.by, "reason": e.reason} for e in entries]
