"""PaymentIntents and their charges, customers and payment methods (refunds live in refunds.py).

Every method runs under the store's lock (the HTTP layer and the control functions take it) and
validates its parameters before changing anything, so a 400 never leaves half-made state. Card
outcomes that Stripe reports as errors after changing state (a decline) raise once the state is
recorded, as Stripe does: the PaymentIntent exists, back in `requires_payment_method`.
"""

from __future__ import annotations

import re

from .cards import AUTHENTICATION_REQUIRED, TEST_CARDS, Card, Outcome
from .errors import CARD_ERROR, StripeApiError, invalid, missing_param, no_such, unexpected_state
from .params import Params, merge_metadata
from .store import DAY, PLATFORM, Obj, Store, snapshot

HOLD_DAYS = 7  # online card authorizations
VISA_MERCHANT_INITIATED_HOLD_DAYS = 5  # Visa shortens holds for merchant-initiated (off-session) payments
MINIMUM_AMOUNT = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "jpy": 50}

CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing")
CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")

_PI_CREATE = (
    "amount", "currency", "capture_method", "payment_method_types", "automatic_payment_methods",
    "transfer_data", "application_fee_amount", "metadata", "customer", "setup_future_usage",
    "payment_method", "confirm", "off_session", "description", "receipt_email", "statement_descriptor",
    "statement_descriptor_suffix", "on_behalf_of", "return_url", "error_on_requires_action",
    "transfer_group", "payment_method_options", "confirmation_method", "use_stripe_sdk", "mandate_data",
)
_PI_CONFIRM = (
    "payment_method", "client_secret", "return_url", "off_session", "setup_future_usage",
    "error_on_requires_action", "receipt_email", "mandate_data", "use_stripe_sdk", "payment_method_options",
    "capture_method", "payment_method_types",
)
# Fields Stripe lets you change only before the payment is authorized.
_PI_UPDATE_BEFORE_CONFIRM = (
    "amount", "currency", "payment_method", "capture_method", "setup_future_usage", "application_fee_amount",
    "transfer_data", "customer", "payment_method_types", "statement_descriptor", "statement_descriptor_suffix",
)
_PI_UPDATE_ANYTIME = ("metadata", "description", "receipt_email")

_SEARCH_CLAUSE = re.compile(r"""^\s*(metadata\[['"]([^'"]+)['"]\]|[a-z_]+)\s*:\s*['"]([^'"]*)['"]\s*$""")


