"""Lifecycle task at end + grace: if the car has not left, the overstay is charged at the hourly rate
(per started hour) off-session on the card saved at booking, and both sides are told."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub import booking_runtime as runtime
from driveway_hub.adapters.notifier import live_event
from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.domain import pricing
from driveway_hub.observability import logger


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    ctx = runtime.context(settings)
    booking = ctx.bookings.get(event["booking_id"], consistent=True)
    now = utcnow()
    if ctx.bookings.fact(booking.booking_id, "departure") is not None:
        return {"overstay": False}
    terms = runtime.catalog(settings).terms(booking.driveway_id)
    charge = pricing.overstay_charge(terms.rates, booking.interval.end, now, platform_fee_bps=ctx.platform_fee_bps)
    if charge.total_cents <= 0 or not booking.payment_intent_id:
        return {"overstay": False}
    payments = runtime.payments(settings)
    original = payments.retrieve(booking.payment_intent_id)
    account_id, _ = runtime.payouts(settings).host_payout_account(booking.host_id)
    intent = payments.charge_off_session(
        booking_id=booking.booking_id, purpose="overstay", amount_cents=charge.total_cents, currency=charge.currency,
        platform_fee_cents=charge.platform_fee_cents, host_account_id=account_id or "",
        customer_id=getattr(original, "customer", None), payment_method_id=getattr(original, "payment_method", None))
    ctx.notifier.publish((booking.driver_id, booking.host_id), live_event(
        "payment.updated", booking.booking_id, now, status=intent.status, kind="overstay",
        amount_cents=charge.total_cents))
    return {"overstay": True, "amount_cents": charge.total_cents, "payment_intent_id": intent.id}
