"""The Tesla handlers with their sample events (events/<route>.json) on moto: the webhook's refusals store
nothing, the Kinesis consumer's partial batch response, the public key, and the edges' status codes."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from driveway_hub.clock import set_time_source
from driveway_hub.config import get_settings
from driveway_hub.telemetry_signing import sign
from functions.tesla import (
    autopark,
    callback,
    connect,
    list_vehicles,
    navigate,
    public_key,
    telemetry_kinesis,
    telemetry_webhook,
    vehicle_location,
    vehicle_status,
)
from local.lambda_runtime import LocalLambdaContext
from local.resources import TELEMETRY_SECRET
from tests.unit.test_tesla_fixtures import (
    VIN,
    AwsEnv,
    aws_client,
    aws_environment,
)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsEnv]:
    with aws_environment(monkeypatch) as env:
        yield env

EVENTS = Path(__file__).resolve().parents[2] / "events"
# Every Tesla route is driven here through its handler and sample event (tests/unit/test_route_table.py).
COVERS = ("tesla_connect", "tesla_callback", "list_vehicles", "vehicle_status", "vehicle_location",
          "vehicle_navigate", "vehicle_autopark", "tesla_telemetry_webhook", "tesla_telemetry_kinesis",
          "tesla_public_key")
SECRET = TELEMETRY_SECRET["hmac_secret"].encode()
NOW = datetime.fromisoformat("2026-11-24T10:00:10+00:00")
PEM = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEexample\n-----END PUBLIC KEY-----"


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def call(module: Any, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = module.handler(event, LocalLambdaContext(function_name="test"))
    return result


def body_of(result: dict[str, Any]) -> Any:
    return json.loads(result["body"])


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    set_time_source(lambda: NOW)
    yield
    set_time_source(None)


def positions_stored(aws: AwsEnv) -> int:
    count: int = aws_client("dynamodb").scan(
        TableName=aws.settings.tables.positions, Select="COUNT")["Count"]
    return count


def webhook_event(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    event = copy.deepcopy(sample("tesla_telemetry_webhook"))
    event["body"] = body.decode()
    for name in ("X-Telemetry-Timestamp", "X-Telemetry-Signature"):
        event["headers"].pop(name, None)
    event["headers"].update(headers)
    return event


def sim_batch(lat: float = 45.5288) -> bytes:
    return json.dumps({"records": [{"vin": VIN, "createdAt": "2026-11-24T10:00:05.000Z", "data": [
        {"key": "Location", "value": {"locationValue": {"latitude": lat, "longitude": -122.671}}}]}]}).encode()


# ---- the webhook door -------------------------------------------------------------------------------


def test_a_signed_batch_is_accepted_and_stored(aws: AwsEnv) -> None:
    body = sim_batch()
    result = call(telemetry_webhook, webhook_event(body, sign(SECRET, body, int(NOW.timestamp()))))
    assert result["statusCode"] == 200 and body_of(result)["accepted"] == 1
    assert positions_stored(aws) == 2  # the fix and the VIN's tracking item


@pytest.mark.parametrize(("make_headers", "status", "code"), [
    (lambda body: sign(b"not-our-secret", body, int(NOW.timestamp())), 401, "invalid_signature"),
    (lambda body: sign(SECRET, body, int(NOW.timestamp()) - 301), 401, "invalid_signature"),
    (lambda body: {}, 401, "invalid_signature"),
    (lambda body: sign(SECRET, body + b" ", int(NOW.timestamp())), 401, "invalid_signature"),
], ids=["bad-hmac", "stale-timestamp", "unsigned", "body-changed-after-signing"])
def test_a_bad_signature_is_401_and_nothing_is_stored(aws: AwsEnv, make_headers: Any, status: int,
                                                      code: str) -> None:
    body = sim_batch()
    result = call(telemetry_webhook, webhook_event(body, make_headers(body)))
    assert result["statusCode"] == status and body_of(result)["error"]["code"] == code
    assert positions_stored(aws) == 0


@pytest.mark.parametrize("body", [b"{not json", b'{"records": [{"vin": "5YJ3E1EA7KF000001"}]}',
                                  sim_batch(lat=123.0)], ids=["not-json", "no-created-at", "bad-latitude"])
def test_a_malformed_signed_body_is_400_and_nothing_is_stored(aws: AwsEnv, body: bytes) -> None:
    result = call(telemetry_webhook, webhook_event(body, sign(SECRET, body, int(NOW.timestamp()))))
    assert result["statusCode"] == 400 and body_of(result)["error"]["code"] == "malformed_telemetry"
    assert positions_stored(aws) == 0


def test_the_sample_webhook_event_is_signed_like_the_relay_signs(aws: AwsEnv) -> None:
    set_time_source(lambda: datetime.fromisoformat("2026-11-24T10:00:05+00:00"))
    assert call(telemetry_webhook, sample("tesla_telemetry_webhook"))["statusCode"] == 200


# ---- the Kinesis door --------------------------------------------------------------------------------


def test_the_kinesis_consumer_ingests_its_batch(aws: AwsEnv) -> None:
    assert call(telemetry_kinesis, sample("tesla_telemetry_kinesis")) == {"batchItemFailures": []}
    assert positions_stored(aws) == 3


def test_an_unreadable_kinesis_record_is_reported_and_the_ones_before_it_are_ingested(aws: AwsEnv) -> None:
    event = sample("tesla_telemetry_kinesis")
    poison = copy.deepcopy(event["Records"][1])
    poison["kinesis"]["data"] = base64.b64encode(b'{"vin": 42}').decode()
    poison["kinesis"]["sequenceNumber"] = "49615157660493278467308263456278662374657347832109"
    event["Records"].insert(1, poison)
    answer = call(telemetry_kinesis, event)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "49615157660493278467308263456278662374657347832109"}]}
    assert positions_stored(aws) == 2  # the first record (and its tracking item), not the ones after


# ---- the public key ----------------------------------------------------------------------------------


def test_the_public_key_is_served_as_pem_from_configuration(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESLA_PUBLIC_KEY_PEM", PEM.replace("\n", "\\n"))
    get_settings.cache_clear()
    result = call(public_key, sample("tesla_public_key"))
    assert result["statusCode"] == 200 and result["body"] == PEM + "\n"
    assert result["multiValueHeaders"]["Content-Type"] == ["application/x-pem-file"]


def test_without_a_configured_key_the_public_key_route_is_404(aws: AwsEnv) -> None:
    assert call(public_key, sample("tesla_public_key"))["statusCode"] == 404


# ---- linking and vehicle edges -----------------------------------------------------------------------


def test_connect_answers_an_authorize_url_for_the_caller(aws: AwsEnv) -> None:
    result = call(connect, sample("tesla_connect"))
    assert result["statusCode"] == 200
    assert body_of(result)["authorize_url"].startswith("https://auth.tesla.com/oauth2/v3/authorize?")


def test_a_host_without_vehicle_control_cannot_connect(aws: AwsEnv) -> None:
    event = sample("tesla_connect")
    event["requestContext"]["authorizer"]["permissions"] = "account:manage driveway:create"
    assert call(connect, event)["statusCode"] == 403


def test_the_callback_with_the_samples_unsigned_state_is_400_and_stores_nothing(aws: AwsEnv) -> None:
    result = call(callback, sample("tesla_callback"))
    assert result["statusCode"] == 400 and body_of(result)["error"]["code"] == "invalid_oauth_state"
    assert aws_client("dynamodb").scan(
        TableName=aws.settings.tables.tesla_accounts)["Items"] == []


def test_vehicle_routes_answer_in_the_envelope(aws: AwsEnv) -> None:
    listed = sample("list_vehicles")
    listed["queryStringParameters"] = listed["multiValueQueryStringParameters"] = None
    assert body_of(call(list_vehicles, listed)) == {"items": [], "next_cursor": None}
    assert call(list_vehicles, sample("list_vehicles"))["statusCode"] == 409  # sync without a linked account
    for module, name in ((vehicle_status, "vehicle_status"), (vehicle_location, "vehicle_location"),
                         (navigate, "vehicle_navigate"), (autopark, "vehicle_autopark")):
        result = call(module, sample(name))
        assert result["statusCode"] == 404 and body_of(result)["error"]["code"] == "vehicle_not_found", name


def test_navigate_needs_a_booking_id(aws: AwsEnv) -> None:
    event = sample("vehicle_navigate")
    event["body"] = json.dumps({"booking": "bk-1"})
    result = call(navigate, event)
    assert result["statusCode"] == 400 and body_of(result)["error"]["code"] == "invalid_request"
