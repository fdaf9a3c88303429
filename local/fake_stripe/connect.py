"""Connect: connected accounts, onboarding links, Express login links, balances and payouts."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from .errors import invalid, no_such
from .params import Params, merge_metadata
from .store import PLATFORM, Obj, Store

ACCOUNT_LINK_TTL_S = 300  # Stripe's account links expire after a few minutes

# What a new US Express account still has to provide; the hosted onboarding page collects all of it.
ONBOARDING_REQUIREMENTS = [
    "business_profile.mcc",
    "business_profile.url",
    "business_type",
    "external_account",
    "individual.address.city",
    "individual.address.line1",
    "individual.address.postal_code",
    "individual.address.state",
    "individual.dob.day",
    "individual.dob.month",
    "individual.dob.year",
    "individual.email",
    "individual.first_name",
    "individual.last_name",
    "individual.phone",
    "individual.ssn_last_4",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]
_DASHBOARD_TYPES = ("express", "full", "none")
_LEGACY_TYPE = {"express": "express", "full": "standard", "none": "custom"}


@dataclass
class AccountLink:
    account: str
    refresh_url: str
    return_url: str
    expires_at: int
    used: bool = False


class Connect:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._links: dict[str, AccountLink] = {}  # secret token in the link URL → link
        self._payout_account: dict[str, str] = {}  # payout id → the connected account it belongs to

    def reset(self) -> None:
        self._links.clear()
        self._payout_account.clear()

    # ---- accounts -----------------------------------------------------------------------------

    def create_account(self, p: Params) -> Obj:
        p.only("type", "controller", "capabilities", "country", "email", "business_type", "business_profile",
               "metadata", "default_currency", "settings", "tos_acceptance", "individual", "company")
        account_type = p.choice("type", ("express", "custom", "standard"))
        controller = p.hash("controller")
        if account_type and controller:
            raise invalid("You cannot specify both `type` and `controller`.", param="controller")
        if not account_type and not controller:
            raise invalid("You must specify either `type` or `controller`.", param="controller")
        controller_obj: Obj = _controller(controller) if controller else {"type": "application", "is_controller": True}
        if controller_obj.get("stripe_dashboard"):
            account_type = _LEGACY_TYPE[controller_obj["stripe_dashboard"]["type"]]
        capabilities: dict[str, str] = {}
        requested = p.hash("capabilities")
        if requested:
            for name in requested.data:
                capability = requested.hash(name)
                if capability is None:
                    continue
                capability.only("requested")
                if capability.boolean("requested"):
                    capabilities[name] = "inactive"
        country = (p.string("country") or "US").upper()
        business_profile = p.raw("business_profile") if isinstance(p.raw("business_profile"), dict) else {}
        account: Obj = {
            "id": self.store.new_id("acct", 16),
            "object": "account",
            "business_profile": {"mcc": None, "name": None, "url": None, **business_profile},
            "business_type": p.string("business_type"),
            "capabilities": capabilities,
            "charges_enabled": False,
            "controller": controller_obj,
            "country": country,
            "created": self.store.timestamp(),
            "default_currency": p.string("default_currency") or "usd",
            "details_submitted": False,
            "email": p.string("email"),
            "external_accounts": {"object": "list", "data": [], "has_more": False, "total_count": 0, "url": ""},
            "future_requirements": _requirements([]),
            "metadata": merge_metadata({}, p.metadata(), replace=True),
            "payouts_enabled": False,
            "requirements": _requirements(ONBOARDING_REQUIREMENTS),
            "settings": {"payouts": {"debit_negative_balances": True,
                                     "schedule": {"delay_days": 2, "interval": "daily"},
                                     "statement_descriptor": None}},
            "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
            "type": account_type,
        }
        account["external_accounts"]["url"] = f"/v1/accounts/{account['id']}/external_accounts"
        return self.store.put(account)

    def update_account(self, account_id: str, p: Params) -> Obj:
        p.only("email", "metadata", "business_profile", "settings")
        account = self.store.get(account_id, "account")
        previous: Obj = {}
        if "email" in p:
            previous["email"] = account["email"]
            account["email"] = p.string("email")
        if "metadata" in p:
            previous["metadata"] = account["metadata"]
            account["metadata"] = merge_metadata(account["metadata"], p.metadata(), replace=False)
        profile = p.raw("business_profile")
        if isinstance(profile, dict):
            previous["business_profile"] = copy.deepcopy(account["business_profile"])
            account["business_profile"].update(profile)
        if previous:
            self.store.emit("account.updated", account, account=account_id, previous=previous)
        return account

    def create_login_link(self, account_id: str, *, base_url: str) -> Obj:
        account = self.store.get(account_id, "account")
        if not account["details_submitted"]:
            raise invalid("Cannot create a login link for an account that has not completed onboarding.",
                          param="account")
        return {"object": "login_link", "created": self.store.timestamp(),
                "url": f"{base_url}/connect/express/{account_id}"}

    def set_status(
        self, account_id: str, *, charges_enabled: bool, payouts_enabled: bool,
        currently_due: list[str] | None = None,
    ) -> Obj:
        """Change what Stripe lets the account do (e.g. restricted after a verification failed)."""
        account = self.store.get(account_id, "account")
        previous = _status_of(account)
        due = list(currently_due or [])
        account.update(charges_enabled=charges_enabled, payouts_enabled=payouts_enabled)
        account["requirements"] = _requirements(due, disabled=not charges_enabled)
        for name in account["capabilities"]:
            account["capabilities"][name] = "active" if charges_enabled else "inactive"
        self.store.emit("account.updated", account, account=account_id, previous=previous)
        return account

    # ---- onboarding ---------------------------------------------------------------------------

    def create_account_link(self, p: Params, *, base_url: str) -> Obj:
        p.only("account", "type", "refresh_url", "return_url", "collect", "collection_options")
        account_id = p.req_str("account")
        self.store.get(account_id, "account", param="account")
        link_type = p.choice("type", ("account_onboarding", "account_update"))
        if link_type is None:
            p.req_str("type")
        refresh_url, return_url = p.req_str("refresh_url"), p.req_str("return_url")
        for name, url in (("refresh_url", refresh_url), ("return_url", return_url)):
            if not url.startswith(("http://", "https://")):
                raise invalid("Not a valid URL", param=name)
        created = self.store.timestamp()
        token = self.store.new_id("link", 24)[5:]
        self._links[token] = AccountLink(account_id, refresh_url, return_url, created + ACCOUNT_LINK_TTL_S)
        return {
            "object": "account_link",
            "created": created,
            "expires_at": created + ACCOUNT_LINK_TTL_S,
            "url": f"{base_url}/connect/onboard/{token}",
        }

    def visit_onboarding_link(self, token: str, *, complete: bool = True) -> str | None:
        """A host opens the hosted onboarding page; answers where Stripe sends the browser next.

        Links are single-use and short-lived: a used or expired one sends the host to `refresh_url`,
        where the platform must mint a new link. `complete=False` is a host who leaves without finishing.
        """
        link = self._links.get(token)
        if link is None:
            return None
        if link.used or self.store.timestamp() >= link.expires_at:
            return link.refresh_url
        link.used = True
        if complete:
            self.complete_onboarding(link.account)
        return link.return_url

    def complete_onboarding(self, account_id: str) -> Obj:
        """Everything submitted and verified: the account can take destination charges and payouts."""
        account = self.store.get(account_id, "account")
        if account["charges_enabled"] and account["payouts_enabled"]:
            return account
        previous = _status_of(account)
        now = self.store.timestamp()
        bank: Obj = {
            "id": self.store.new_id("ba"),
            "object": "bank_account",
            "account": account_id,
            "account_holder_type": "individual",
            "bank_name": "STRIPE TEST BANK",
            "country": account["country"],
            "currency": account["default_currency"],
            "default_for_currency": True,
            "last4": "6789",
            "routing_number": "110000000",
            "status": "new",
        }
        account["external_accounts"]["data"] = [bank]
        account["external_accounts"]["total_count"] = 1
        account.update(charges_enabled=True, payouts_enabled=True, details_submitted=True)
        account["requirements"] = _requirements([])
        account["tos_acceptance"] = {"date": now, "ip": "127.0.0.1", "user_agent": "fake-stripe"}
        for name in account["capabilities"]:
            account["capabilities"][name] = "active"
        self.store.emit("account.updated", account, account=account_id, previous=previous)
        return account

    # ---- balances and payouts -----------------------------------------------------------------

    def balance(self, account_id: str | None) -> Obj:
        totals = self.store.balances(account_id or PLATFORM)
        if not totals:
            totals = {"usd": 0}
        return {
            "object": "balance",
            "available": [{"amount": amount, "currency": currency, "source_types": {"card": amount}}
                          for currency, amount in totals.items()],
            "livemode": False,
            "pending": [{"amount": 0, "currency": currency, "source_types": {"card": 0}} for currency in totals],
        }

    def run_payouts(self, account_id: str) -> list[Obj]:
        """Pay out the account's whole positive balance per currency (Stripe's automatic payout run)."""
        account = self.store.get(account_id, "account")
        if not account["payouts_enabled"]:
            raise invalid(f"Account {account_id} cannot receive payouts yet (payouts_enabled is false).")
        bank = account["external_accounts"]["data"][0]
        payouts = []
        for currency, amount in self.store.balances(account_id).items():
            if amount <= 0:
                continue
            now = self.store.timestamp()
            payout_id = self.store.new_id("po")
            payout: Obj = {
                "id": payout_id,
                "object": "payout",
                "amount": amount,
                "arrival_date": now,
                "automatic": True,
                "balance_transaction": self.store.book(account_id, -amount, currency, "payout", payout_id),
                "created": now,
                "currency": currency,
                "description": "STRIPE PAYOUT",
                "destination": bank["id"],
                "failure_balance_transaction": None,
                "failure_code": None,
                "failure_message": None,
                "livemode": False,
                "metadata": {},
                "method": "standard",
                "reconciliation_status": "completed",
                "source_type": "card",
                "statement_descriptor": None,
                "status": "pending",
                "type": "bank_account",
            }
            self.store.put(payout)
            self._payout_account[payout_id] = account_id
            self.store.emit("payout.created", payout, account=account_id)
            payout["status"] = "paid"
            self.store.emit("payout.paid", payout, account=account_id)
            payouts.append(payout)
        return payouts

    def list_payouts(self, account_id: str | None, p: Params) -> list[Obj]:
        p.only("status", "destination", "created", "arrival_date", "limit", "starting_after", "ending_before")
        status, destination = p.string("status"), p.string("destination")
        return [
            payout for payout in self.store.all("payout")
            if self._payout_account.get(payout["id"]) == account_id
            and status in (None, payout["status"]) and destination in (None, payout["destination"])
        ]

    def retrieve_payout(self, account_id: str | None, payout_id: str) -> Obj:
        payout = self.store.get(payout_id, "payout")
        if self._payout_account.get(payout_id) != account_id:
            # Another account's objects are invisible, exactly like missing ones.
            raise no_such("payout", payout_id)
        return payout


def _controller(controller: Params) -> Obj:
    controller.only("stripe_dashboard", "fees", "losses", "requirement_collection")
    result: Obj = {"type": "application", "is_controller": True}
    dashboard = controller.hash("stripe_dashboard")
    if dashboard is not None:
        result["stripe_dashboard"] = {"type": dashboard.choice("type", _DASHBOARD_TYPES, default="full")}
    fees = controller.hash("fees")
    if fees is not None:
        result["fees"] = {"payer": fees.choice(
            "payer", ("account", "application", "application_custom", "application_express"), default="account"
        )}
    losses = controller.hash("losses")
    if losses is not None:
        result["losses"] = {"payments": losses.choice("payments", ("application", "stripe"), default="stripe")}
    collection = controller.choice("requirement_collection", ("application", "stripe"))
    result["requirement_collection"] = collection or "stripe"
    return result


def _requirements(due: list[str], *, disabled: bool | None = None) -> Obj:
    is_disabled = bool(due) if disabled is None else disabled
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(due),
        "disabled_reason": "requirements.past_due" if is_disabled else None,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due),
        "pending_verification": [],
    }


def _status_of(account: Obj) -> Obj:
    return copy.deepcopy({
        key: account[key]
        for key in ("capabilities", "charges_enabled", "details_submitted", "payouts_enabled", "requirements")
    })
