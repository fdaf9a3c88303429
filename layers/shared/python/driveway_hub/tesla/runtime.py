"""Wiring: the real collaborators of the Tesla domain, built from settings.

Handlers call these factories per invocation; what is expensive (the HTTP session, boto3 clients,
secrets) is cached per warm container. Every AWS client is created with ``settings.aws_endpoint_url``
so a test or the local cloud that changes the endpoint gets clients for the new one.

The collaborators' modules (requests, the Fleet API client, the data layer on PynamoDB, telemetry) are
imported by the factories that build them, on first use: a handler's cold start loads only what it
needs to parse and route (issue #8).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from driveway_hub import business_metrics
from driveway_hub.adapters.notifier import NotifierPort
from driveway_hub.adapters.workflow import StepFunctionsWorkflow
from driveway_hub.aws import client
from driveway_hub.clock import utcnow
from driveway_hub.config import ConfigurationError, Settings
from driveway_hub.domain.bookings import BookingContext, observe
from driveway_hub.tesla.oauth_state import derive_state_key

if TYPE_CHECKING:
    from driveway_hub.data.bookings import BookingRepository
    from driveway_hub.data.vehicles import DrivewayPlaces
    from driveway_hub.tesla.fleet_client import HttpResponse, TeslaApp, TeslaFleetClient, TeslaOAuthClient
    from driveway_hub.tesla.linking import LinkingService
    from driveway_hub.tesla.parking import ParkingPort
    from driveway_hub.tesla.telemetry import MilestoneObserver, TelemetryIngest
    from driveway_hub.tesla.token_store import DynamoTokenStore
    from driveway_hub.tesla.vehicles import VehicleService

SECRET_TTL_S = 300
_secrets: dict[tuple[str, str | None], tuple[float, dict[str, Any]]] = {}
_secrets_lock = threading.Lock()


def _required(value: str | None, env_var: str) -> str:
    if not value:
        raise ConfigurationError(f"missing configuration: {env_var}")
    return value


def secret_json(settings: Settings, secret_id: str) -> dict[str, Any]:
    """A JSON secret, cached for ``SECRET_TTL_S`` (a rotation is picked up within minutes)."""
    key = (secret_id, settings.aws_endpoint_url)
    with _secrets_lock:
        hit = _secrets.get(key)
        if hit is not None and time.monotonic() - hit[0] < SECRET_TTL_S:
            return hit[1]
    raw = client("secretsmanager", settings.aws_endpoint_url).get_secret_value(SecretId=secret_id)["SecretString"]
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ConfigurationError(f"secret {secret_id} is not a JSON object")
    with _secrets_lock:
        _secrets[key] = (time.monotonic(), value)
    return value


def tesla_app(settings: Settings) -> TeslaApp:
    from driveway_hub.tesla.fleet_client import TeslaApp

    secret = secret_json(settings, _required(settings.tesla_secret_id, "TESLA_SECRET_ID"))
    return TeslaApp(str(secret["client_id"]), str(secret["client_secret"]))


def oauth_state_key(settings: Settings) -> bytes:
    secret = secret_json(settings, _required(settings.tesla_secret_id, "TESLA_SECRET_ID"))
    explicit = secret.get("oauth_state_key")
    return str(explicit).encode() if explicit else derive_state_key(str(secret["client_secret"]))


def telemetry_secrets(settings: Settings) -> list[bytes]:
    """The relay HMAC secret, and the previous one while it is being rotated."""
    secret = secret_json(settings, _required(settings.telemetry_secret_id, "TELEMETRY_SECRET_ID"))
    return [str(secret[k]).encode() for k in ("hmac_secret", "previous_hmac_secret") if secret.get(k)]


class RequestsHttp:
    """``HttpSession`` over one ``requests.Session``: TLS connections to Tesla are reused across
    invocations of a warm container."""

    def __init__(self) -> None:
        import requests

        self._session = requests.Session()
        self._session.headers["User-Agent"] = "driveway-hub"

    def request(self, method: str, url: str, **kwargs: Any) -> HttpResponse:
        response: HttpResponse = self._session.request(method, url, **kwargs)
        return response


@lru_cache(maxsize=1)
def http_session() -> RequestsHttp:
    return RequestsHttp()


def api_base(settings: Settings) -> str:
    from driveway_hub.tesla.fleet_client import DEFAULT_FLEET_API_BASE

    return (settings.tesla_api_base or DEFAULT_FLEET_API_BASE).rstrip("/")


def oauth_client(settings: Settings) -> TeslaOAuthClient:
    from driveway_hub.tesla.fleet_client import DEFAULT_AUTHORIZE_URL, DEFAULT_TOKEN_URL, TeslaOAuthClient

    base = settings.tesla_auth_base.rstrip("/") if settings.tesla_auth_base else None
    return TeslaOAuthClient(
        tesla_app(settings), http_session(),
        authorize_url=f"{base}/oauth2/v3/authorize" if base else DEFAULT_AUTHORIZE_URL,
        token_url=f"{base}/oauth2/v3/token" if base else DEFAULT_TOKEN_URL, count=business_metrics.count,
    )


def token_store(settings: Settings) -> DynamoTokenStore:
    from driveway_hub.data.base import bind_models
    from driveway_hub.tesla.token_store import DynamoTokenStore, KmsTokenCipher

    bind_models(settings)
    return DynamoTokenStore(KmsTokenCipher(client("kms", settings.aws_endpoint_url), settings.tesla_token_key_id))


def pairing_link(settings: Settings) -> str | None:
    from driveway_hub.tesla.linking import pairing_url

    return pairing_url(settings.tesla_partner_domain, settings.tesla_pairing_base)


def fleet_client(settings: Settings, user_id: str) -> TeslaFleetClient:
    from driveway_hub.data.vehicles import set_profile_tesla_linked
    from driveway_hub.tesla.fleet_client import TeslaFleetClient

    def unlinked(uid: str) -> None:
        set_profile_tesla_linked(uid, False)

    return TeslaFleetClient(
        user_id, store=token_store(settings), oauth=oauth_client(settings), http=http_session(), clock=utcnow,
        default_api_base=api_base(settings), command_base=settings.tesla_command_base,
        pairing_url=pairing_link(settings), on_unlinked=unlinked, count=business_metrics.count,
    )


@lru_cache(maxsize=4)
def bookings(settings: Settings) -> BookingRepository:
    # Cached: its connection creates a botocore client on first use (tens of ms), once per container.
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.bookings import BookingRepository

    bind_models(settings)
    return BookingRepository(settings.region, settings.aws_endpoint_url)


def workflow(settings: Settings) -> StepFunctionsWorkflow:
    # Resuming needs only the token; the machine's ARN is for starting executions.
    return StepFunctionsWorkflow(settings.state_machine_arn or "")


def notifier(settings: Settings) -> NotifierPort:
    from driveway_hub import booking_runtime  # the one notifier factory (and its "not configured" stand-in)
    from driveway_hub.data.base import bind_models

    bind_models(settings)
    return booking_runtime.notifier(settings)


def places(settings: Settings) -> DrivewayPlaces:
    from driveway_hub.data.vehicles import DrivewayPlaces

    return DrivewayPlaces(client("dynamodb", settings.aws_endpoint_url), settings.tables.driveways)


def parking_adapter(settings: Settings) -> ParkingPort:
    from driveway_hub.tesla.parking import SimulatorParkingAdapter, TeslaParkingAdapter

    if settings.tesla_parking_adapter == "simulator":
        return SimulatorParkingAdapter(api_base(settings), http_session())
    return TeslaParkingAdapter()


def milestone_observer(settings: Settings) -> MilestoneObserver:
    """The bookings' facts protocol (domain.bookings.observe): record the fact, resume at most once."""
    context = BookingContext(bookings=bookings(settings), notifier=notifier(settings), workflow=workflow(settings))

    def observe_milestone(booking_id: str, waiting_for: str, fact: dict[str, Any]) -> bool:
        return observe(context, booking_id, waiting_for, fact)

    return observe_milestone