class Payments:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._cards: dict[str, Card] = {}  # payment method id → test-card behaviour
        self._set_up: set[str] = set()  # payment methods authorized for later off-session use
        self._used: set[str] = set()  # payment methods already used for a payment attempt
        self._holds: dict[str, int] = {}  # manual-capture PaymentIntent id → capture_before
        self._auth_tokens: dict[str, str] = {}  # PaymentIntent id → secret in its 3DS page URL

    def reset(self) -> None:
        for registry in (self._cards, self._holds, self._auth_tokens):
            registry.clear()
        self._set_up.clear()
        self._used.clear()

    # ---- customers and payment methods ------------------------------------------------------

    def create_customer(self, p: Params) -> Obj:
        p.only("email", "name", "description", "metadata", "phone", "payment_method")
        customer: Obj = {
            "id": self.store.new_id("cus", 14),
            "object": "customer",
            "created": self.store.timestamp(),
            "description": p.string("description"),
            "email": p.string("email"),
            "invoice_settings": {"default_payment_method": None},
            "livemode": False,
            "metadata": merge_metadata({}, p.metadata(), replace=True),
            "name": p.string("name"),
            "phone": p.string("phone"),
        }
        pm_ref = p.string("payment_method")
        pm_id = self._payment_method(pm_ref, customer=None) if pm_ref else None
        self.store.put(customer)
        if pm_id:
            self.store.objects[pm_id]["customer"] = customer["id"]
        self.store.emit("customer.created", customer)
        return customer

    def attach_payment_method(self, pm_id: str, p: Params) -> Obj:
        p.only("customer")
        customer = p.req_str("customer")
        self.store.get(customer, "customer", param="customer")
        pm = self.store.get(pm_id, "payment_method", label="PaymentMethod")
        if pm["customer"] not in (None, customer):
            raise invalid("The payment method you provided has already been attached to a customer.")
        if pm["customer"] is None and pm_id in self._used:
            raise _reused_payment_method()
        pm["customer"] = customer
        self.store.emit("payment_method.attached", pm)
        return pm

    def list_payment_methods(self, customer: str | None, p: Params) -> list[Obj]:
        p.only("customer", "type", "limit", "starting_after", "ending_before")
        customer = customer or p.req_str("customer")
        self.store.get(customer, "customer", param="customer")
        return [pm for pm in self.store.all("payment_method") if pm["customer"] == customer]

    def _new_payment_method(self, card: Card) -> str:
        year = int(self.store.now() // (365.25 * DAY)) + 1970
        pm: Obj = {
            "id": self.store.new_id("pm"),
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "card": {
                "brand": card.brand,
                "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
                "country": "US",
                "display_brand": card.brand,
                "exp_month": 12,
                "exp_year": year + 3,
                "fingerprint": self.store.new_id("fp", 16)[3:],
                "funding": card.funding,
                "last4": card.last4,
                "networks": {"available": [card.brand], "preferred": None},
                "three_d_secure_usage": {"supported": True},
                "wallet": None,
            },
            "created": self.store.timestamp(),
            "customer": None,
            "livemode": False,
            "metadata": {},
            "type": "card",
        }
        self.store.put(pm)
        self._cards[pm["id"]] = card
        return str(pm["id"])

    def _payment_method(self, ref: str, *, customer: str | None) -> str:
        """A usable payment method id: test tokens (pm_card_visa…) mint a fresh pm_ like Stripe does."""
        card = TEST_CARDS.get(ref)
        if card is not None:
            return self._new_payment_method(card)
        pm = self.store.get(ref, "payment_method", label="PaymentMethod", param="payment_method")
        if pm["customer"] is None and ref in self._used:
            raise _reused_payment_method()
        if pm["customer"] is not None and pm["customer"] != customer:
            raise invalid(
                f"The provided PaymentMethod belongs to customer {pm['customer']}. "
                "Pass that customer with the PaymentIntent to use it.",
                param="payment_method",
            )
        return ref

    # ---- PaymentIntents -----------------------------------------------------------------------

    def create_payment_intent(self, p: Params, *, base_url: str) -> Obj:
        p.only(*_PI_CREATE)
        amount = p.req_int("amount")
        currency = _currency(p)
        _check_amount(amount, currency)
        capture_method = p.choice(
            "capture_method", ("automatic", "automatic_async", "manual"), default="automatic_async"
        )
        types = p.array("payment_method_types")
        automatic = p.hash("automatic_payment_methods")
        if types and automatic:
            raise StripeApiError(
                400, "You may only specify one of these parameters: automatic_payment_methods, "
                "payment_method_types.", param="automatic_payment_methods", code="parameters_exclusive",
            )
        transfer_data = self._transfer_data(p)
        fee = p.integer("application_fee_amount", minimum=0)
        self._check_fee(fee, amount, transfer_data)
        customer = p.string("customer")
        if customer:
            self.store.get(customer, "customer", param="customer")
        confirm = p.boolean("confirm")
        confirm_only = [key for key in ("off_session", "return_url", "error_on_requires_action") if key in p]
        if confirm_only and not confirm:
            raise invalid(f"You can only pass `{confirm_only[0]}` when `confirm` is true.", param=confirm_only[0])
        off_session = _off_session(p)
        pm_ref = p.string("payment_method")
        if confirm and not pm_ref:
            raise _missing_payment_method()
        return_url = p.string("return_url")
        error_on_requires_action = p.boolean("error_on_requires_action")
        setup_future_usage = p.choice("setup_future_usage", ("off_session", "on_session"))
        metadata = merge_metadata({}, p.metadata(), replace=True)
        texts = {key: p.string(key) for key in (
            "description", "on_behalf_of", "receipt_email", "statement_descriptor", "statement_descriptor_suffix",
            "transfer_group",
        )}
        pm_id = self._payment_method(pm_ref, customer=customer) if pm_ref else None  # the last check

        pi_id = self.store.new_id("pi")
        pi: Obj = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": 0,
            "application": None,
            "application_fee_amount": fee,
            "automatic_payment_methods": (
                None if types
                else {"allow_redirects": "always", "enabled": True, **(automatic.data if automatic else {})}
            ),
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": capture_method,
            "client_secret": f"{pi_id}_secret_{self.store.new_id('s', 25)[2:]}",
            "confirmation_method": "automatic",
            "created": self.store.timestamp(),
            "currency": currency,
            "customer": customer,
            "description": texts["description"],
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": metadata,
            "next_action": None,
            "on_behalf_of": texts["on_behalf_of"],
            "payment_method": pm_id,
            "payment_method_configuration_details": None,
            "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
            "payment_method_types": types or ["card"],
            "processing": None,
            "receipt_email": texts["receipt_email"],
            "review": None,
            "setup_future_usage": setup_future_usage,
            "shipping": None,
            "source": None,
            "statement_descriptor": texts["statement_descriptor"],
            "statement_descriptor_suffix": texts["statement_descriptor_suffix"],
            "status": "requires_confirmation" if pm_id else "requires_payment_method",
            "transfer_data": transfer_data,
            "transfer_group": texts["transfer_group"],
        }
        self.store.put(pi)
        self.store.emit("payment_intent.created", pi)
        if confirm and pm_id:
            self._confirm(
                pi, pm_id, off_session=off_session, error_on_requires_action=error_on_requires_action,
                return_url=return_url, base_url=base_url,
            )
        return pi

    def retrieve_payment_intent(self, pi_id: str, p: Params, *, publishable: bool) -> Obj:
        p.only("client_secret")
        pi = self._pi(pi_id)
        if publishable or "client_secret" in p:
            _check_client_secret(pi, p.string("client_secret"))
        return pi

    def update_payment_intent(self, pi_id: str, p: Params) -> Obj:
        p.only(*_PI_UPDATE_BEFORE_CONFIRM, *_PI_UPDATE_ANYTIME)
        pi = self._pi(pi_id)
        late = [key for key in _PI_UPDATE_BEFORE_CONFIRM if key in p]
        if late and pi["status"] not in CONFIRMABLE:
            raise unexpected_state(
                f"This PaymentIntent's {late[0]} could not be updated because it has a status of "
                f"{pi['status']}. You may only update the {late[0]} of a PaymentIntent with one of the "
                f"following statuses: {', '.join(CONFIRMABLE)}.",
                param=late[0],
            )
        amount = p.req_int("amount") if "amount" in p else pi["amount"]
        currency = _currency(p) if "currency" in p else pi["currency"]
        _check_amount(amount, currency)
        transfer_data = self._transfer_data(p) if "transfer_data" in p else pi["transfer_data"]
        fee = p.integer("application_fee_amount", minimum=0) if "application_fee_amount" in p else pi[
            "application_fee_amount"
        ]
        self._check_fee(fee, amount, transfer_data)
        customer = p.string("customer") if "customer" in p else pi["customer"]
        if customer and "customer" in p:
            self.store.get(customer, "customer", param="customer")
        capture_method = p.choice("capture_method", ("automatic", "automatic_async", "manual"))
        setup_future_usage = p.choice("setup_future_usage", ("off_session", "on_session"))
        types = p.array("payment_method_types")
        metadata = merge_metadata(pi["metadata"], p.metadata(), replace=False)
        texts = {key: p.string(key) for key in (
            "description", "receipt_email", "statement_descriptor", "statement_descriptor_suffix",
        ) if key in p}
        pm_ref = p.string("payment_method")
        pm_id = self._payment_method(pm_ref, customer=customer) if pm_ref else None  # the last check

        pi.update(amount=amount, currency=currency, transfer_data=transfer_data, application_fee_amount=fee,
                  customer=customer, metadata=metadata, **texts)
        if capture_method:
            pi["capture_method"] = capture_method
        if setup_future_usage:
            pi["setup_future_usage"] = setup_future_usage
        if types:
            pi["payment_method_types"] = types
        if pm_id:
            pi["payment_method"] = pm_id
            pi["status"] = "requires_confirmation"
        return pi

    def confirm_payment_intent(self, pi_id: str, p: Params, *, publishable: bool, base_url: str) -> Obj:
        p.only(*_PI_CONFIRM)
        pi = self._pi(pi_id)
        if publishable or "client_secret" in p:
            # The browser confirms with the publishable key; the client_secret is what authorizes it.
            _check_client_secret(pi, p.string("client_secret"))
        if pi["status"] not in CONFIRMABLE:
            raise unexpected_state(
                f"You cannot confirm this PaymentIntent because it has a status of {pi['status']}. "
                f"Only a PaymentIntent with one of the following statuses may be confirmed: "
                f"{', '.join(CONFIRMABLE)}."
            )
        off_session = _off_session(p)
        if publishable and off_session:
            raise invalid("off_session cannot be used with a publishable key.", param="off_session")
        changes = {
            key: value for key, value in (
                ("capture_method", p.choice("capture_method", ("automatic", "automatic_async", "manual"))),
                ("setup_future_usage", p.choice("setup_future_usage", ("off_session", "on_session"))),
                ("receipt_email", p.string("receipt_email")),
            ) if value is not None
        }
        error_on_requires_action = p.boolean("error_on_requires_action")
        return_url = p.string("return_url")
        pm_ref = p.string("payment_method")
        if not pm_ref and not pi["payment_method"]:
            raise _missing_payment_method()
        self._check_destination(pi)
        pm_id = self._payment_method(pm_ref, customer=pi["customer"]) if pm_ref else pi["payment_method"]
        pi.update(changes)
        self._confirm(pi, pm_id, off_session=off_session, error_on_requires_action=error_on_requires_action,
                      return_url=return_url, base_url=base_url)
        return pi

    def capture_payment_intent(self, pi_id: str, p: Params) -> Obj:
        p.only("amount_to_capture", "application_fee_amount", "metadata", "final_capture",
               "statement_descriptor", "statement_descriptor_suffix")
        pi = self._pi(pi_id)
        if pi["status"] != "requires_capture":
            raise unexpected_state(
                f"This PaymentIntent could not be captured because it has a status of {pi['status']}. "
                "Only a PaymentIntent with one of the following statuses may be captured: requires_capture."
            )
        capturable = pi["amount_capturable"]
        amount = p.integer("amount_to_capture", minimum=1)
        amount = capturable if amount is None else amount
        if amount > capturable:
            raise StripeApiError(
                400, f"The amount_to_capture ({amount}) must be less than or equal to the "
                f"amount_capturable ({capturable}).", param="amount_to_capture", code="amount_too_large",
            )
        fee = p.integer("application_fee_amount", minimum=0)
        if fee is not None:
            self._check_fee(fee, pi["amount"], pi["transfer_data"])
        metadata = merge_metadata(pi["metadata"], p.metadata(), replace=False)

        pi["metadata"] = metadata
        if fee is not None:
            pi["application_fee_amount"] = fee
        charge = self.store.objects[pi["latest_charge"]]
        self._settle(pi, charge, amount)
        # The part not captured is released to the cardholder; Stripe counts it as refunded.
        charge["amount_refunded"] = charge["amount"] - amount
        self._holds.pop(pi_id, None)
        pi.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self.store.emit("charge.captured", charge)
        self.store.emit("payment_intent.succeeded", pi)
        return pi

    def cancel_payment_intent(self, pi_id: str, p: Params) -> Obj:
        p.only("cancellation_reason")
        pi = self._pi(pi_id)
        reason = p.choice("cancellation_reason", CANCELLATION_REASONS)
        if pi["status"] not in CANCELABLE:
            raise unexpected_state(
                f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. "
                f"Only a PaymentIntent with one of the following statuses may be canceled: {', '.join(CANCELABLE)}."
            )
        self._cancel(pi, reason)
        return pi

    def list_payment_intents(self, p: Params) -> list[Obj]:
        p.only("customer", "created", "limit", "starting_after", "ending_before")
        customer = p.string("customer")
        return [pi for pi in self.store.all("payment_intent") if customer in (None, pi["customer"])]

    def search_payment_intents(self, p: Params) -> list[Obj]:
        """Stripe's search language, the subset a reconciler needs: `field:'v' AND metadata['k']:'v'`."""
        p.only("query", "limit", "page")
        clauses = []
        for text in re.split(r"\s+AND\s+", p.req_str("query")):
            match = _SEARCH_CLAUSE.match(text)
            if match is None or (match.group(2) is None and match.group(1) not in ("status", "customer", "currency")):
                raise invalid(f"The fake only searches metadata['key'], status, customer and currency: {text!r}",
                              param="query")
            clauses.append(match.groups())
        return [pi for pi in self.store.all("payment_intent") if all(_matches(pi, *c) for c in clauses)]

    def expire_holds(self) -> list[str]:
        """Cancel manual-capture PaymentIntents whose authorization passed `capture_before`."""
        now = self.store.timestamp()
        expired = [pi_id for pi_id, deadline in self._holds.items() if deadline <= now]
        for pi_id in expired:
            self._cancel(self.store.objects[pi_id], "automatic", expired=True)
        return expired

    def authenticate(self, pi_id: str, token: str | None, *, succeed: bool) -> str | None:
        """Finish the 3DS challenge (Stripe's test page buttons); answers where to send the browser."""
        pi = self._pi(pi_id)
        if pi["status"] != "requires_action":
            raise invalid(f"This PaymentIntent has a status of {pi['status']}; it is not awaiting authentication.")
        if token is not None and self._auth_tokens.get(pi_id) != token:
            raise no_such("authentication", token)
        self._auth_tokens.pop(pi_id, None)
        next_action = pi["next_action"] or {}
        return_url = (next_action.get("redirect_to_url") or {}).get("return_url")
        pm_id = pi["payment_method"]
        if succeed:
            self._authorize(pi, pm_id, self._cards[pm_id], off_session=False, authenticated=True)
        else:
            pi.update(status="requires_payment_method", next_action=None, payment_method=None)
            pi["last_payment_error"] = {
                "type": "invalid_request_error",
                "code": "payment_intent_authentication_failure",
                "doc_url": "https://stripe.com/docs/error-codes/payment-intent-authentication-failure",
                "message": "The provided PaymentMethod has failed authentication. You can provide "
                "payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.",
                "payment_method": snapshot(self.store.objects[pm_id]),
            }
            self.store.emit("payment_intent.payment_failed", pi)
        if not return_url:
            return None
        separator = "&" if "?" in return_url else "?"
        status = "succeeded" if succeed else "failed"
        return (
            f"{return_url}{separator}payment_intent={pi_id}&payment_intent_client_secret={pi['client_secret']}"
            f"&redirect_status={status}"
        )

    # ---- charges ------------------------------------------------------------------------------

    def list_charges(self, p: Params) -> list[Obj]:
        p.only("payment_intent", "customer", "created", "limit", "starting_after", "ending_before")
        pi_id, customer = p.string("payment_intent"), p.string("customer")
        return [
            charge for charge in self.store.all("charge")
            if pi_id in (None, charge["payment_intent"]) and customer in (None, charge["customer"])
        ]

    # ---- internals ----------------------------------------------------------------------------

    def _pi(self, pi_id: str) -> Obj:
        return self.store.get(pi_id, "payment_intent")

    def _transfer_data(self, p: Params) -> Obj | None:
        sub = p.hash("transfer_data")
        if sub is None:
            return None
        sub.only("destination", "amount")
        destination = sub.req_str("destination")
        account = self.store.get(destination, "account", label="destination", param="transfer_data[destination]")
        _require_transfers(account)
        amount = sub.integer("amount", minimum=1)
        return {"destination": destination} if amount is None else {"destination": destination, "amount": amount}

    @staticmethod
    def _check_fee(fee: int | None, amount: int, transfer_data: Obj | None) -> None:
        if fee is None:
            return
        if transfer_data is None:
            raise invalid(
                "Can only apply an application_fee_amount when the PaymentIntent is attempting a direct payment "
                "(using an OAuth key or Stripe-Account header) or destination payment (using "
                "`transfer_data[destination]`).", param="application_fee_amount",
            )
        if "amount" in transfer_data:
            raise invalid("You cannot specify both application_fee_amount and transfer_data[amount].",
                          param="application_fee_amount")
        if fee > amount:
            raise invalid("application_fee_amount must be less than or equal to amount.",
                          param="application_fee_amount")

    def _check_destination(self, pi: Obj) -> None:
        if pi["transfer_data"]:
            # The host's account may have been restricted since the PaymentIntent was created.
            _require_transfers(self.store.objects[pi["transfer_data"]["destination"]])

    def _confirm(
        self, pi: Obj, pm_id: str, *, off_session: bool, error_on_requires_action: bool, return_url: str | None,
        base_url: str,
    ) -> None:
        card = self._cards[pm_id]
        self._used.add(pm_id)
        self._auth_tokens.pop(pi["id"], None)  # a new attempt voids an unfinished 3DS challenge
        pi.update(payment_method=pm_id, last_payment_error=None, next_action=None)
        if card.outcome is Outcome.DECLINE:
            self._decline(pi, pm_id, card)
        set_up_for_off_session = off_session and pm_id in self._set_up
        if card.outcome is Outcome.AUTHENTICATE_ALWAYS or (
            card.outcome is Outcome.AUTHENTICATE_UNLESS_SET_UP and not set_up_for_off_session
        ):
            if off_session or error_on_requires_action:
                # Nobody is there to complete 3DS: Stripe declines instead of asking for action.
                self._decline(pi, pm_id, AUTHENTICATION_REQUIRED)
            self._require_action(pi, return_url, base_url)
            return
        self._authorize(pi, pm_id, card, off_session=off_session, authenticated=False)

    def _require_action(self, pi: Obj, return_url: str | None, base_url: str) -> None:
        token = self.store.new_id("auth", 20)[5:]
        self._auth_tokens[pi["id"]] = token
        url = f"{base_url}/_fake/3ds/{pi['id']}/{token}"
        if return_url:
            next_action: Obj = {"type": "redirect_to_url", "redirect_to_url": {"url": url, "return_url": return_url}}
        else:
            # What Stripe.js/Payment Element gets; `stripe_js` is the challenge page (here: this fake's).
            next_action = {"type": "use_stripe_sdk",
                           "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": url}}
        pi.update(status="requires_action", next_action=next_action)
        self.store.emit("payment_intent.requires_action", pi)

    def _new_charge(self, pi: Obj, pm_id: str, card: Card, *, failure: Card | None, authenticated: bool) -> Obj:
        succeeded = failure is None
        pm_card = self.store.objects[pm_id]["card"]
        charge: Obj = {
            "id": self.store.new_id("ch"),
            "object": "charge",
            "amount": pi["amount"],
            "amount_captured": 0,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": None,
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "calculated_statement_descriptor": "DRIVEWAY HUB",
            "captured": False,
            "created": self.store.timestamp(),
            "currency": pi["currency"],
            "customer": pi["customer"],
            "description": pi["description"],
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": failure.code if failure else None,
            "failure_message": failure.message if failure else None,
            "fraud_details": {},
            "livemode": False,
            "metadata": dict(pi["metadata"]),
            "on_behalf_of": pi["on_behalf_of"],
            "outcome": _outcome(failure),
            "paid": succeeded,
            "payment_intent": pi["id"],
            "payment_method": pm_id,
            "payment_method_details": {
                "type": "card",
                "card": {
                    "brand": card.brand,
                    "capture_before": None,
                    "checks": pm_card["checks"],
                    "country": "US",
                    "exp_month": pm_card["exp_month"],
                    "exp_year": pm_card["exp_year"],
                    "funding": card.funding,
                    "last4": card.last4,
                    "network": card.brand,
                    "three_d_secure": {"authentication_flow": "challenge", "result": "authenticated",
                                       "version": "2.2.0"} if authenticated else None,
                },
            },
            "receipt_email": pi["receipt_email"],
            "refunded": False,
            "review": None,
            "source_transfer": None,
            "statement_descriptor": pi["statement_descriptor"],
            "status": "succeeded" if succeeded else "failed",
            "transfer": None,
            "transfer_data": pi["transfer_data"],
            "transfer_group": pi["transfer_group"],
        }
        self.store.put(charge)
        return charge

    def _decline(self, pi: Obj, pm_id: str, failure: Card) -> None:
        charge = self._new_charge(pi, pm_id, self._cards[pm_id], failure=failure, authenticated=False)
        pm = self.store.objects[pm_id]
        error: Obj = {
            "type": CARD_ERROR,
            "charge": charge["id"],
            "code": failure.code,
            "decline_code": failure.decline_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{(failure.code or '').replace('_', '-')}",
            "message": failure.message,
            "payment_method": snapshot(pm),
        }
        pi.update(status="requires_payment_method", latest_charge=charge["id"], payment_method=None,
                  last_payment_error=error)
        self.store.emit("charge.failed", charge)
        self.store.emit("payment_intent.payment_failed", pi)
        raise StripeApiError(
            402, failure.message or "Your card was declined.", type=CARD_ERROR, code=failure.code,
            decline_code=failure.decline_code,
            extra={"charge": charge["id"], "payment_intent": snapshot(pi), "payment_method": snapshot(pm)},
        )

    def _authorize(self, pi: Obj, pm_id: str, card: Card, *, off_session: bool, authenticated: bool) -> None:
        charge = self._new_charge(pi, pm_id, card, failure=None, authenticated=authenticated)
        pi.update(latest_charge=charge["id"], next_action=None, last_payment_error=None)
        if pi["setup_future_usage"]:
            self._set_up.add(pm_id)
            if pi["customer"]:
                self.store.objects[pm_id]["customer"] = pi["customer"]
        if pi["capture_method"] == "manual":
            days = VISA_MERCHANT_INITIATED_HOLD_DAYS if off_session and card.brand == "visa" else HOLD_DAYS
            capture_before = self.store.timestamp() + days * DAY
            charge["payment_method_details"]["card"]["capture_before"] = capture_before
            self._holds[pi["id"]] = capture_before
            pi.update(status="requires_capture", amount_capturable=pi["amount"])
            self.store.emit("charge.succeeded", charge)
            self.store.emit("payment_intent.amount_capturable_updated", pi)
        else:
            self._settle(pi, charge, pi["amount"])
            pi.update(status="succeeded", amount_received=pi["amount"])
            self.store.emit("charge.succeeded", charge)
            self.store.emit("payment_intent.succeeded", pi)

    def _settle(self, pi: Obj, charge: Obj, captured: int) -> None:
        """Move captured money: platform ← charge; destination ← transfer; platform ← application fee."""
        currency = charge["currency"]
        charge_id = charge["id"]
        charge.update(captured=True, amount_captured=captured)
        charge["balance_transaction"] = self.store.book(PLATFORM, captured, currency, "charge", charge_id)
        transfer_data = pi["transfer_data"]
        if not transfer_data:
            return
        destination = transfer_data["destination"]
        # Stripe transfers the whole captured amount, then collects the fee back from the account.
        transfer_amount = min(transfer_data.get("amount", captured), captured)
        transfer_id = self.store.new_id("tr")
        transfer: Obj = {
            "id": transfer_id,
            "object": "transfer",
            "amount": transfer_amount,
            "amount_reversed": 0,
            "balance_transaction": self.store.book(PLATFORM, -transfer_amount, currency, "transfer", transfer_id),
            "created": self.store.timestamp(),
            "currency": currency,
            "description": None,
            "destination": destination,
            "destination_payment": self.store.new_id("py"),
            "livemode": False,
            "metadata": {},
            "reversals": {"object": "list", "data": [], "has_more": False, "total_count": 0,
                          "url": f"/v1/transfers/{transfer_id}/reversals"},
            "reversed": False,
            "source_transaction": charge_id,
            "source_type": "card",
            "transfer_group": pi["transfer_group"] or f"group_{pi['id']}",
        }
        self.store.book(destination, transfer_amount, currency, "payment", transfer_id)
        self.store.put(transfer)
        charge["transfer"] = transfer_id
        if pi["application_fee_amount"] is None:
            return
        fee = min(pi["application_fee_amount"], captured)  # capped at what was captured
        charge["application_fee_amount"] = fee
        if fee == 0:
            return
        fee_id = self.store.new_id("fee")
        app_fee: Obj = {
            "id": fee_id,
            "object": "application_fee",
            "account": destination,
            "amount": fee,
            "amount_refunded": 0,
            "application": "ca_fake_driveway_hub",
            "balance_transaction": self.store.book(PLATFORM, fee, currency, "application_fee", fee_id),
            "charge": charge_id,
            "created": self.store.timestamp(),
            "currency": currency,
            "livemode": False,
            "originating_transaction": None,
            "refunded": False,
            "refunds": {"object": "list", "data": [], "has_more": False, "total_count": 0,
                        "url": f"/v1/application_fees/{fee_id}/refunds"},
        }
        self.store.book(destination, -fee, currency, "application_fee", fee_id)
        self.store.put(app_fee)
        charge["application_fee"] = fee_id

    def _cancel(self, pi: Obj, reason: str | None, *, expired: bool = False) -> None:
        was_authorized = pi["status"] == "requires_capture"
        pi.update(status="canceled", canceled_at=self.store.timestamp(), cancellation_reason=reason,
                  amount_capturable=0, next_action=None)
        self._holds.pop(pi["id"], None)
        self._auth_tokens.pop(pi["id"], None)
        if was_authorized:
            # Releasing an authorization marks the uncaptured charge refunded (no money had moved).
            charge = self.store.objects[pi["latest_charge"]]
            charge.update(amount_refunded=charge["amount"], refunded=True)
            self.store.emit("charge.expired" if expired else "charge.refunded", charge)
        self.store.emit("payment_intent.canceled", pi)


