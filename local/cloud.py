"""The local cloud: moto (with Step Functions executing our ASL), the local API Gateway, the fake Stripe
and the Tesla simulator, in one process, wired the way the CDK stacks wire the real thing.

Handlers read their configuration from the process environment exactly as in Lambda; ``LocalCloud``
sets that environment from the resources it created, so the code under test is not aware it is local.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Self

from driveway_hub.config import get_settings
from local.clock import VirtualClock
from local.gateway import Authorizer, LocalGateway
from local.moto_backend import MotoCloud
from local.resources import LocalResources, create_resources

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
    moto: MotoCloud | None = None
    gateway: LocalGateway | None = None
    resources: LocalResources | None = None
    _saved_env: dict[str, str | None] = field(default_factory=dict)

    def start(self) -> Self:
        self._set_env(DUMMY_AWS_ENV)
        self.moto = MotoCloud(stage=self.stage, region=self.region, host=self.host, port=self.ports.moto,
                              clock=self.clock).start()
        try:
            self.resources = create_resources(self.moto.endpoint_url, stage=self.stage, region=self.region)
            self.gateway = LocalGateway(
                host=self.host, rest_port=self.ports.rest, websocket_port=self.ports.websocket,
                stage=self.stage, rest_authorizer=self.rest_authorizer,
                websocket_authorizer=self.websocket_authorizer,
            )
            self.gateway.start()
            self._set_env(self.resources.handler_env())
            self._set_env({"WEBSOCKET_MANAGEMENT_URL": self.gateway.management_url})
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
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
            "moto": self.moto.endpoint_url,
        }

    def client(self, service: str) -> Any:
        """A boto3 client on the local cloud's moto (for tests and tools)."""
        assert self.moto is not None
        return self.moto.client(service)
