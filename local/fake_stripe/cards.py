"""Stripe's test payment methods (`pm_card_*`) and what each does when confirmed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Outcome(Enum):
    SUCCEED = "succeed"
    DECLINE = "decline"
    # 3DS on every payment: on-session → requires_action, off-session → authentication_required decline.
    AUTHENTICATE_ALWAYS = "authenticate_always"
    # 3DS unless the card was set up for off-session use (setup_future_usage) beforehand.
    AUTHENTICATE_UNLESS_SET_UP = "authenticate_unless_set_up"


@dataclass(frozen=True)
class Card:
    brand: str
    last4: str
    outcome: Outcome
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None
    funding: str = "credit"


_DECLINED = "Your card was declined."

TEST_CARDS: dict[str, Card] = {
    "pm_card_visa": Card("visa", "4242", Outcome.SUCCEED),
    "pm_card_visa_debit": Card("visa", "5556", Outcome.SUCCEED, funding="debit"),
    "pm_card_mastercard": Card("mastercard", "4444", Outcome.SUCCEED),
    "pm_card_amex": Card("amex", "8431", Outcome.SUCCEED),
    "pm_card_chargeDeclined": Card(
        "visa", "0002", Outcome.DECLINE, "card_declined", "generic_decline", _DECLINED
    ),
    "pm_card_chargeDeclinedInsufficientFunds": Card(
        "visa", "9995", Outcome.DECLINE, "card_declined", "insufficient_funds", "Your card has insufficient funds."
    ),
    "pm_card_chargeDeclinedExpiredCard": Card(
        "visa", "0069", Outcome.DECLINE, "expired_card", "expired_card", "Your card has expired."
    ),
    "pm_card_authenticationRequired": Card("visa", "3184", Outcome.AUTHENTICATE_ALWAYS),
    "pm_card_authenticationRequiredSetupForOffSession": Card(
        "visa", "3155", Outcome.AUTHENTICATE_UNLESS_SET_UP
    ),
}

AUTHENTICATION_REQUIRED = Card(
    "visa", "3184", Outcome.DECLINE, "authentication_required", "authentication_required",
    "Your card was declined. This transaction requires authentication.",
)
