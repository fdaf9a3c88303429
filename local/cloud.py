"""The local cloud: moto (with Step Functions executing our ASL), the local API Gateway, the fake Stripe
and the Tesla simulator, in one process, wired the way the CDK stacks wire the real thing.

Handlers read their configuration from the process environment exactly as in Lambda; ``LocalCloud``
sets that environment from the resources it created, so the code under test is not aware it is local.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from driveway_hub.config import get_settings
from local.clock import VirtualClock
from local.cognito import LocalIdentity, PreTokenGenerationTrigger, create_identity
from local.fake_stripe import FakeStripe
from local.fake_stripe import run_in_thread as run_stripe
from local.fake_stripe.webhooks import WebhookEndpoint
from local.gateway import Authorizer, LocalGateway
from local.lambda_runtime import LocalLambdaContext, load_handler
from local.moto_backend import MotoCloud
from local.resources import LocalResources, create_resources
from local.tesla_sim import SimConfig, SimUser, TeslaSimulator, VehicleSpec
from local.tesla_sim import run_in_thread as run_tesla

# moto accepts any credentials; real-looking dummies keep botocore's signer happy and can never reach AWS
# because every client is pointed at moto through AWS_ENDPOINT_URL.
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "driveway-hub",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "DrivewayHub",
}


# The local partner API key (API Gateway generates real ones; this one only opens the local gateway).
LOCAL_API_KEY = "local-partner-key"

# The simulated driver's car (a made-up VIN in Tesla's format).
SIM_VIN = "5YJ3E1EA7KF000001"


@dataclass
class Ports:
    rest: int = 8000
    websocket: int = 8001
    stripe: int = 8002
    tesla: int = 8003
    moto: int = 0

    @classmethod
    def ephemeral(cls) -> Ports:
        """Every port chosen by the OS: for tests running beside a `make dev`."""
        return cls(0, 0, 0, 0, 0)


def lambda_authorizer(module: str, stage: str = "local") -> Authorizer:
    """Run our authorizer Lambda the way API Gateway does: a REQUEST authorizer event in, an IAM policy
    out; Allow → the policy's context (what API Gateway puts under requestContext.authorizer), anything
    else (Deny, or the handler raising "Unauthorized") → None, which the gateway answers with 401."""
    from driveway_hub.routes import Route

    # The authorizers are not doors of the route table; CDK declares them the same way (stacks/constants.py).
    route = Route(module.rsplit(".", 1)[-1], "task", module, auth=False)

    def authorize(event: dict[str, Any]) -> dict[str, Any] | None:
        request = event["requestContext"]
        method = request.get("httpMethod") or "GET"
        resource = request.get("resourcePath") or request.get("routeKey") or "/"
        auth_event = {
            "type": "REQUEST",
            "methodArn": f"arn:aws:execute-api:us-east-1:123456789012:{request.get('apiId')}/{request.get('stage')}"
                         f"/{method}{resource if resource.startswith('/') else '/' + resource}",
            "resource": resource,
            "path": event.get("path"),
            "httpMethod": method,
            "headers": event.get("headers") or {},
            "queryStringParameters": event.get("queryStringParameters") or {},
            "requestContext": request,
        }
        try:
            result = load_handler(route)(auth_event, LocalLambdaContext(route.function_name(stage)))
        except Exception:  # noqa: BLE001 - API Gateway turns any authorizer failure into 401
            return None
        statements = (result.get("policyDocument") or {}).get("Statement") or []
        if not statements or any(st.get("Effect") != "Allow" for st in statements):
            return None
        return {"principalId": result.get("principalId"), **(result.get("context") or {})}

    return authorize


@dataclass
class LocalCloud:
    """Start with ``with LocalCloud(...) as cloud:`` or ``start()``/``stop()``."""

    clock: VirtualClock = field(default_factory=VirtualClock.real)
    ports: Ports = field(default_factory=Ports)
    host: str = "127.0.0.1"
    stage: str = "local"
    region: str = "us-east-1"
    rest_authorizer: Authorizer | None = None
    websocket_authorizer: Authorizer | None = None
    tesla: TeslaSimulator | None = None
    identity: LocalIdentity | None = None
    stripe: FakeStripe | None = None
    moto: MotoCloud | None = None
    gateway: LocalGateway | None = None
    resources: LocalResources | None = None
    _saved_env: dict[str, str | None] = field(default_factory=dict)
    _stops: list[Callable[[], None]] = field(default_factory=list)

    def start(self) -> Self:
        self._set_env(DUMMY_AWS_ENV)
        self.moto = MotoCloud(stage=self.stage, region=self.region, host=self.host, port=self.ports.moto,
                              clock=self.clock).start()
        try:
            self.resources = create_resources(self.moto.endpoint_url, stage=self.stage, region=self.region)
            self._set_env(self.resources.handler_env())
            self._set_env(self._cognito_env())
            self.gateway = LocalGateway(
                host=self.host, rest_port=self.ports.rest, websocket_port=self.ports.websocket, stage=self.stage,
                api_keys=frozenset({LOCAL_API_KEY}),
                rest_authorizer=self.rest_authorizer or lambda_authorizer("functions.auth.authorizer"),
                websocket_authorizer=self.websocket_authorizer or lambda_authorizer("functions.auth.ws_authorizer"),
            )
            self.gateway.start()
            self._set_env({"WEBSOCKET_MANAGEMENT_URL": self.gateway.management_url})
            self._start_stripe()
            self._start_tesla()
        except BaseException:
            self.stop()
            raise
        return self

    def _secret(self, name: str) -> dict[str, Any]:
        assert self.resources is not None
        value = self.client("secretsmanager").get_secret_value(SecretId=self.resources.secret_ids[name])
        secret: dict[str, Any] = json.loads(value["SecretString"])
        return secret

    def _cognito_env(self) -> dict[str, str]:
        """The user pool, app client and groups in moto, with our pre-token-generation trigger honoured."""
        assert self.moto is not None
        cognito = self.moto.client("cognito-idp")
        identity = self.identity = create_identity(cognito, stage=self.stage, region=self.region)
        trigger = PreTokenGenerationTrigger(stage=self.stage).install()
        self._stops.append(trigger.uninstall)
        return dict(identity.env_overrides)

    def _start_stripe(self) -> None:
        """The fake Stripe, signing webhooks to our two endpoints with their own secrets, as Stripe does."""
        assert self.gateway is not None
        secret = self._secret("stripe")
        rest = f"{self.gateway.rest_url}/v1"
        self.stripe = FakeStripe(
            now=lambda: self.clock.now().timestamp(), api_key=secret["secret_key"],
            publishable_key=secret["publishable_key"],
            platform_webhook=WebhookEndpoint(f"{rest}/webhooks/stripe", secret["webhook_secret"]),
            connect_webhook=WebhookEndpoint(f"{rest}/webhooks/stripe/connect", secret["connect_webhook_secret"]),
        )
        url, stop = run_stripe(self.stripe, host=self.host, port=self.ports.stripe)
        self.stripe.public_base_url = url
        self._stops.append(stop)
        self._set_env({"STRIPE_API_BASE": url})

    def _start_tesla(self) -> None:
        """The Tesla Fleet API simulator; its cars stream signed telemetry to our relay webhook."""
        assert self.gateway is not None
        app = self._secret("tesla")
        callback = f"{self.gateway.rest_url}/v1/tesla/callback"
        config = SimConfig(
            client_id=app["client_id"], client_secret=app["client_secret"], redirect_uris=(callback,),
            users=(SimUser(email="driver@example.com", user_id="sim-tesla-user-1"),),
            # A car parked downtown Austin, near the seed driveways (local/demo.py).
            vehicles=(VehicleSpec(SIM_VIN, "Roadie", 30.2672, -97.7431),),
        )
        self.tesla = TeslaSimulator(config, now=lambda: self.clock.now().timestamp())
        url, stop = run_tesla(self.tesla, host=self.host, port=self.ports.tesla)
        self._stops.append(stop)
        self._set_env({"TESLA_API_BASE": url, "TESLA_AUTH_BASE": url, "TESLA_REDIRECT_URI": callback,
                       "TESLA_PARTNER_DOMAIN": "driveway-hub.local", "TESLA_PAIRING_BASE": f"{url}/_ak"})
        telemetry = self._secret("telemetry")
        self.tesla.stream_telemetry_to(f"{self.gateway.rest_url}/v1/webhooks/tesla/telemetry",
                                       str(telemetry["hmac_secret"]).encode(), interval_s=5)

    def stop(self) -> None:
        for stop in reversed(self._stops):
            stop()
        self._stops.clear()
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        get_settings.cache_clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        # Settings are read once per process (as in a warm Lambda); the environment just changed.
        get_settings.cache_clear()

    @property
    def urls(self) -> dict[str, Any]:
        assert self.gateway is not None and self.moto is not None
        return {
            "rest": f"{self.gateway.rest_url}/v1",
            "websocket": self.gateway.websocket_url,
            "api_key": LOCAL_API_KEY,
            "stripe": os.environ.get("STRIPE_API_BASE"),
            "tesla": os.environ.get("TESLA_API_BASE"),
            "moto": self.moto.endpoint_url,
        }

    def client(self, service: str) -> Any:
        """A boto3 client on the local cloud's moto (for tests and tools)."""
        assert self.moto is not None
        return self.moto.client(service)
