"""Hosts and their Connect accounts: created once, status refreshed from Stripe, and the check booking
creation makes (no Stripe call on the driver's path)."""

from __future__ import annotations

from typing import Any, cast

from driveway_hub.payments.errors import StripeUnavailable
from driveway_hub.payments.payouts import HostPayouts, ensure_host_account, payout_overview, start_onboarding
from driveway_hub.payments.ports import AccountStatus, HostAccount
from tests.unit.test_payments_fakes import T0, FakeHostAccounts, FakeStripe


def test_a_host_without_an_account_or_without_charges_is_not_payable() -> None:
    accounts = FakeHostAccounts()
    payouts = HostPayouts(accounts)
    assert payouts.host_payout_account("h1") == (None, False)
    accounts.items["h1"] = HostAccount("h1", "acct_h1")
    assert payouts.host_payout_account("h1") == ("acct_h1", False)
    accounts.items["h1"] = HostAccount("h1", "acct_h1", charges_enabled=True)
    assert payouts.host_payout_account("h1") == ("acct_h1", True)


def test_onboarding_creates_the_account_once_and_mints_a_link_each_time() -> None:
    accounts, stripe = FakeHostAccounts(), FakeStripe()
    first = start_onboarding(accounts=accounts, stripe=cast(Any, stripe), host_id="h1", email="h@example.com",
                             refresh_url="https://app/refresh", return_url="https://app/return", now=T0)
    second = start_onboarding(accounts=accounts, stripe=cast(Any, stripe), host_id="h1", email="h@example.com",
                              refresh_url="https://app/refresh", return_url="https://app/return", now=T0)
    assert first == second == "https://connect.example/onboard/acct_h1"
    assert stripe.created_accounts == 1
    assert ensure_host_account(accounts=accounts, stripe=cast(Any, stripe), host_id="h1", email=None,
                               now=T0).account_id == "acct_h1"


def test_the_overview_before_onboarding_says_so() -> None:
    overview = payout_overview(accounts=FakeHostAccounts(), stripe=cast(Any, FakeStripe()), host_id="h1", now=T0)
    assert overview["onboarding_required"] is True and overview["charges_enabled"] is False
    assert overview["payouts"] == [] and overview["requirements"] == []


def test_the_overview_refreshes_the_stored_status_from_stripe() -> None:
    accounts, stripe = FakeHostAccounts({"h1": HostAccount("h1", "acct_h1")}), FakeStripe()
    stripe.accounts["acct_h1"] = AccountStatus("acct_h1", True, True, True, (), "h1")
    overview = payout_overview(accounts=accounts, stripe=cast(Any, stripe), host_id="h1", now=T0)
    assert overview["charges_enabled"] and overview["payouts_enabled"] and not overview["stale"]
    assert overview["payouts"][0]["payout_id"] == "po_1"
    assert accounts.items["h1"].charges_enabled  # a missed account.updated heals here


def test_with_stripe_down_the_overview_answers_the_stored_status_marked_stale() -> None:
    accounts = FakeHostAccounts({"h1": HostAccount("h1", "acct_h1", charges_enabled=True,
                                                   requirements=("external_account",))})
    stripe = FakeStripe()

    def down(account_id: str) -> AccountStatus:
        raise StripeUnavailable("down")

    stripe.account_status = down  # type: ignore[method-assign]
    overview = payout_overview(accounts=accounts, stripe=cast(Any, stripe), host_id="h1", now=T0)
    assert overview["stale"] and overview["charges_enabled"] and overview["requirements"] == ["external_account"]
