"""`FakeStripe`: the fake's whole state and its thread-safe control surface.

The HTTP app runs on an asyncio loop (often in another thread); tests and the local cloud inspect and
steer the same state from their own thread. Everything goes through one re-entrant lock, and what
leaves this class is a deep copy, so callers never race the loop on a shared dict.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from typing import Any

from .connect import Connect
from .faults import FaultInjector, FaultMode, FaultRule
from .idempotency import IdempotencyStore
from .payments import Payments
from .refunds import Refunds
from .store import PLATFORM, Obj, Store
from .webhooks import Chaos, DeliveryAttempt, EndpointKind, WebhookDispatcher, WebhookEndpoint


class FakeStripe:
    """A stateful, test-mode Stripe for the endpoints Driveway-Hub uses.

    Parameters
    ----------
    now:
        Unix seconds; the local cloud passes its virtual clock. Object timestamps, hold expiry,
        idempotency-key lifetime, link expiry and webhook scheduling all follow it.
    api_key, publishable_key:
        When set, only these keys are accepted; otherwise any ``sk_test_``/``rk_test_`` (and
        ``pk_test_`` where Stripe allows publishable keys) is.
    platform_webhook, connect_webhook:
        Where events are POSTed: Connect events (those with ``account``) go to the Connect endpoint,
        signed with its own secret; all others go to the platform endpoint.
    public_base_url:
        The fake's URL as browsers see it (account-link and 3DS URLs); default: the request's origin.
    signing_now:
        Clock for the ``Stripe-Signature`` timestamp. The wall clock by default, because receivers
        check it against their own ``time.time()`` (stripe-python does), not against a virtual clock.
    auto_expire_holds:
        Expire authorizations as soon as ``now`` passes ``capture_before`` (checked before every API
        call and by the delivery loop). Off: only ``expire_holds()`` does it.

    Examples
    --------
    >>> fake = FakeStripe(platform_webhook=WebhookEndpoint("http://127.0.0.1:8000/v1/webhooks/stripe",
    ...                                                    "whsec_local_platform"))
    >>> fake.balance()
    0
    """

    def __init__(
        self,
        *,
        now: Callable[[], float] = time.time,
        api_key: str | None = None,
        publishable_key: str | None = None,
        platform_webhook: WebhookEndpoint | None = None,
        connect_webhook: WebhookEndpoint | None = None,
        public_base_url: str | None = None,
        signing_now: Callable[[], float] = time.time,
        auto_expire_holds: bool = True,
    ) -> None:
        self.now = now
        self.api_key = api_key
        self.publishable_key = publishable_key
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.auto_expire_holds = auto_expire_holds
        self.store = Store(now)
        self.payments = Payments(self.store)
        self.refunds = Refunds(self.store)
        self.connect = Connect(self.store)
        self.webhooks = WebhookDispatcher(self.store, signing_now)
        self.store.dispatch = self.webhooks.dispatch
        self.idempotency = IdempotencyStore(now)
        self.faults = FaultInjector()
        self.webhooks.endpoints["platform"] = platform_webhook
        self.webhooks.endpoints["connect"] = connect_webhook

    @property
    def lock(self) -> Any:
        return self.store.lock

    # ---- configuration ------------------------------------------------------------------------

    def set_webhook_endpoint(
        self, kind: EndpointKind, url: str | None, secret: str | None = None,
        enabled_events: tuple[str, ...] = ("*",),
    ) -> None:
        """Point `kind` ("platform" or "connect") at `url`, or stop delivering to it (`url=None`)."""
        if url is not None and not secret:
            raise ValueError(f"the {kind} webhook endpoint needs its signing secret")
        with self.lock:
            self.webhooks.endpoints[kind] = (
                None if url is None else WebhookEndpoint(url, secret or "", tuple(enabled_events))
            )

    def set_chaos(self, **changes: Any) -> Chaos:
        """Change delivery behaviour at runtime, e.g. ``set_chaos(duplicate=True, reorder_batch=3)``."""
        with self.lock:
            self.webhooks.chaos.update(changes)
            return copy.copy(self.webhooks.chaos)

    def inject_fault(
        self, match: str, *, count: int = 1, status: int = 500, mode: FaultMode = "error", hang_s: float = 2.0,
        after_execute: bool = False, should_retry: bool | None = None,
    ) -> FaultRule:
        """Make the next `count` API calls matching `match` ("POST /v1/payment_intents*") fail.

        See `FaultRule` for the modes."""
        rule = FaultRule(match, count, status, mode, hang_s, after_execute, should_retry)
        with self.lock:
            self.faults.arm(rule)
        return rule

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.rules.clear()

    def configure(self, config: Mapping[str, Any]) -> None:
        """Apply the JSON of ``POST /_fake/config``; validates everything before changing anything.

        ``{"webhooks": {"platform": {"url", "secret", "enabled_events"?} | null, "connect": ...},
        "chaos": {...Chaos fields}, "faults": [{...FaultRule fields}], "clear_faults": true,
        "auto_expire_holds": bool}``
        """
        unknown = set(config) - {"webhooks", "chaos", "faults", "clear_faults", "auto_expire_holds"}
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        endpoints: dict[EndpointKind, WebhookEndpoint | None] = {}
        for kind, spec in dict(config.get("webhooks") or {}).items():
            if kind not in ("platform", "connect"):
                raise ValueError(f"webhook endpoints are 'platform' and 'connect', not {kind!r}")
            if spec is None:
                endpoints[kind] = None
            elif not isinstance(spec, Mapping) or not spec.get("url") or not spec.get("secret"):
                raise ValueError(f"the {kind} webhook endpoint needs 'url' and 'secret'")
            else:
                events = tuple(spec.get("enabled_events") or ("*",))
                endpoints[kind] = WebhookEndpoint(str(spec["url"]), str(spec["secret"]), events)
        chaos = copy.copy(self.webhooks.chaos)
        chaos.update(dict(config.get("chaos") or {}))
        rules = [FaultRule.from_json(dict(rule)) for rule in config.get("faults") or []]
        with self.lock:
            self.webhooks.endpoints.update(endpoints)
            self.webhooks.chaos = chaos
            if config.get("clear_faults"):
                self.faults.rules.clear()
            for rule in rules:
                self.faults.arm(rule)
            if "auto_expire_holds" in config:
                self.auto_expire_holds = bool(config["auto_expire_holds"])

    def config_snapshot(self) -> dict[str, Any]:
        """The current configuration, secrets redacted (it is served over HTTP)."""
        with self.lock:
            return {
                "webhooks": {
                    kind: None if endpoint is None else {
                        "url": endpoint.url, "secret": _redact(endpoint.secret),
                        "enabled_events": list(endpoint.enabled_events),
                    }
                    for kind, endpoint in self.webhooks.endpoints.items()
                },
                "chaos": copy.copy(vars(self.webhooks.chaos)),
                "faults": [rule.to_json() for rule in self.faults.rules],
                "auto_expire_holds": self.auto_expire_holds,
            }

    # ---- inspection ---------------------------------------------------------------------------

    def get(self, object_id: str) -> Obj:
        """Any object by id (pi_, ch_, re_, acct_, tr_, fee_, po_, dp_, evt_, txn_ …), as a copy."""
        with self.lock:
            obj = self.store.find(object_id)
            if obj is None:
                raise KeyError(object_id)
            return copy.deepcopy(obj)

    def events(self, event_type: str | None = None) -> list[Obj]:
        """Every event so far, oldest first (optionally one type)."""
        with self.lock:
            return [copy.deepcopy(e) for e in self.store.events if event_type in (None, e["type"])]

    def balance(self, account_id: str | None = None, currency: str = "usd") -> int:
        """Minor units held by the platform (`account_id=None`) or a connected account."""
        return self.store.balance(account_id or PLATFORM, currency)

    def ledger(self, account_id: str | None = None) -> list[Obj]:
        """The balance transactions behind `balance()`, oldest first."""
        with self.lock:
            account = None if account_id in (None, PLATFORM) else account_id
            return [copy.deepcopy(txn) for txn in self.store.ledger if txn["account"] == account]

    @property
    def deliveries(self) -> list[DeliveryAttempt]:
        """Every webhook POST attempted so far, in order."""
        with self.lock:
            return list(self.webhooks.attempts)

    def wait_for_deliveries(self, timeout: float = 5.0, *, include_scheduled: bool = False) -> bool:
        """Block until every delivery due now has been attempted (True) or `timeout` real seconds pass.

        A partly filled reorder batch is released first. Retries and delayed deliveries scheduled for
        a later (virtual) time are not waited for unless `include_scheduled`; a test advances its
        clock past them and waits again.
        """
        return self.webhooks.wait_idle(timeout, include_scheduled=include_scheduled)

    # ---- control (what Stripe or the cardholder would do) -------------------------------------

    def tick(self) -> None:
        """Apply what time alone changes: expired authorizations."""
        if self.auto_expire_holds:
            self.expire_holds()

    def expire_holds(self) -> list[str]:
        """Cancel manual-capture PaymentIntents past `capture_before` (→ charge.expired); their ids."""
        with self.lock, self.store.requested_by(None):
            return self.payments.expire_holds()

    def authenticate_payment(self, payment_intent_id: str, *, succeed: bool = True) -> Obj:
        """Complete (or fail) the 3DS challenge of a PaymentIntent in `requires_action`."""
        with self.lock, self.store.requested_by(None):
            self.payments.authenticate(payment_intent_id, None, succeed=succeed)
            return self.get(payment_intent_id)

    def open_dispute(self, charge_or_payment_intent: str, *, reason: str = "fraudulent",
                     amount: int | None = None) -> Obj:
        with self.lock, self.store.requested_by(None):
            return copy.deepcopy(self.refunds.open_dispute(charge_or_payment_intent, reason=reason, amount=amount))

    def close_dispute(self, dispute_id: str, *, won: bool) -> Obj:
        with self.lock, self.store.requested_by(None):
            return copy.deepcopy(self.refunds.close_dispute(dispute_id, won=won))

    def fail_refund(self, refund_id: str, *, reason: str = "expired_or_canceled_card") -> Obj:
        with self.lock, self.store.requested_by(None):
            return copy.deepcopy(self.refunds.fail_refund(refund_id, reason))

    def complete_onboarding(self, account_id: str) -> Obj:
        """Onboard an account without the browser round trip (seed data)."""
        with self.lock, self.store.requested_by(None):
            return copy.deepcopy(self.connect.complete_onboarding(account_id))

    def set_account_status(self, account_id: str, *, charges_enabled: bool, payouts_enabled: bool,
                           currently_due: list[str] | None = None) -> Obj:
        with self.lock, self.store.requested_by(None):
            return copy.deepcopy(self.connect.set_status(
                account_id, charges_enabled=charges_enabled, payouts_enabled=payouts_enabled,
                currently_due=currently_due,
            ))

    def run_payouts(self, account_id: str) -> list[Obj]:
        """Pay the connected account's balance out to its bank (payout.created, payout.paid)."""
        with self.lock, self.store.requested_by(None):
            return copy.deepcopy(self.connect.run_payouts(account_id))

    def reset(self) -> None:
        """Forget every object, event, key and fault; keep endpoints and chaos settings."""
        with self.lock:
            self.store.reset()
            self.payments.reset()
            self.connect.reset()
            self.webhooks.reset()
            self.idempotency.reset()
            self.faults.rules.clear()


def _redact(secret: str) -> str:
    return f"{secret[:6]}…{secret[-2:]}" if len(secret) > 10 else "…"
