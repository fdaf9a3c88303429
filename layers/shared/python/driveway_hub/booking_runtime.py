"""Composition root for booking handlers and workflow tasks: the real collaborators, built once per
warm container from settings (tests build BookingContext with fakes instead)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from driveway_hub.adapters.notifier import NotifierPort, WebSocketNotifier
from driveway_hub.adapters.workflow import StepFunctionsWorkflow
from driveway_hub.aws import client
from driveway_hub.config import ConfigurationError, Settings
from driveway_hub.data.base import bind_models
from driveway_hub.data.bookings import BookingRepository
from driveway_hub.domain.bookings import BookingContext, Caller
from driveway_hub.observability import logger


class LoggingNotifier:
    """Used only when no WebSocket endpoint is configured: says so instead of silently dropping."""

    def publish(self, user_ids: Any, event: dict[str, Any]) -> int:
        logger.warning("live event not sent: WEBSOCKET_MANAGEMENT_URL is not set", extra={"type": event.get("type")})
        return 0


def notifier(settings: Settings) -> NotifierPort:
    if settings.websocket_management_url:
        return WebSocketNotifier(settings.websocket_management_url)
    return LoggingNotifier()


@lru_cache(maxsize=4)
def context(settings: Settings) -> BookingContext:
    bind_models(settings)
    if not settings.state_machine_arn:
        raise ConfigurationError("missing configuration: STATE_MACHINE_ARN")
    return BookingContext(
        bookings=BookingRepository(settings.region, settings.aws_endpoint_url),
        notifier=notifier(settings),
        workflow=StepFunctionsWorkflow(settings.state_machine_arn),
        platform_fee_bps=settings.platform_fee_bps,
        timing={
            "payment_timeout_s": settings.payment_timeout_s,
            "approval_timeout_s": settings.approval_timeout_s,
            "navigation_lead_s": settings.navigation_lead_s,
            "arrival_grace_s": settings.arrival_grace_s,
            "overstay_grace_s": settings.overstay_grace_s,
        },
    )


@lru_cache(maxsize=4)
def stripe_secret(settings: Settings) -> dict[str, str]:
    if not settings.stripe_secret_id:
        raise ConfigurationError("missing configuration: STRIPE_SECRET_ID")
    value = client("secretsmanager").get_secret_value(SecretId=settings.stripe_secret_id)["SecretString"]
    secret: dict[str, str] = json.loads(value)
    return secret


@lru_cache(maxsize=4)
def payments(settings: Settings) -> Any:
    from driveway_hub.payments.stripe_adapter import StripePayments

    secret = stripe_secret(settings)
    return StripePayments(secret["secret_key"], secret["publishable_key"], settings.stripe_api_base)


def caller_of(principal: Any) -> Caller:
    return Caller(principal.user_id, is_admin=principal.is_admin)