def _outcome(failure: Card | None) -> Obj:
    if failure is None:
        return {"network_status": "approved_by_network", "reason": None, "risk_level": "normal",
                "seller_message": "Payment complete.", "type": "authorized"}
    return {"network_status": "declined_by_network", "reason": failure.decline_code, "risk_level": "normal",
            "seller_message": "The bank did not return any further details with this decline.",
            "type": "issuer_declined"}


def _currency(p: Params) -> str:
    currency = p.req_str("currency").lower()
    if not re.fullmatch(r"[a-z]{3}", currency):
        raise invalid(f"Invalid currency: {currency}", param="currency")
    return currency


def _check_amount(amount: int, currency: str) -> None:
    minimum = MINIMUM_AMOUNT.get(currency, 1)
    if amount < minimum:
        raise StripeApiError(
            400, f"Amount must be at least {minimum} {currency} minor units", param="amount", code="amount_too_small"
        )
    if amount > 99_999_999:
        raise StripeApiError(400, "Amount must be no more than 99999999", param="amount", code="amount_too_large")


def _off_session(p: Params) -> bool:
    value = p.raw("off_session")
    if value in ("one_off", "recurring"):
        return True
    return p.boolean("off_session")


def _check_client_secret(pi: Obj, client_secret: str | None) -> None:
    if client_secret is None:
        raise missing_param("client_secret")
    if client_secret != pi["client_secret"]:
        raise invalid(
            "The client_secret provided does not match any associated PaymentIntent on this account.",
            param="client_secret",
        )


def _require_transfers(account: Obj) -> None:
    if account["capabilities"].get("transfers") != "active":
        raise StripeApiError(
            400, "Your destination account needs to have at least one of the following capabilities enabled: "
            "transfers, crypto_transfers, legacy_payments", param="transfer_data[destination]",
            code="insufficient_capabilities_for_transfer",
        )


def _missing_payment_method() -> StripeApiError:
    return unexpected_state(
        "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update "
        "the PaymentIntent with a payment method and then confirm it again, or confirm it again directly with "
        "a payment method.", param="payment_method",
    )


def _reused_payment_method() -> StripeApiError:
    return invalid(
        "The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, "
        "shared with a connected account without Customer attachment, or was detached from a Customer. It may "
        "not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer first.",
        param="payment_method",
    )


def _matches(pi: Obj, field: str, metadata_key: str | None, value: str) -> bool:
    if metadata_key is not None:
        return bool(pi["metadata"].get(metadata_key) == value)
    return bool(pi.get(field) == value)

