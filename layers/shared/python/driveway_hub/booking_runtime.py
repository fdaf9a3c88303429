"""Composition root for booking handlers and workflow tasks: the real collaborators, built once per
warm container from settings (tests build BookingContext with fakes instead).

The data layer (PynamoDB) is imported by the factories that build it, on first use, not with this
module: a handler's cold start loads only what parsing and routing need (issue #8).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from driveway_hub import business_metrics
from driveway_hub.adapters.notifier import NotifierPort, WebSocketNotifier
from driveway_hub.adapters.workflow import StepFunctionsWorkflow
from driveway_hub.config import ConfigurationError, Settings
from driveway_hub.domain.bookings import BookingContext, Caller, DrivewayTerms
from driveway_hub.errors import NotFound
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
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.bookings import BookingRepository

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
        count=business_metrics.count,
    )


def payments(settings: Settings) -> Any:
    """The Stripe adapter (one StripeClient per container), from the payments package's composition root."""
    from driveway_hub.payments.runtime import stripe_payments

    return stripe_payments(settings)


def payment_watch(settings: Settings, now: datetime) -> Callable[[str, str], None]:
    """``watch_payment`` for cancel_booking: the payment reconciler checks the PaymentIntent on its next run."""
    from driveway_hub.payments.runtime import recheck_soon

    def watch(payment_intent_id: str, booking_id: str) -> None:
        recheck_soon(settings, payment_intent_id=payment_intent_id, booking_id=booking_id, now=now)

    return watch


def payouts(settings: Settings) -> Any:
    from driveway_hub.payments.runtime import host_payouts

    return host_payouts(settings)


class DrivewayCatalogAdapter:
    """Booking's view of a listing, read from the driveway store (strongly consistent: prices matter)."""

    def __init__(self, store: Any):
        self._store = store

    def terms(self, driveway_id: str) -> DrivewayTerms:
        driveway = self._store.get(driveway_id)
        if driveway is None:
            raise NotFound(f"driveway {driveway_id} not found")
        address = driveway.address
        return DrivewayTerms(
            driveway_id=driveway.driveway_id, host_id=driveway.host_id, active=driveway.is_active,
            timezone=driveway.timezone, weekly=driveway.weekly,
            blackouts=[b.interval for b in driveway.blackouts], rates=driveway.rates,
            instant_book=driveway.instant_book, title=driveway.title,
            address_text=", ".join(p for p in (address.line1, address.city, address.region, address.postal_code,
                                               address.country) if p),
            lat=driveway.lat, lng=driveway.lng,
        )


@lru_cache(maxsize=4)
def catalog(settings: Settings) -> DrivewayCatalogAdapter:
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.driveways import DynamoDrivewayStore

    bind_models(settings)
    return DrivewayCatalogAdapter(DynamoDrivewayStore())


def vin_for(settings: Settings, user_id: str, vehicle_id: str | None) -> str | None:
    """The VIN of the caller's own vehicle (telemetry finds the booking by VIN); unknown → 404."""
    if vehicle_id is None:
        return None
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.vehicles import VehicleRepository

    bind_models(settings)
    vehicle = VehicleRepository().get(user_id, vehicle_id)
    if vehicle is None:
        raise NotFound(f"vehicle {vehicle_id} not found", code="vehicle_not_found")
    return str(vehicle.vin)


def caller_of(principal: Any) -> Caller:
    return Caller(principal.user_id, is_admin=principal.is_admin)


def tesla_commands(settings: Settings) -> Any:
    """The Tesla side of the lifecycle tasks (navigate_to_driveway, request_parking)."""
    from driveway_hub.tesla.runtime import tesla_commands as commands

    return commands(settings)
