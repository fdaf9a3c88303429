"""Fakes and fixtures shared by the Tesla unit tests (imported by the other test_tesla_* modules), and the
tests that keep the fakes honest about the Fleet API rules they stand in for (research/tesla.md).

- ``aws_environment``: moto in-process (``mock_aws``) with every table, the token KMS key and the secrets, the
  environment set and the models bound: the real repositories run, no network.
- ``FakeTesla``: the Fleet API and OAuth over a fake HTTP session: rotating refresh tokens (a spent one is
  ``login_required``), bodyless 401 for a bad access token, 421 for the wrong region, canned faults.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from moto import mock_aws

from driveway_hub.config import Settings, env_for, get_settings
from driveway_hub.data.base import bind_models
from local.resources import create_secrets, create_tables, create_tesla_token_key

NA_BASE = "https://fleet-api.prd.na.vn.cloud.tesla.com"
EU_BASE = "https://fleet-api.prd.eu.vn.cloud.tesla.com"
TOKEN_URL = "https://fleet-auth.prd.vn.cloud.tesla.com/oauth2/v3/token"
PROXY_BASE = "https://tesla-proxy.internal:4443"  # tesla-http-proxy: no region check
VIN = "5YJ3E1EA7KF000001"
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@functools.cache
def aws_client(service: str) -> Any:
    """One boto3 client per service for all the tests: creating clients is most of moto's set-up time.
    Created inside the first ``mock_aws``; moto's fake credentials are the same for every later one."""
    return boto3.client(service, region_name="us-east-1")


@dataclass
class AwsEnv:
    settings: Settings
    key_arn: str


@contextlib.contextmanager
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsEnv]:
    """Each test module wraps this in its own ``aws`` fixture (a fixture imported by name would shadow)."""
    with mock_aws():
        region = "us-east-1"
        create_tables(aws_client("dynamodb"), "local")
        key_arn, _alias = create_tesla_token_key(aws_client("kms"), "local")
        secrets = create_secrets(aws_client("secretsmanager"), "local")
        env = env_for("local", region, TESLA_TOKEN_KEY_ID=key_arn, TESLA_SECRET_ID=secrets["tesla"],
                      TELEMETRY_SECRET_ID=secrets["telemetry"], TESLA_API_BASE=NA_BASE,
                      TESLA_REDIRECT_URI="https://api.example.com/v1/tesla/callback",
                      TESLA_PARTNER_DOMAIN="driveway-hub.example.com")
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        monkeypatch.setenv("AWS_DEFAULT_REGION", region)  # what boto3 reads (Lambda sets both)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        settings = get_settings()
        bind_models(settings)
        from driveway_hub.tesla import runtime

        runtime._secrets.clear()
        yield AwsEnv(settings, key_arn)
        runtime._secrets.clear()
    get_settings.cache_clear()


# === a fake Tesla over HTTP =========================================================================


@dataclass
class FakeResponse:
    status_code: int
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.content)


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> FakeResponse:
    return FakeResponse(status, b"" if body is None else json.dumps(body).encode(), headers or {})


def fleet_error(status: int, error: str, headers: dict[str, str] | None = None) -> FakeResponse:
    return answer(status, {"response": None, "error": error, "error_description": ""}, headers)


@dataclass
class Sent:
    method: str
    url: str
    token: str | None
    kwargs: dict[str, Any]

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


