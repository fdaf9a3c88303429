"""Configuration, read once from the environment into a validated model.

CDK sets these variables on every function; the local cloud sets them for its in-process handlers.
A missing required value raises ``ConfigurationError`` naming every missing variable at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, ValidationError

from driveway_hub.data.tables import TABLES

STAGES = ("local", "dev", "staging", "prod")


class ConfigurationError(RuntimeError):
    """Raised when required configuration is missing or invalid."""


class TableNames(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    users: str
    driveways: str
    bookings: str
    calendars: str
    booking_history: str
    payments: str
    vehicles: str
    tesla_accounts: str
    connections: str
    subscriptions: str
    webhook_events: str
    idempotency: str
    positions: str


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: str
    region: str
    version: str = "0.1.0"
    tables: TableNames
    # Endpoints: None means "the real service". The local cloud points them at itself.
    aws_endpoint_url: str | None = None
    websocket_management_url: str | None = None
    stripe_api_base: str | None = None
    tesla_api_base: str | None = None
    tesla_auth_base: str | None = None
    # Tesla (issue #6): tesla-http-proxy base for signed commands (None: commands go to the Fleet API),
    # the registered OAuth redirect URI, the partner domain (pairing link https://tesla.com/_ak/<domain>),
    # the pairing page base (local: the simulator's), the public key served at /.well-known, and the
    # parking adapter ("tesla": driver-guided, honest; "simulator": the local simulator parks itself).
    tesla_command_base: str | None = None
    tesla_redirect_uri: str | None = None
    tesla_partner_domain: str | None = None
    tesla_pairing_base: str | None = None
    tesla_public_key_pem: str | None = None
    tesla_parking_adapter: str | None = None
    # Resource ids, filled in by CDK when the resource exists.
    state_machine_arn: str | None = None
    user_pool_id: str | None = None
    user_pool_client_id: str | None = None
    # Overrides for token verification; by default both follow the pool (and moto's JWKS URL locally).
    cognito_issuer: str | None = None
    cognito_jwks_url: str | None = None
    photo_bucket: str | None = None
    tesla_token_key_id: str | None = None
    # Booking policy and lifecycle timing (seconds; Step Functions waits are computed from these).
    platform_fee_bps: int = 1_500
    payment_timeout_s: int = 900
    approval_timeout_s: int = 12 * 3600
    navigation_lead_s: int = 30 * 60
    arrival_grace_s: int = 30 * 60
    overstay_grace_s: int = 15 * 60
    # Secrets Manager ids (values are never in configuration).
    stripe_secret_id: str | None = None
    tesla_secret_id: str | None = None
    telemetry_secret_id: str | None = None
    # Payments (issue #5): where Stripe's hosted Connect onboarding sends the host back (return) or
    # asks the app for a fresh single-use link (refresh). App pages, never taken from the request.
    payouts_return_url: str = "https://app.driveway-hub.example/payouts/return"
    payouts_refresh_url: str = "https://app.driveway-hub.example/payouts/refresh"


# Settings field -> environment variable, for the flat fields.
_ENV = {
    "stage": "STAGE",
    "region": "AWS_REGION",
    "version": "APP_VERSION",
    "aws_endpoint_url": "AWS_ENDPOINT_URL",
    "websocket_management_url": "WEBSOCKET_MANAGEMENT_URL",
    "stripe_api_base": "STRIPE_API_BASE",
    "tesla_api_base": "TESLA_API_BASE",
    "tesla_auth_base": "TESLA_AUTH_BASE",
    "tesla_command_base": "TESLA_COMMAND_BASE",
    "tesla_redirect_uri": "TESLA_REDIRECT_URI",
    "tesla_partner_domain": "TESLA_PARTNER_DOMAIN",
    "tesla_pairing_base": "TESLA_PAIRING_BASE",
    "tesla_public_key_pem": "TESLA_PUBLIC_KEY_PEM",
    "tesla_parking_adapter": "TESLA_PARKING_ADAPTER",
    "state_machine_arn": "STATE_MACHINE_ARN",
    "user_pool_id": "USER_POOL_ID",
    "user_pool_client_id": "USER_POOL_CLIENT_ID",
    "cognito_issuer": "COGNITO_ISSUER",
    "cognito_jwks_url": "COGNITO_JWKS_URL",
    "photo_bucket": "PHOTO_BUCKET",
    "tesla_token_key_id": "TESLA_TOKEN_KEY_ID",
    "stripe_secret_id": "STRIPE_SECRET_ID",
    "tesla_secret_id": "TESLA_SECRET_ID",
    "telemetry_secret_id": "TELEMETRY_SECRET_ID",
    "platform_fee_bps": "PLATFORM_FEE_BPS",
    "payment_timeout_s": "PAYMENT_TIMEOUT_S",
    "approval_timeout_s": "APPROVAL_TIMEOUT_S",
    "navigation_lead_s": "NAVIGATION_LEAD_S",
    "arrival_grace_s": "ARRIVAL_GRACE_S",
    "overstay_grace_s": "OVERSTAY_GRACE_S",
    "payouts_return_url": "PAYOUTS_RETURN_URL",
    "payouts_refresh_url": "PAYOUTS_REFRESH_URL",
}
_REQUIRED = ("stage", "region")


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Build settings from an environment mapping; raise ConfigurationError naming what is missing."""
    missing = [_ENV[f] for f in _REQUIRED if not env.get(_ENV[f])]
    missing += [t.env_var for t in TABLES if not env.get(t.env_var)]
    if missing:
        raise ConfigurationError(f"missing configuration: {', '.join(sorted(missing))}")
    values: dict[str, object] = {f: env[var] for f, var in _ENV.items() if env.get(var)}
    values["tables"] = {t.logical_id: env[t.env_var] for t in TABLES}
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid configuration: {exc}") from exc
    if settings.stage not in STAGES:
        raise ConfigurationError(f"invalid configuration: STAGE must be one of {', '.join(STAGES)}")
    return settings


def env_for(stage: str, region: str = "us-east-1", **overrides: str) -> dict[str, str]:
    """The environment a function gets for a stage with default resource names (CDK and local cloud)."""
    # We use no pydantic plugin; without this pydantic scans every installed distribution's entry
    # points for one when the first model is built, at every cold start (issue #8).
    env = {"STAGE": stage, "AWS_REGION": region, "PYDANTIC_DISABLE_PLUGINS": "__all__"}
    env.update({t.env_var: t.default_name(stage) for t in TABLES})
    env.update(overrides)
    return env


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once. Tests call ``get_settings.cache_clear()`` after changing env."""
    return settings_from_env(os.environ)
