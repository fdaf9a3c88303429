"""The one module that talks to Stripe (stripe-python 16, ``StripeClient``).

Rules it keeps (see /work/shared/research/stripe.md):

* one ``StripeClient`` per process and key, created on first use, with ``max_network_retries=2`` (the
  client does not retry by default) and a 10 s HTTP timeout (the default 80 s outlives API Gateway);
* every create/capture/refund carries an idempotency key derived from our ids, never a random one, so
  a retried Lambda can never charge twice; every operation also checks state, because keys expire
  after 24 h;
* Stripe errors become domain errors here and nowhere else; log lines carry Stripe's error code and
  request id, never keys, client secrets or card data.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import stripe

from driveway_hub.errors import Conflict, InvalidInput, PaymentDeclined
from driveway_hub.observability import logger
from driveway_hub.payments.errors import (
    HostNotPayable,
    InvalidAmount,
    PaymentStateError,
    StripeMisconfigured,
    StripeUnavailable,
    declined_details,
)
from driveway_hub.payments.ports import (
    AccountStatus,
    DisputeInfo,
    PaymentIntentInfo,
    RefundInfo,
    SettlementInfo,
)

if TYPE_CHECKING:
    from stripe import RequestOptions

T = TypeVar("T")

HTTP_TIMEOUT_S = 10
MAX_NETWORK_RETRIES = 2
CANCELLATION_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer", "abandoned"})
# InvalidRequestError codes that mean "not in a state for that", as opposed to a bad request of ours.
_STATE_CODES = frozenset({
    "payment_intent_unexpected_state", "charge_already_refunded", "charge_already_captured",
    "charge_expired_for_capture", "amount_too_large", "payment_intent_invalid_parameter",
})
_HOST_CODES = frozenset({"insufficient_capabilities_for_transfer", "account_invalid"})
_AMOUNT_CODES = frozenset({"amount_too_small", "invalid_currency"})

_clients: dict[tuple[str, str | None], stripe.StripeClient] = {}
_clients_lock = threading.Lock()


def shared_client(secret_key: str, api_base: str | None) -> stripe.StripeClient:
    """The process's StripeClient for this key and base (a warm Lambda reuses its connections)."""
    key = (secret_key, api_base)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = stripe.StripeClient(
                secret_key,
                max_network_retries=MAX_NETWORK_RETRIES,
                http_client=stripe.RequestsClient(timeout=HTTP_TIMEOUT_S),
                base_addresses={"api": api_base} if api_base else None,
            )
            _clients[key] = client
        return client