def telemetry_ingest(settings: Settings) -> TelemetryIngest:
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.vehicles import DynamoPositionStore, DynamoTrackStore
    from driveway_hub.tesla.telemetry import TelemetryIngest

    bind_models(settings)
    return TelemetryIngest(
        positions=DynamoPositionStore(), tracks=DynamoTrackStore(), bookings=bookings(settings),
        places=places(settings), observe=milestone_observer(settings), notifier=notifier(settings),
        milliseconds=business_metrics.milliseconds,
    )


def vehicle_service(settings: Settings) -> VehicleService:
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.vehicles import DynamoPositionStore, DynamoTrackStore, VehicleRepository
    from driveway_hub.tesla.vehicles import VehicleService

    bind_models(settings)
    store = token_store(settings)
    return VehicleService(
        vehicles=VehicleRepository(), bookings=bookings(settings), places=places(settings),
        positions=DynamoPositionStore(), tracks=DynamoTrackStore(),
        fleet_for=lambda user_id: fleet_client(settings, user_id), notifier=notifier(settings),
        parking=parking_adapter(settings), clock=utcnow, pairing_url=pairing_link(settings),
        linked=store.is_linked,
    )


def tesla_commands(settings: Settings) -> VehicleService:
    """For the lifecycle tasks: ``navigate_to_driveway(booking)`` and ``request_parking(booking)``."""
    return vehicle_service(settings)


def linking_service(settings: Settings) -> LinkingService:
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.vehicles import VehicleRepository, set_profile_tesla_linked
    from driveway_hub.tesla.linking import LinkingService
    from driveway_hub.tesla.vehicles import sync_vehicles

    bind_models(settings)
    link = pairing_link(settings)
    repository = VehicleRepository()

    def sync(fleet: TeslaFleetClient, user_id: str, now: datetime) -> list[dict[str, Any]]:
        return sync_vehicles(fleet, repository, user_id, now, link)

    return LinkingService(
        store=token_store(settings), oauth=oauth_client(settings), state_key=oauth_state_key(settings),
        redirect_uri=_required(settings.tesla_redirect_uri, "TESLA_REDIRECT_URI"), audience=api_base(settings),
        fleet_for=lambda user_id: fleet_client(settings, user_id), sync_vehicles=sync,
        set_profile_linked=set_profile_tesla_linked, clock=utcnow, pairing_url=link,
    )
