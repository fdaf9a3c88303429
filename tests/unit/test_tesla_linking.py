"""Linking a Tesla account: the signed OAuth state, and the callback refusing forged, expired, replayed or
superseded states before it talks to Tesla or stores anything (real token store on moto, fake Tesla)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from driveway_hub.data.users import UserRecord
from driveway_hub.data.vehicles import VehicleRepository, set_profile_tesla_linked
from driveway_hub.tesla import runtime
from driveway_hub.tesla.errors import InvalidOAuthState, TeslaAuthorizationDenied, TeslaNotLinked
from driveway_hub.tesla.fleet_client import TeslaApp, TeslaFleetClient, TeslaOAuthClient
from driveway_hub.tesla.linking import LinkingService
from driveway_hub.tesla.oauth_state import sign_state, verify_state
from driveway_hub.tesla.vehicles import sync_vehicles
from tests.unit.test_tesla_fixtures import (
    EU_BASE,
    NA_BASE,
    T0,
    TOKEN_URL,
    VIN,
    AwsEnv,
    FakeTesla,
    ManualClock,
    aws_client,
    aws_environment,
)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsEnv]:
    with aws_environment(monkeypatch) as env:
        yield env

KEY = b"k" * 32
USER = "driver-42"
REDIRECT = "https://api.example.com/v1/tesla/callback"
PAIRING = "https://tesla.com/_ak/driveway-hub.example.com"
SECOND_VIN = "7SAYGDEE1PA000003"

# ---- the state parameter ----------------------------------------------------------------------------


def test_a_signed_state_verifies_and_names_the_caller() -> None:
    state = sign_state(KEY, USER, "n-1", expires_at=2_000)
    assert verify_state(KEY, state, now=1_999).user_id == USER


@pytest.mark.parametrize("mangle", [
    lambda s: s.replace(s.split(".")[0], sign_state(KEY, "attacker", "n-1", expires_at=2_000).split(".")[0]),
    lambda s: sign_state(b"another-key", USER, "n-1", expires_at=2_000),
    lambda s: s + "x",
    lambda s: "no-dot-at-all",
    lambda s: "",
    lambda s: "%%%.%%%",
], ids=["other-user-payload", "other-key", "tampered-mac", "no-separator", "empty", "not-base64"])
def test_a_forged_or_malformed_state_is_refused(mangle: Any) -> None:
    with pytest.raises(InvalidOAuthState):
        verify_state(KEY, mangle(sign_state(KEY, USER, "n-1", expires_at=2_000)), now=1_000)


def test_an_expired_state_is_refused() -> None:
    with pytest.raises(InvalidOAuthState, match="expired"):
        verify_state(KEY, sign_state(KEY, USER, "n-1", expires_at=2_000), now=2_000)


# ---- connect and callback ---------------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def linking(aws: AwsEnv, tesla: FakeTesla, clock: ManualClock) -> LinkingService:
    store = runtime.token_store(aws.settings)
    oauth = TeslaOAuthClient(TeslaApp("client-id", "client-secret"), tesla, token_url=TOKEN_URL,
                             authorize_url="https://auth.tesla.com/oauth2/v3/authorize")

    def fleet_for(user_id: str) -> TeslaFleetClient:
        return TeslaFleetClient(user_id, store=store, oauth=oauth, http=tesla, clock=clock, default_api_base=NA_BASE)

    def sync(fleet: TeslaFleetClient, user_id: str, now: Any) -> list[dict[str, Any]]:
        return sync_vehicles(fleet, VehicleRepository(), user_id, now, PAIRING)

    return LinkingService(store=store, oauth=oauth, state_key=KEY, redirect_uri=REDIRECT, audience=NA_BASE,
                          fleet_for=fleet_for, sync_vehicles=sync, set_profile_linked=set_profile_tesla_linked,
                          clock=clock, pairing_url=PAIRING)


def state_of(connect_answer: dict[str, Any]) -> str:
    return parse_qs(urlsplit(connect_answer["authorize_url"]).query)["state"][0]


def account_item(aws: AwsEnv) -> dict[str, Any] | None:
    answer = aws_client("dynamodb").get_item(
        TableName=aws.settings.tables.tesla_accounts, Key={"user_id": {"S": USER}})
    item: dict[str, Any] | None = answer.get("Item")
    return item


def test_connect_returns_the_authorize_url_with_our_scopes_and_a_state_for_the_caller(
        aws: AwsEnv, clock: ManualClock) -> None:
    answer = linking(aws, FakeTesla(), clock).connect(USER)
    query = parse_qs(urlsplit(answer["authorize_url"]).query)
    assert answer["authorize_url"].startswith("https://auth.tesla.com/oauth2/v3/authorize?")
    assert query["scope"] == ["openid offline_access vehicle_device_data vehicle_location vehicle_cmds"]
    assert query["client_id"] == ["client-id"] and query["redirect_uri"] == [REDIRECT]
    assert query["response_type"] == ["code"]
    assert verify_state(KEY, query["state"][0], now=int(clock().timestamp())).user_id == USER


def test_the_callback_links_the_account_finds_the_region_and_the_cars_needing_a_key(
        aws: AwsEnv, clock: ManualClock) -> None:
    UserRecord(USER, email="d@example.com", created_at=T0.isoformat()).save()
    tesla = FakeTesla(region_base=EU_BASE, vehicles=[
        {"id": 1, "vehicle_id": 11, "vin": VIN, "display_name": "Roadie", "state": "online"},
        {"id": 2, "vehicle_id": 22, "vin": SECOND_VIN, "display_name": "Modern", "state": "asleep"},
    ])
    service = linking(aws, tesla, clock)
    state = state_of(service.connect(USER))
    answer = service.complete(code="NA_code", state=state)
    assert answer["linked"] and answer["region"] == "eu" and answer["pairing_required"]
    assert answer["pairing_url"] == PAIRING
    assert {v["vin"]: v["needs_pairing"] for v in answer["vehicles"]} == {VIN: False, SECOND_VIN: True}
    exchange = next(s for s in tesla.sent if s.url == TOKEN_URL)
    assert exchange.kwargs["data"]["audience"] == NA_BASE and exchange.kwargs["data"]["redirect_uri"] == REDIRECT
    account = runtime.token_store(aws.settings).load(USER)
    assert account.api_base_url == EU_BASE and account.region == "eu"
    assert UserRecord.get(USER).tesla_linked is True


def nothing_was_stored(aws: AwsEnv, tesla: FakeTesla) -> None:
    item = account_item(aws) or {}
    assert "token_ciphertext" not in item
    assert tesla.sent == []  # Tesla was not even asked
    with pytest.raises(TeslaNotLinked):
        runtime.token_store(aws.settings).load(USER)


def test_a_forged_state_is_refused_and_nothing_is_stored(aws: AwsEnv, clock: ManualClock) -> None:
    tesla = FakeTesla()
    service = linking(aws, tesla, clock)
    service.connect(USER)
    forged = sign_state(b"guessed-key", USER, "n", expires_at=int(clock().timestamp()) + 600)
    with pytest.raises(InvalidOAuthState):
        service.complete(code="NA_code", state=forged)
    nothing_was_stored(aws, tesla)


def test_an_old_state_is_refused_and_nothing_is_stored(aws: AwsEnv, clock: ManualClock) -> None:
    tesla = FakeTesla()
    service = linking(aws, tesla, clock)
    state = state_of(service.connect(USER))
    clock.advance(timedelta(minutes=11).total_seconds())
    with pytest.raises(InvalidOAuthState):
        service.complete(code="NA_code", state=state)
    nothing_was_stored(aws, tesla)


def test_a_validly_signed_state_that_was_never_issued_to_this_user_is_refused(
        aws: AwsEnv, clock: ManualClock) -> None:
    tesla = FakeTesla()
    service = linking(aws, tesla, clock)
    signed_but_unknown = sign_state(KEY, USER, "never-stored", expires_at=int(clock().timestamp()) + 600)
    with pytest.raises(InvalidOAuthState):
        service.complete(code="NA_code", state=signed_but_unknown)
    nothing_was_stored(aws, tesla)


def test_a_state_works_once(aws: AwsEnv, clock: ManualClock) -> None:
    tesla = FakeTesla()
    service = linking(aws, tesla, clock)
    state = state_of(service.connect(USER))
    service.complete(code="NA_code", state=state)
    with pytest.raises(InvalidOAuthState):
        service.complete(code="NA_code", state=state)
    assert [s.kwargs["data"]["grant_type"] for s in tesla.sent if s.url == TOKEN_URL] == ["authorization_code"]


def test_a_newer_connect_supersedes_the_older_state(aws: AwsEnv, clock: ManualClock) -> None:
    tesla = FakeTesla()
    service = linking(aws, tesla, clock)
    older = state_of(service.connect(USER))
    service.connect(USER)
    with pytest.raises(InvalidOAuthState):
        service.complete(code="NA_code", state=older)
    nothing_was_stored(aws, tesla)


def test_a_declined_consent_is_a_clear_error_and_stores_nothing(aws: AwsEnv, clock: ManualClock) -> None:
    tesla = FakeTesla()
    service = linking(aws, tesla, clock)
    state = state_of(service.connect(USER))
    with pytest.raises(TeslaAuthorizationDenied):
        service.complete(code=None, state=state, error="access_denied")
    nothing_was_stored(aws, tesla)