# ---- conversions ---------------------------------------------------------------------------------
def _get(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a StripeObject or dict (StripeObject.get() raises since v15; ``in`` + [] works)."""
    if obj is None:
        return default
    try:
        return obj[name] if name in obj else default  # noqa: SIM401 - StripeObject.get() raises since v15
    except (KeyError, TypeError):
        return default


def _metadata(obj: Any) -> dict[str, str]:
    raw = _get(obj, "metadata") or {}
    return {str(k): str(v) for k, v in (raw.to_dict() if hasattr(raw, "to_dict") else dict(raw)).items()}


def intent_info(pi: Any) -> PaymentIntentInfo:
    """A PaymentIntent (StripeObject or webhook dict) as our value type; reads an expanded latest_charge."""
    charge = _get(pi, "latest_charge")
    charge_id = charge if isinstance(charge, str) or charge is None else _get(charge, "id")
    capture_before = None
    amount_refunded = 0
    if charge is not None and not isinstance(charge, str):
        card = _get(_get(charge, "payment_method_details"), "card")
        capture_before = _get(card, "capture_before")
        if _get(charge, "captured"):
            # Stripe counts the uncaptured part of a partial capture as "refunded" on the charge; only
            # what went back after capture is a refund to the driver.
            released = int(_get(charge, "amount", 0)) - int(_get(charge, "amount_captured", 0) or 0)
            amount_refunded = max(0, int(_get(charge, "amount_refunded", 0) or 0) - released)
    error = _get(pi, "last_payment_error")
    error_code = (_get(error, "decline_code") or _get(error, "code")) if error else None
    fee = _get(pi, "application_fee_amount")
    return PaymentIntentInfo(
        id=str(_get(pi, "id")),
        client_secret=_get(pi, "client_secret"),
        status=str(_get(pi, "status")),
        amount=int(_get(pi, "amount", 0)),
        capture_method=str(_get(pi, "capture_method", "automatic")),
        currency=str(_get(pi, "currency", "usd")),
        amount_capturable=int(_get(pi, "amount_capturable", 0) or 0),
        amount_received=int(_get(pi, "amount_received", 0) or 0),
        amount_refunded=amount_refunded,
        application_fee_amount=None if fee is None else int(fee),
        capture_before=None if capture_before is None else int(capture_before),
        customer=_id_of(_get(pi, "customer")),
        payment_method=_id_of(_get(pi, "payment_method")),
        latest_charge=charge_id,
        cancellation_reason=_get(pi, "cancellation_reason"),
        last_error_code=error_code,
        metadata=_metadata(pi),
    )


def refund_info(refund: Any) -> RefundInfo:
    return RefundInfo(
        id=str(_get(refund, "id")),
        payment_intent_id=_id_of(_get(refund, "payment_intent")),
        amount=int(_get(refund, "amount", 0)),
        currency=str(_get(refund, "currency", "usd")),
        status=str(_get(refund, "status")),
        failure_reason=_get(refund, "failure_reason"),
        metadata=_metadata(refund),
    )


def dispute_info(dispute: Any) -> DisputeInfo:
    return DisputeInfo(
        id=str(_get(dispute, "id")),
        payment_intent_id=_id_of(_get(dispute, "payment_intent")),
        charge_id=_id_of(_get(dispute, "charge")),
        amount=int(_get(dispute, "amount", 0)),
        currency=str(_get(dispute, "currency", "usd")),
        status=str(_get(dispute, "status")),
        reason=_get(dispute, "reason"),
    )


def account_status(account: Any) -> AccountStatus:
    requirements = _get(account, "requirements")
    due: list[str] = []
    for key in ("past_due", "currently_due"):
        for item in _get(requirements, key) or []:
            if item not in due:
                due.append(str(item))
    return AccountStatus(
        account_id=str(_get(account, "id")),
        charges_enabled=bool(_get(account, "charges_enabled", False)),
        payouts_enabled=bool(_get(account, "payouts_enabled", False)),
        details_submitted=bool(_get(account, "details_submitted", False)),
        requirements=tuple(due),
        user_id=_metadata(account).get("user_id"),
    )


def _id_of(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    found = _get(value, "id")
    return None if found is None else str(found)


# ---- error mapping -------------------------------------------------------------------------------
def translate(exc: stripe.StripeError, operation: str) -> Exception:
    """The domain error for a Stripe error (the one place this mapping lives)."""
    extra = {"operation": operation, "stripe_code": exc.code, "http_status": exc.http_status,
             "request_id": exc.request_id}
    if isinstance(exc, stripe.CardError):
        error = exc.error
        decline_code = getattr(error, "decline_code", None) if error is not None else None
        pi = getattr(error, "payment_intent", None) if error is not None else None
        logger.info("card declined", extra={**extra, "decline_code": decline_code})
        return PaymentDeclined(exc.user_message or "The card was declined.",
                               details=declined_details(decline_code, exc.code, _id_of(pi)))
    if isinstance(exc, stripe.IdempotencyError):
        # Same key, different parameters: a bug or a changed request replayed; never retried blindly.
        logger.error("stripe idempotency key reused with other parameters", extra=extra)
        return Conflict("This payment request conflicts with an earlier one.", code="idempotency_conflict")
    if isinstance(exc, stripe.RateLimitError | stripe.APIConnectionError | stripe.APIError):
        logger.warning("stripe unavailable", extra=extra)
        return StripeUnavailable("The payment provider is unavailable; try again shortly.")
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        logger.error("stripe refused our credentials", extra=extra)
        return StripeMisconfigured("Payments are temporarily unavailable.")
    if isinstance(exc, stripe.InvalidRequestError):
        code = exc.code or ""
        if code in _HOST_CODES:
            return HostNotPayable("The host cannot receive payments yet.")
        if code in _AMOUNT_CODES:
            return InvalidAmount(exc.user_message or "The amount cannot be charged.", field="amount")
        if code in _STATE_CODES:
            logger.info("payment not in a state for that", extra=extra)
            return PaymentStateError(_state_message(operation), details=[{"stripe_code": code}])
        if code == "resource_missing":
            return PaymentStateError("The payment does not exist.", code="payment_not_found")
        # Anything else is a request we should never have built: a fault, logged with Stripe's code.
        logger.error("stripe rejected our request", extra={**extra, "param": exc.param})
        return RuntimeError(f"stripe rejected {operation}: {code or 'invalid_request_error'}")
    logger.error("unexpected stripe error", extra=extra)
    return StripeUnavailable("The payment provider answered unexpectedly; try again shortly.")


def _state_message(operation: str) -> str:
    return {
        "capture": "The payment cannot be captured in its current state.",
        "cancel": "The payment can no longer be cancelled.",
        "refund": "The payment cannot be refunded in its current state.",
    }.get(operation, "The payment is not in a state that allows this.")


def _calling(operation: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except stripe.StripeError as exc:
        raise translate(exc, operation) from exc


# ---- validation of our own inputs -----------------------------------------------------------------
def _check_money(amount_cents: int, fee_cents: int, currency: str) -> str:
    # bool is an int subclass; money must be a real integer of minor units.
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise InvalidAmount("amount must be a positive integer of minor units", field="amount_cents")
    if isinstance(fee_cents, bool) or not isinstance(fee_cents, int) or not 0 <= fee_cents <= amount_cents:
        raise InvalidAmount("platform fee must be between 0 and the amount", field="platform_fee_cents")
    normalized = currency.lower()
    if len(normalized) != 3 or not normalized.isalpha():
        raise InvalidAmount("currency must be a three-letter ISO code", field="currency")
    return normalized


def _check_destination(host_account_id: str) -> None:
    if not host_account_id or not host_account_id.startswith("acct_"):
        raise HostNotPayable("The host cannot receive payments yet.")


def proportional_fee(fee_cents: int, part_cents: int, total_cents: int) -> int:
    """The platform fee for keeping ``part`` of ``total``: floor, so rounding never favours the platform."""
    if total_cents <= 0:
        return 0
    return fee_cents * part_cents // total_cents


class StripePayments:
    """``PaymentsPort`` on Stripe. Build it once per container (see ``payments.runtime``).

    ``http_client`` exists for tests (a stub transport); production uses the shared client.
    """

    def __init__(self, secret_key: str, publishable_key: str, api_base: str | None = None, *,
                 http_client: stripe.HTTPClient | None = None):
        if not secret_key:
            raise ValueError("a Stripe secret key is required")
        self._secret_key = secret_key
        self._publishable_key = publishable_key
        self._api_base = api_base
        self._http_client = http_client
        self._client: stripe.StripeClient | None = None

    def __repr__(self) -> str:  # never the keys
        return f"StripePayments(api_base={self._api_base!r})"

    @property
    def publishable_key(self) -> str:
        return self._publishable_key

    @property
    def client(self) -> stripe.StripeClient:
        if self._client is None:
            if self._http_client is None:
                self._client = shared_client(self._secret_key, self._api_base)
            else:
                self._client = stripe.StripeClient(
                    self._secret_key, max_network_retries=MAX_NETWORK_RETRIES, http_client=self._http_client,
                    base_addresses={"api": self._api_base} if self._api_base else None,
                )
        return self._client

    # ---- PaymentIntents --------------------------------------------------------------------------
    def create_booking_payment(self, *, booking_id: str, amount_cents: int, currency: str, platform_fee_cents: int,
                               host_account_id: str, capture_manual: bool, customer_id: str | None = None,
                               metadata: dict[str, str]) -> PaymentIntentInfo:
        """The booking's PaymentIntent: a destination charge to the host, confirmed by the driver's app.

        The card is saved for later off-session use (overstay, no-show), which needs a Customer: without
        ``customer_id`` one is created for the booking (idempotent, keyed by the booking).
        """
        currency = _check_money(amount_cents, platform_fee_cents, currency)
        _check_destination(host_account_id)
        customer = customer_id or self._booking_customer(booking_id, metadata)
        params: dict[str, Any] = {
            "amount": amount_cents,
            "currency": currency,
            "capture_method": "manual" if capture_manual else "automatic",
            # Cards only: holds (manual capture) and off-session reuse are what the booking needs.
            "payment_method_types": ["card"],
            "transfer_data": {"destination": host_account_id},
            "application_fee_amount": platform_fee_cents,
            "customer": customer,
            "setup_future_usage": "off_session",
            "description": f"Driveway-Hub booking {booking_id}",
            "metadata": {**metadata, "booking_id": booking_id, "kind": "charge"},
        }
        return self._create_intent(params, f"booking:{booking_id}:pi")

    def create_extension_payment(self, *, booking_id: str, extension_no: int, amount_cents: int, currency: str,
                                 platform_fee_cents: int, host_account_id: str,
                                 capture_manual: bool) -> PaymentIntentInfo:
        currency = _check_money(amount_cents, platform_fee_cents, currency)
        _check_destination(host_account_id)
        params: dict[str, Any] = {
            "amount": amount_cents,
            "currency": currency,
            "capture_method": "manual" if capture_manual else "automatic",
            "payment_method_types": ["card"],
            "transfer_data": {"destination": host_account_id},
            "application_fee_amount": platform_fee_cents,
            "description": f"Driveway-Hub booking {booking_id} extension {extension_no}",
            "metadata": {"booking_id": booking_id, "kind": "extension", "extension_no": str(extension_no)},
        }
        return self._create_intent(params, f"booking:{booking_id}:ext:{extension_no}")

    def charge_off_session(self, *, booking_id: str, purpose: str, amount_cents: int, currency: str,
                           platform_fee_cents: int, host_account_id: str, customer_id: str | None,
                           payment_method_id: str | None) -> PaymentIntentInfo:
        """Charge the card saved at booking, without the driver present (overstay, no-show).

        A card that needs the driver (3DS) or is declined raises PaymentDeclined; nothing is retried.
        """
        currency = _check_money(amount_cents, platform_fee_cents, currency)
        _check_destination(host_account_id)
        if not customer_id or not payment_method_id:
            raise PaymentStateError("No saved card to charge for this booking.", code="no_saved_card")
        params: dict[str, Any] = {
            "amount": amount_cents,
            "currency": currency,
            "customer": customer_id,
            "payment_method": payment_method_id,
            "payment_method_types": ["card"],
            "confirm": True,
            "off_session": True,
            "transfer_data": {"destination": host_account_id},
            "application_fee_amount": platform_fee_cents,
            "description": f"Driveway-Hub booking {booking_id} {purpose}",
            "metadata": {"booking_id": booking_id, "kind": purpose},
        }
        return self._create_intent(params, f"booking:{booking_id}:{purpose}")

    def _create_intent(self, params: dict[str, Any], key: str) -> PaymentIntentInfo:
        pi = _calling("create", lambda: self.client.v1.payment_intents.create(
            params=params,  # type: ignore[arg-type]
            options=self._options(key)))
        return intent_info(pi)

    def _booking_customer(self, booking_id: str, metadata: Mapping[str, str]) -> str:
        params: dict[str, Any] = {"metadata": {"booking_id": booking_id,
                                               **({"driver_id": metadata["driver_id"]} if "driver_id" in metadata
                                                  else {})}}
        customer = _calling("create_customer", lambda: self.client.v1.customers.create(
            params=params,  # type: ignore[arg-type]
            options=self._options(f"booking:{booking_id}:customer")))
        return str(customer.id)

    def retrieve(self, pi_id: str) -> PaymentIntentInfo:
        pi = _calling("retrieve", lambda: self.client.v1.payment_intents.retrieve(
            pi_id, params={"expand": ["latest_charge"]}))
        return intent_info(pi)

    def cancel(self, pi_id: str, *, reason: str) -> PaymentIntentInfo:
        """Cancel (releases a hold). Already cancelled → returned as is; already captured → PaymentStateError."""
        stripe_reason = reason if reason in CANCELLATION_REASONS else "requested_by_customer"
        try:
            pi = _calling("cancel", lambda: self.client.v1.payment_intents.cancel(
                pi_id, params={"cancellation_reason": stripe_reason}))
        except PaymentStateError:
            current = self.retrieve(pi_id)
            if current.status == "canceled":
                return current
            raise PaymentStateError("The payment was already captured; refund it instead.",
                                    code="payment_already_captured") from None
        return intent_info(pi)

    def capture(self, pi_id: str, *, amount_cents: int | None = None, application_fee_cents: int | None = None,
                idempotency_key: str) -> PaymentIntentInfo:
        """Capture a hold (all of it, or ``amount_cents``). Already captured → returned as is."""
        params: dict[str, Any] = {}
        if amount_cents is not None:
            params["amount_to_capture"] = amount_cents
        if application_fee_cents is not None:
            params["application_fee_amount"] = application_fee_cents
        try:
            pi = _calling("capture", lambda: self.client.v1.payment_intents.capture(
                pi_id, params=params,  # type: ignore[arg-type]
                options=self._options(idempotency_key)))
        except PaymentStateError:
            current = self.retrieve(pi_id)
            if current.status == "succeeded":
                return current  # a retry after a lost answer, past the key's lifetime
            raise
        return intent_info(pi)

    # ---- refunds and settlement ------------------------------------------------------------------
    def refund(self, pi_id: str, *, amount_cents: int, idempotency_key: str) -> RefundInfo:
        """Refund part or all of a captured payment, taking back the host's transfer and our fee in proportion.

        A refund made earlier with the same key (even after the key expired at Stripe) is returned instead
        of refunding twice: the key is stored in the refund's metadata and checked first.
        """
        if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
            raise InvalidInput("refund amount must be a positive integer", field="amount_cents")
        for existing in self.list_refunds(pi_id):
            if existing.metadata.get("settlement_key") == idempotency_key and existing.status != "failed":
                return existing
        params: dict[str, Any] = {
            "payment_intent": pi_id,
            "amount": amount_cents,
            "reverse_transfer": True,
            "refund_application_fee": True,
            "metadata": {"settlement_key": idempotency_key},
        }
        refund = _calling("refund", lambda: self.client.v1.refunds.create(
            params=params,  # type: ignore[arg-type]
            options=self._options(idempotency_key)))
        return refund_info(refund)

    def settle_cancellation(self, pi_id: str, *, refund_cents: int, idempotency_key: str,
                            cancel_reason: str = "requested_by_customer") -> SettlementInfo:
        """Give ``refund_cents`` back to the driver and keep the rest, whatever state the payment is in.

        * authorized hold (requires_capture): capture ``total - refund`` with a proportional platform fee,
          or cancel the hold when everything is refunded;
        * never completed (requires_payment_method/confirmation/action): cancel;
        * captured (succeeded): refund ``refund_cents`` (0 → nothing);
        * cancelled: nothing; processing: StripeUnavailable (settle again later; the reconciler does).

        ``cancel_reason`` is Stripe's ``cancellation_reason`` when the PaymentIntent is cancelled.

        Idempotent: a second call with the same key does nothing more, by key and by state (a capture
        records the key in the PaymentIntent's metadata; a refund in the refund's).
        """
        if isinstance(refund_cents, bool) or not isinstance(refund_cents, int) or refund_cents < 0:
            raise InvalidInput("refund must be a non-negative integer", field="refund_cents")
        pi = self.retrieve(pi_id)
        if pi.status == "requires_capture":
            total = pi.amount_capturable or pi.amount
            keep = total - min(refund_cents, total)
            if keep <= 0:
                cancelled = self.cancel(pi_id, reason=cancel_reason)
                return SettlementInfo(pi_id, "canceled", cancelled.status, 0, total)
            params: dict[str, Any] = {"amount_to_capture": keep, "metadata": {"settled_by": idempotency_key}}
            if pi.application_fee_amount is not None:
                params["application_fee_amount"] = proportional_fee(pi.application_fee_amount, keep, pi.amount)
            captured = intent_info(_calling("capture", lambda: self.client.v1.payment_intents.capture(
                pi_id, params=params,  # type: ignore[arg-type]
                options=self._options(f"{idempotency_key}:capture"))))
            return SettlementInfo(pi_id, "captured", captured.status, keep, total - keep)
        if pi.status in ("requires_payment_method", "requires_confirmation", "requires_action"):
            cancelled = self.cancel(pi_id, reason=cancel_reason)
            return SettlementInfo(pi_id, "canceled", cancelled.status)
        if pi.status == "canceled":
            return SettlementInfo(pi_id, "none", pi.status)
        if pi.status == "processing":
            raise StripeUnavailable("The payment is still processing; it will be settled shortly.")
        # succeeded
        if pi.metadata.get("settled_by") == idempotency_key:
            # Settled by a partial capture on an earlier call: the uncaptured part was the refund.
            return SettlementInfo(pi_id, "none", pi.status, pi.amount_received, 0)
        refundable = pi.amount_refundable
        amount = min(refund_cents, refundable)
        if amount < refund_cents:
            logger.warning("refund capped at the unrefunded amount",
                           extra={"payment_intent_id": pi_id, "requested": refund_cents, "refundable": refundable})
        if amount <= 0:
            return SettlementInfo(pi_id, "none", pi.status, pi.amount_received, 0)
        refund = self.refund(pi_id, amount_cents=amount, idempotency_key=f"{idempotency_key}:refund")
        return SettlementInfo(pi_id, "refunded", pi.status, pi.amount_received - amount, refund.amount, refund)

    def retrieve_refund(self, refund_id: str) -> RefundInfo:
        return refund_info(_calling("retrieve_refund", lambda: self.client.v1.refunds.retrieve(refund_id)))

    def list_refunds(self, pi_id: str) -> list[RefundInfo]:
        refunds = _calling("list_refunds", lambda: self.client.v1.refunds.list(
            params={"payment_intent": pi_id, "limit": 100}))
        return [refund_info(r) for r in refunds.data]

    def retrieve_dispute(self, dispute_id: str) -> DisputeInfo:
        return dispute_info(_calling("retrieve_dispute", lambda: self.client.v1.disputes.retrieve(dispute_id)))

    def undelivered_events(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """Platform events whose webhook never got a 2xx (Stripe keeps them 30 days): the reconciler
        feeds them through the same handler, so a lost webhook is only late."""
        events = _calling("list_events", lambda: self.client.v1.events.list(
            params={"delivery_success": False, "limit": min(limit, 100)}))
        return [e.to_dict() for e in events.data]

    # ---- Connect ---------------------------------------------------------------------------------
    def create_host_account(self, *, user_id: str, email: str | None) -> str:
        """The host's connected account: Stripe-hosted onboarding, we pay the fees and bear the losses."""
        params: dict[str, Any] = {
            "controller": {
                "stripe_dashboard": {"type": "express"},
                "fees": {"payer": "application"},
                "losses": {"payments": "application"},
            },
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"user_id": user_id},
        }
        if email:
            params["email"] = email
        account = _calling("create_account", lambda: self.client.v1.accounts.create(
            params=params,  # type: ignore[arg-type]
            options=self._options(f"host:{user_id}:account")))
        return str(account.id)

    def onboarding_link(self, account_id: str, refresh_url: str, return_url: str) -> str:
        """A single-use, short-lived link to Stripe's hosted onboarding (mint a new one each time)."""
        link = _calling("account_link", lambda: self.client.v1.account_links.create(params={
            "account": account_id, "type": "account_onboarding", "refresh_url": refresh_url,
            "return_url": return_url}))
        return str(link.url)

    def account_status(self, account_id: str) -> AccountStatus:
        return account_status(_calling("retrieve_account", lambda: self.client.v1.accounts.retrieve(account_id)))

    def list_payouts(self, account_id: str) -> list[dict[str, Any]]:
        payouts = _calling("list_payouts", lambda: self.client.v1.payouts.list(
            params={"limit": 20}, options={"stripe_account": account_id}))
        return [
            {"payout_id": p.id, "amount_cents": int(p.amount), "currency": p.currency, "status": p.status,
             "arrival_date": _get(p, "arrival_date"), "created": _get(p, "created")}
            for p in payouts.data
        ]

    @staticmethod
    def _options(idempotency_key: str) -> RequestOptions:
        return {"idempotency_key": idempotency_key}