class FakeTesla:
    """``HttpSession`` for the Tesla client: OAuth rotation, regions and canned faults."""

    def __init__(self, *, region_base: str = NA_BASE, vehicles: list[dict[str, Any]] | None = None) -> None:
        self.region_base = region_base
        self.sent: list[Sent] = []
        self.refresh_calls = 0
        self._n = 0
        self._access: set[str] = set()
        self._refresh: dict[str, str] = {}  # refresh token -> the access token issued with it
        self._faults: list[tuple[str, FakeResponse]] = []
        self.refresh_gate: threading.Event | None = None  # when set, a refresh blocks until it is set
        self.refresh_entered = threading.Event()
        self.vehicles = vehicles if vehicles is not None else [
            {"id": 100021, "vehicle_id": 9001, "vin": VIN, "display_name": "Roadie", "state": "online"}
        ]
        self.paired: set[str] = {VIN}
        self.lock = threading.Lock()

    # ---- set-up and inspection -------------------------------------------------------------------
    def issue(self) -> tuple[str, str]:
        with self.lock:
            self._n += 1
            access, refresh = f"at-{self._n}", f"rt-{self._n}"
            self._access.add(access)
            self._refresh[refresh] = access
            return access, refresh

    def expire_access_tokens(self) -> None:
        self._access.clear()

    def fail_next(self, path_suffix: str, response: FakeResponse) -> None:
        self._faults.append((path_suffix, response))

    def api_calls(self) -> list[Sent]:
        return [s for s in self.sent if "/api/1/" in s.url]

    # ---- HttpSession -----------------------------------------------------------------------------
    def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
        token = (kwargs.get("headers") or {}).get("Authorization", "").removeprefix("Bearer ") or None
        self.sent.append(Sent(method, url, token, kwargs))
        if url.endswith("/oauth2/v3/token"):
            return self._token(kwargs.get("data") or {})
        for i, (suffix, response) in enumerate(self._faults):
            if urlsplit(url).path.endswith(suffix):
                del self._faults[i]
                return response
        if token not in self._access:
            return FakeResponse(401)  # Tesla: no body for a bad or expired access token
        path = urlsplit(url).path
        if path.endswith("/users/region"):
            return answer(200, {"response": {"region": "na" if self.region_base == NA_BASE else "eu",
                                             "fleet_api_base_url": self.region_base}})
        if not url.startswith((self.region_base, PROXY_BASE)):
            return fleet_error(421, f"user out of region, use base URL: {self.region_base}, see https://developer.tesla.com")
        return self._fleet(method, path, kwargs)

    def _token(self, form: dict[str, str]) -> FakeResponse:
        if form.get("grant_type") == "authorization_code":
            access, refresh = self.issue()
            return answer(200, {"access_token": access, "refresh_token": refresh, "expires_in": 28800,
                                "scope": "openid offline_access vehicle_device_data vehicle_location vehicle_cmds"})
        with self.lock:
            self.refresh_calls += 1
        self.refresh_entered.set()
        if self.refresh_gate is not None:
            self.refresh_gate.wait(5)
        with self.lock:
            old = form.get("refresh_token", "")
            if old not in self._refresh:
                return answer(401, {"error": "login_required", "error_description": "The refresh_token is invalid"})
            self._access.discard(self._refresh.pop(old))  # rotation: the old pair is spent
        access, refresh = self.issue()
        return answer(200, {"access_token": access, "refresh_token": refresh, "expires_in": 28800})

    def _fleet(self, method: str, path: str, kwargs: dict[str, Any]) -> FakeResponse:
        tail = path.split("/api/1/", 1)[1]
        if tail == "vehicles":
            return answer(200, {"response": self.vehicles, "count": len(self.vehicles)})
        if tail == "vehicles/fleet_status":
            vins = kwargs["json"]["vins"]
            return answer(200, {"response": {
                "key_paired_vins": [v for v in vins if v in self.paired],
                "unpaired_vins": [v for v in vins if v not in self.paired],
                "vehicle_info": {v: {"firmware_version": "2024.44.25", "vehicle_command_protocol_required": True}
                                 for v in vins}}})
        parts = tail.split("/")
        vehicle = next((v for v in self.vehicles if parts[1] in (v["vin"], str(v["id"]))), None)
        if vehicle is None:
            return fleet_error(404, "not_found")
        if len(parts) == 2:
            return answer(200, {"response": vehicle})
        if parts[2] == "wake_up":
            return answer(200, {"response": vehicle})
        if vehicle["state"] != "online":
            return fleet_error(408, "vehicle unavailable: vehicle is offline or asleep")
        if parts[2] == "vehicle_data":
            return answer(200, {"response": {**vehicle, "drive_state": {
                "latitude": 45.52, "longitude": -122.68, "heading": 90, "speed": None, "shift_state": "P",
                "gps_as_of": int(T0.timestamp()), "timestamp": int(T0.timestamp() * 1000)},
                "charge_state": {"battery_level": 80}}})
        if parts[2] == "command":
            queued = parts[3] == "navigation_request"
            return answer(200, {"response": {"result": True, "reason": "", **({"queued": True} if queued else {})}})
        return fleet_error(400, "invalid_command")


class ManualClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.now += timedelta(seconds=seconds)


@dataclass
class RecordingWorkflow:
    """A fake WorkflowPort: records resumes (the real one calls Step Functions)."""

    resumed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def start(self, booking_id: str, payload: dict[str, Any]) -> str:
        return f"arn:aws:states:us-east-1:123456789012:execution:test:{booking_id}"

    def resume(self, token: str, output: dict[str, Any]) -> bool:
        self.resumed.append((token, output))
        return True

    def fail(self, token: str, error: str, cause: str) -> bool:
        return True

    def stop(self, execution_arn: str, cause: str) -> None:
        return None


@dataclass
class RecordingNotifier:
    events: list[tuple[tuple[str, ...], dict[str, Any]]] = field(default_factory=list)

    def publish(self, user_ids: Any, event: dict[str, Any]) -> int:
        self.events.append((tuple(user_ids), event))
        return 1

    def types(self) -> list[str]:
        return [e["type"] for _users, e in self.events]


def no_wait(_seconds: float) -> None:
    raise AssertionError("the client must not wait here")


Waiter = Callable[[float], None]


# === the fakes' own rules ==========================================================================


def test_fake_tesla_rotates_refresh_tokens_and_refuses_a_spent_one() -> None:
    tesla = FakeTesla()
    _access, refresh = tesla.issue()
    first = tesla.request("POST", TOKEN_URL, data={"grant_type": "refresh_token", "refresh_token": refresh})
    again = tesla.request("POST", TOKEN_URL, data={"grant_type": "refresh_token", "refresh_token": refresh})
    assert first.status_code == 200 and first.json()["refresh_token"] != refresh
    assert again.status_code == 401 and again.json()["error"] == "login_required"


def test_fake_tesla_answers_bodyless_401_and_421_like_the_fleet_api() -> None:
    tesla = FakeTesla(region_base=EU_BASE)
    access, _refresh = tesla.issue()
    assert tesla.request("GET", f"{EU_BASE}/api/1/vehicles", headers={"Authorization": "Bearer nope"}).content == b""
    wrong = tesla.request("GET", f"{NA_BASE}/api/1/vehicles", headers={"Authorization": f"Bearer {access}"})
    assert wrong.status_code == 421 and EU_BASE in wrong.json()["error"]
