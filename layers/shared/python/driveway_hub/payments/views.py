"""How payment records look in API answers (one place, so every route shows the same fields)."""

from __future__ import annotations

from typing import Any

from driveway_hub.payments.ports import PaymentRecord


def payment_view(record: PaymentRecord) -> dict[str, Any]:
    view: dict[str, Any] = {
        "payment_id": record.payment_id,
        "booking_id": record.booking_id,
        "kind": record.kind,
        "amount": {"amount": record.amount_cents, "currency": record.currency},
        "amount_cents": record.amount_cents,
        "currency": record.currency,
        "status": record.status,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }
    if record.kind == "refund":
        view["payment_intent_id"] = record.payment_intent_id
    else:
        view["amount_refunded_cents"] = record.amount_refunded_cents
    return view
