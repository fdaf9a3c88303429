"""Wiring: the real collaborators for the auth handlers, built from settings once per warm container.

Every factory takes the settings (frozen, hashable) so a test that changes the environment and clears
``get_settings`` gets new services rather than ones bound to the old configuration.

Clock: identity times (``revoked_before``, the sign-in lockout window, token checks) use the wall clock,
because Cognito stamps ``iat``/``exp`` with it. The local cloud's controllable clock
(``driveway_hub.clock``) may run hours ahead in a test; measured against it every token would look
expired, and a logout would refuse every token issued afterwards.

PyJWT (with cryptography) and the data layer (PynamoDB) are imported by the factories that use them, on
first use: a handler's cold start loads only what it needs to parse and route (issue #8).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import TYPE_CHECKING

from driveway_hub.auth.accounts import AccountService
from driveway_hub.auth.identity import AUTO_CONFIRM_STAGES, LOG_RESET_CODE_STAGES, CognitoIdentityProvider
from driveway_hub.auth.privacy import PersonalDataStore, PrivacyService
from driveway_hub.aws import client
from driveway_hub.config import ConfigurationError, Settings

if TYPE_CHECKING:
    from driveway_hub.auth.tokens import Authenticator, TokenIssuer
    from driveway_hub.data.users import DynamoUserRepository


def wall_clock() -> datetime:
    return datetime.now(UTC)


def _required(value: str | None, env_var: str) -> str:
    if not value:
        raise ConfigurationError(f"missing configuration: {env_var}")
    return value


def token_issuer(settings: Settings) -> TokenIssuer:
    from driveway_hub.auth.tokens import TokenIssuer

    pool = _required(settings.user_pool_id, "USER_POOL_ID")
    client_id = _required(settings.user_pool_client_id, "USER_POOL_CLIENT_ID")
    return TokenIssuer.for_user_pool(
        settings.region, pool, client_id,
        endpoint_url=settings.aws_endpoint_url,
        # Optional overrides (COGNITO_ISSUER / COGNITO_JWKS_URL) once config.py declares them; until then
        # the issuer follows the pool and the JWKS URL the endpoint, which is right for AWS and moto.
        issuer=getattr(settings, "cognito_issuer", None),
        jwks_url=getattr(settings, "cognito_jwks_url", None),
    )


@lru_cache(maxsize=4)
def identity_provider(settings: Settings) -> CognitoIdentityProvider:
    return CognitoIdentityProvider(
        client("cognito-idp", settings.aws_endpoint_url),
        _required(settings.user_pool_id, "USER_POOL_ID"),
        _required(settings.user_pool_client_id, "USER_POOL_CLIENT_ID"),
        log_reset_codes=settings.stage in LOG_RESET_CODE_STAGES,
    )


def users(settings: Settings) -> DynamoUserRepository:
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.users import DynamoUserRepository

    bind_models(settings)
    return DynamoUserRepository()


def account_service(settings: Settings) -> AccountService:
    return AccountService(
        identity=identity_provider(settings),
        users=users(settings),
        clock=wall_clock,
        auto_confirm=settings.stage in AUTO_CONFIRM_STAGES,
    )


def authenticator(settings: Settings) -> Authenticator:
    from driveway_hub.auth.tokens import AccessTokenVerifier, Authenticator, jwks_client

    issuer = token_issuer(settings)
    return Authenticator(AccessTokenVerifier(issuer, jwks_client(issuer.jwks_url)), users(settings))


def personal_data_stores(settings: Settings) -> list[PersonalDataStore]:
    """Every store of personal data besides the profile and Cognito (driveway_hub.auth.privacy).

    Features that keep personal data add theirs here, and list their tables (and uses) on the
    ``me_export`` and ``me_delete`` routes.
    """
    from driveway_hub import booking_runtime
    from driveway_hub.booking_privacy import BookingPersonalData
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.driveways import DrivewayPersonalData, DynamoDrivewayStore
    from driveway_hub.tesla.privacy import TeslaPersonalData
    from functions.driveways.runtime import photos

    bind_models(settings)
    stores: list[PersonalDataStore] = [
        TeslaPersonalData(), DrivewayPersonalData(DynamoDrivewayStore(), photos(settings)),
    ]
    if settings.state_machine_arn:
        stores.append(BookingPersonalData(booking_runtime.context(settings), booking_runtime.payments(settings),
                                          partial(booking_runtime.payment_watch, settings)))
    return stores


def privacy_service(settings: Settings) -> PrivacyService:
    return PrivacyService(
        users=users(settings),
        identity=identity_provider(settings),
        stores=personal_data_stores(settings),
        clock=wall_clock,
    )
