"""Composition root for payments: the real collaborators, built once per warm container from settings.

Every factory takes the (frozen, hashable) settings, so a test that changes the environment and clears
``get_settings`` gets new objects rather than ones bound to the old configuration. Secrets are read
from Secrets Manager once per container and settings; their values never reach a log or a repr.

Stripe's SDK and the data layer (PynamoDB) are imported by the factories that use them, on first use:
a handler's cold start loads only what it needs to parse and route (issue #8).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

from driveway_hub import business_metrics
from driveway_hub.aws import client
from driveway_hub.config import ConfigurationError, Settings
from driveway_hub.payments.payouts import HostPayouts
from driveway_hub.payments.ports import Watch

if TYPE_CHECKING:
    from driveway_hub.data.payments import DynamoHostAccounts, DynamoPaymentRecords
    from driveway_hub.payments.events import PaymentEffects
    from driveway_hub.payments.reconciler import ReconcileReport
    from driveway_hub.payments.stripe_adapter import StripePayments
    from driveway_hub.payments.webhooks import Endpoint, WebhookReceiver


@dataclass(frozen=True)
class StripeSecrets:
    """The Secrets Manager JSON ``{secret_key, publishable_key, webhook_secret, connect_webhook_secret}``."""

    secret_key: str = field(repr=False)
    publishable_key: str
    webhook_secret: str = field(repr=False)
    connect_webhook_secret: str = field(repr=False)


@lru_cache(maxsize=4)
def stripe_secrets(settings: Settings) -> StripeSecrets:
    if not settings.stripe_secret_id:
        raise ConfigurationError("missing configuration: STRIPE_SECRET_ID")
    raw = client("secretsmanager", settings.aws_endpoint_url).get_secret_value(SecretId=settings.stripe_secret_id)
    try:
        value = json.loads(raw["SecretString"])
        return StripeSecrets(str(value["secret_key"]), str(value["publishable_key"]), str(value["webhook_secret"]),
                             str(value["connect_webhook_secret"]))
    except (KeyError, TypeError, ValueError) as exc:
        # Name the secret, never its content.
        raise ConfigurationError(f"secret {settings.stripe_secret_id} is not the expected Stripe JSON") from exc


@lru_cache(maxsize=4)
def stripe_payments(settings: Settings) -> StripePayments:
    """THE adapter for this container (it shares one StripeClient per key and base)."""
    from driveway_hub.payments.stripe_adapter import StripePayments

    secrets = stripe_secrets(settings)
    return StripePayments(secrets.secret_key, secrets.publishable_key, settings.stripe_api_base)


def records(settings: Settings) -> DynamoPaymentRecords:
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.payments import DynamoPaymentRecords

    bind_models(settings)
    return DynamoPaymentRecords()


def host_accounts(settings: Settings) -> DynamoHostAccounts:
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.payments import DynamoHostAccounts

    bind_models(settings)
    return DynamoHostAccounts()


def host_payouts(settings: Settings) -> HostPayouts:
    """For booking creation: ``host_payout_account(host_id)`` without touching Stripe or its secrets."""
    return HostPayouts(host_accounts(settings))


@lru_cache(maxsize=4)
def effects(settings: Settings) -> PaymentEffects:
    # The booking engine's context: its repository, notifier and Step Functions workflow, and its
    # ``observe`` (fact + exactly-once task-token hand-over) for the "payment" step.
    from driveway_hub import booking_runtime
    from driveway_hub.domain.bookings import observe
    from driveway_hub.payments.events import PaymentEffects

    ctx = booking_runtime.context(settings)
    return PaymentEffects(
        stripe=stripe_payments(settings),
        records=records(settings),
        bookings=ctx.bookings,
        observe=partial(observe, ctx),
        notifier=ctx.notifier,
        count=business_metrics.count,
    )


def _platform_apply(settings: Settings, event: dict[str, Any], now: datetime) -> str:
    from driveway_hub.payments.events import handle_event

    return handle_event(effects(settings), event, now)


def _connect_apply(settings: Settings, event: dict[str, Any], now: datetime) -> str:
    from driveway_hub.payments.events import handle_connect_event

    return handle_connect_event(stripe_payments(settings), host_accounts(settings), event, now)


@lru_cache(maxsize=8)
def webhook_receiver(settings: Settings, endpoint: Endpoint) -> WebhookReceiver:
    """The receiver of one endpoint, with that endpoint's own signing secret."""
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.payments import DynamoWebhookEvents
    from driveway_hub.payments.webhooks import WebhookReceiver

    bind_models(settings)
    secrets = stripe_secrets(settings)
    if endpoint == "platform":
        return WebhookReceiver("platform", secrets.webhook_secret, DynamoWebhookEvents(),
                               partial(_platform_apply, settings))
    return WebhookReceiver("connect", secrets.connect_webhook_secret, DynamoWebhookEvents(),
                           partial(_connect_apply, settings))


def recheck_soon(settings: Settings, *, payment_intent_id: str, booking_id: str, now: datetime) -> None:
    """Ask the reconciler to look at a payment on its next run, e.g. after a cancellation whose refund
    could not be made (Stripe down): the booking engine calls this when it leaves a refund "pending"."""
    records(settings).watch(Watch(payment_intent_id, booking_id, int(now.timestamp())))


def run_reconciler(settings: Settings, now: datetime, *, limit: int = 200) -> ReconcileReport:
    """One reconciler run; undelivered events go through the platform endpoint's de-duplication."""
    from driveway_hub.payments.reconciler import reconcile

    receiver = webhook_receiver(settings, "platform")
    return reconcile(effects(settings), now, replay=lambda event: receiver.process(event, now).outcome, limit=limit)
