"""Hosts get paid through a Stripe Connect account: onboarding, payout status, and the check booking
creation makes before charging a driver on the host's behalf.

The host's account id and status live in the payments table (``host#<user id>`` / ``account``),
updated by ``account.updated`` on the Connect webhook and refreshed whenever the host looks at
``GET /v1/payouts``. Booking creation reads only that item (no Stripe call on the driver's path).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from driveway_hub.observability import logger
from driveway_hub.payments.errors import StripeUnavailable
from driveway_hub.payments.ports import HostAccount, HostAccountsPort, PaymentsPort


@dataclass(frozen=True)
class HostPayouts:
    """``host_payout_account`` for the booking engine (its ``HostPayouts`` protocol)."""

    accounts: HostAccountsPort

    def host_payout_account(self, host_id: str) -> tuple[str | None, bool]:
        """(connected account id or None, whether it can take destination charges now)."""
        account = self.accounts.get(host_id)
        if account is None:
            return None, False
        return account.account_id, account.charges_enabled


def ensure_host_account(*, accounts: HostAccountsPort, stripe: PaymentsPort, host_id: str, email: str | None,
                        now: datetime) -> HostAccount:
    """The host's connected account, created at most once.

    Stripe's idempotency key (``host:<user id>:account``) makes concurrent first calls create one
    account; the conditional put keeps the first stored id if two requests race past the read.
    """
    existing = accounts.get(host_id)
    if existing is not None:
        return existing
    account_id = stripe.create_host_account(user_id=host_id, email=email)
    return accounts.create(host_id, account_id, now.isoformat())


def start_onboarding(*, accounts: HostAccountsPort, stripe: PaymentsPort, host_id: str, email: str | None,
                     refresh_url: str, return_url: str, now: datetime) -> str:
    """A fresh onboarding link for the host (links are single-use: the app asks again on refresh_url)."""
    account = ensure_host_account(accounts=accounts, stripe=stripe, host_id=host_id, email=email, now=now)
    return stripe.onboarding_link(account.account_id, refresh_url, return_url)


def payout_overview(*, accounts: HostAccountsPort, stripe: PaymentsPort, host_id: str, now: datetime) -> dict[str, Any]:
    """What GET /v1/payouts answers. Refreshes the account status from Stripe (a missed
    ``account.updated`` heals here); with Stripe down it answers the stored status and no payouts."""
    account = accounts.get(host_id)
    if account is None:
        return {"account_id": None, "onboarding_required": True, "charges_enabled": False,
                "payouts_enabled": False, "requirements": [], "payouts": []}
    stale = False
    try:
        status = stripe.account_status(account.account_id)
        accounts.update_status(host_id, status, int(now.timestamp() * 1000))
        charges, payouts_enabled, requirements = status.charges_enabled, status.payouts_enabled, status.requirements
        details_submitted = status.details_submitted
    except StripeUnavailable:
        logger.warning("payout status from the last stored copy: stripe unavailable", extra={"host_id": host_id})
        stale = True
        charges, payouts_enabled = account.charges_enabled, account.payouts_enabled
        requirements, details_submitted = account.requirements, account.details_submitted
    payouts: list[dict[str, Any]] = []
    if not stale:
        try:
            payouts = stripe.list_payouts(account.account_id)
        except StripeUnavailable:
            stale = True
    return {
        "account_id": account.account_id,
        "onboarding_required": not details_submitted,
        "charges_enabled": charges,
        "payouts_enabled": payouts_enabled,
        "requirements": list(requirements),
        "payouts": payouts,
        "stale": stale,
    }
