"""The Fleet API client against a fake Tesla, with the real token store (moto DynamoDB + KMS): refresh
(before expiry, on bodyless 401, single writer under a race), region switch, and what each error means."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from driveway_hub.tesla import runtime
from driveway_hub.tesla.errors import (
    TeslaLoginRequired,
    TeslaNotLinked,
    TeslaRateLimited,
    TeslaUnavailable,
    VehicleAsleep,
    VehicleCommandProtocolRequired,
    VirtualKeyNotPaired,
)
from driveway_hub.tesla.fleet_client import TeslaApp, TeslaFleetClient, TeslaOAuthClient
from driveway_hub.tesla.token_store import DynamoTokenStore, EncryptedBundle, KmsTokenCipher, TokenSet
from tests.unit.test_tesla_fixtures import (
    EU_BASE,
    NA_BASE,
    PROXY_BASE,
    TOKEN_URL,
    VIN,
    AwsEnv,
    FakeTesla,
    ManualClock,
    Waiter,
    aws_client,
    aws_environment,
    fleet_error,
    no_wait,
)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsEnv]:
    with aws_environment(monkeypatch) as env:
        yield env

USER = "user-7d1c"
PAIRING = "https://tesla.com/_ak/driveway-hub.example.com"


def link(aws: AwsEnv, tesla: FakeTesla, clock: ManualClock, *, expires_in: int = 28_800,
         base: str = NA_BASE) -> DynamoTokenStore:
    store = runtime.token_store(aws.settings)
    access, refresh = tesla.issue()
    now = clock()
    store.begin_link(USER, "nonce-hash", int(now.timestamp()) + 600, now)
    store.link(USER, TokenSet(access, refresh), access_expires_at=int(now.timestamp()) + expires_in,
               api_base_url=base, scopes="openid offline_access", state_hash="nonce-hash", now=now)
    return store


def client(store: DynamoTokenStore, tesla: FakeTesla, clock: ManualClock, *, wait: Waiter = no_wait,
           **kwargs: Any) -> TeslaFleetClient:
    oauth = TeslaOAuthClient(TeslaApp("client-id", "client-secret"), tesla, token_url=TOKEN_URL)
    return TeslaFleetClient(USER, store=store, oauth=oauth, http=tesla, clock=clock, default_api_base=NA_BASE,
                            wait=wait, pairing_url=PAIRING, **kwargs)


@pytest.fixture
def tesla() -> FakeTesla:
    return FakeTesla()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


# ---- tokens at rest -------------------------------------------------------------------------------------


def test_tokens_are_stored_encrypted_under_the_users_kms_context(aws: AwsEnv, tesla: FakeTesla,
                                                                  clock: ManualClock) -> None:
    link(aws, tesla, clock)
    item = aws_client("dynamodb").get_item(
        TableName=aws.settings.tables.tesla_accounts, Key={"user_id": {"S": USER}})["Item"]
    assert "at-1" not in str(item) and "rt-1" not in str(item)
    bundle = EncryptedBundle(item["token_data_key"]["B"], item["token_nonce"]["B"], item["token_ciphertext"]["B"])
    cipher = KmsTokenCipher(aws_client("kms"), aws.key_arn)
    assert TokenSet.from_bytes(cipher.decrypt(USER, bundle)) == TokenSet("at-1", "rt-1")
    with pytest.raises(Exception, match="InvalidCiphertext"):
        cipher.decrypt("someone-else", bundle)  # KMS refuses another encryption context
    assert "at-1" not in repr(TokenSet("at-1", "rt-1"))


# ---- refresh ------------------------------------------------------------------------------------------


def test_a_token_about_to_expire_is_refreshed_once_before_the_call(aws: AwsEnv, tesla: FakeTesla,
                                                                   clock: ManualClock) -> None:
    store = link(aws, tesla, clock, expires_in=120)
    vehicles = client(store, tesla, clock).list_vehicles()
    assert [v.vin for v in vehicles] == [VIN]
    assert tesla.refresh_calls == 1
    assert [s.token for s in tesla.api_calls()] == ["at-2"]
    assert store.load(USER).version == 2


def test_a_bodyless_401_refreshes_once_and_retries(aws: AwsEnv, tesla: FakeTesla, clock: ManualClock) -> None:
    store = link(aws, tesla, clock)
    tesla.expire_access_tokens()
    client(store, tesla, clock).list_vehicles()
    assert tesla.refresh_calls == 1
    assert [s.token for s in tesla.api_calls()] == ["at-1", "at-2"]


def test_refresh_race_one_after_the_other_makes_one_refresh_and_both_use_the_new_tokens(
        aws: AwsEnv, tesla: FakeTesla, clock: ManualClock) -> None:
    store = link(aws, tesla, clock)
    first, second = client(store, tesla, clock), client(store, tesla, clock)
    second.list_vehicles()  # the second invocation holds the current tokens (version 1)
    tesla.expire_access_tokens()
    first.list_vehicles()  # refreshes: version 2
    second.list_vehicles()  # 401 with version 1: must re-read version 2, not refresh a spent token
    assert tesla.refresh_calls == 1
    assert [s.token for s in tesla.api_calls()] == ["at-1", "at-1", "at-2", "at-1", "at-2"]


def test_refresh_race_at_the_same_moment_makes_one_refresh_and_both_use_the_new_tokens(
        aws: AwsEnv, tesla: FakeTesla, clock: ManualClock) -> None:
    store = link(aws, tesla, clock)
    tesla.expire_access_tokens()
    tesla.refresh_gate = threading.Event()
    winner_done = threading.Event()
    errors: list[BaseException] = []

    def winner() -> None:
        try:
            client(store, tesla, clock).list_vehicles()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which asserts there is none
            errors.append(exc)
        finally:
            winner_done.set()

    thread = threading.Thread(target=winner)
    thread.start()
    assert tesla.refresh_entered.wait(5)  # the winner holds the lease and is talking to Tesla
    waits: list[float] = []

    def loser_waits(seconds: float) -> None:
        # The loser's short wait: the winner's refresh completes meanwhile.
        waits.append(seconds)
        assert tesla.refresh_gate is not None
        tesla.refresh_gate.set()
        assert winner_done.wait(5)

    client(store, tesla, clock, wait=loser_waits).list_vehicles()
    thread.join(5)
    assert not errors
    assert tesla.refresh_calls == 1
    assert waits == [0.05]
    assert sorted(str(s.token) for s in tesla.api_calls() if s.token != "at-1") == ["at-2", "at-2"]


def test_a_loser_gives_up_with_a_retryable_error_if_the_winner_never_finishes(
        aws: AwsEnv, tesla: FakeTesla, clock: ManualClock) -> None:
    store = link(aws, tesla, clock)
    tesla.expire_access_tokens()
    assert store.claim_refresh(USER, 1, "a-crashed-winner", clock())
    waits: list[float] = []
    with pytest.raises(TeslaUnavailable) as raised:
        client(store, tesla, clock, wait=waits.append).list_vehicles()
    assert type(raised.value).__name__ == "TokenRefreshInProgress"
    assert tesla.refresh_calls == 0
    assert sum(waits) < 2.0  # bounded: never a long sleep inside Lambda


def test_login_required_unlinks_the_account_and_says_so(aws: AwsEnv, tesla: FakeTesla,
                                                        clock: ManualClock) -> None:
    store = link(aws, tesla, clock, expires_in=60)
    tesla._refresh.clear()  # the owner revoked the app in their Tesla account
    unlinked: list[str] = []
    with pytest.raises(TeslaLoginRequired):
        client(store, tesla, clock, on_unlinked=unlinked.append).list_vehicles()
    assert unlinked == [USER]
    with pytest.raises(TeslaNotLinked):
        store.load(USER)


# ---- regions ------------------------------------------------------------------------------------------


def test_421_switches_to_the_named_region_and_remembers_it(aws: AwsEnv, clock: ManualClock) -> None:
    tesla = FakeTesla(region_base=EU_BASE)
    store = link(aws, tesla, clock, base=NA_BASE)
    client(store, tesla, clock).list_vehicles()
    assert [s.url.split("/api/")[0] for s in tesla.api_calls()] == [NA_BASE, EU_BASE]
    assert store.load(USER).api_base_url == EU_BASE
    client(store, tesla, clock).list_vehicles()  # a later invocation goes straight to the right region
    assert tesla.api_calls()[-1].url.startswith(EU_BASE) and len(tesla.api_calls()) == 3


# ---- what errors mean -----------------------------------------------------------------------------------


def test_429_raises_rate_limited_with_retry_after_and_does_not_sleep(aws: AwsEnv, tesla: FakeTesla,
                                                                    clock: ManualClock) -> None:
    store = link(aws, tesla, clock)
    tesla.fail_next("/api/1/vehicles", fleet_error(429, "too_many_requests", {"Retry-After": "17"}))
    with pytest.raises(TeslaRateLimited) as raised:
        client(store, tesla, clock).list_vehicles()  # no_wait: any wait fails the test
    assert raised.value.retry_after_s == 17


def test_408_raises_vehicle_asleep_by_that_class_name(aws: AwsEnv, tesla: FakeTesla, clock: ManualClock) -> None:
    store = link(aws, tesla, clock)
    tesla.vehicles[0]["state"] = "asleep"
    with pytest.raises(VehicleAsleep) as raised:
        client(store, tesla, clock).vehicle_data(VIN, ["location_data"])
    # Step Functions' Retry matches the Lambda errorType, which is the exception's class name.
    assert type(raised.value).__name__ == "VehicleAsleep"


@pytest.mark.parametrize(("response", "error"), [
    (fleet_error(403, "Tesla Vehicle Command Protocol required, please refer to the documentation"),
     VehicleCommandProtocolRequired),
    (fleet_error(500, "vehicle rejected request: your public key has not been paired with the vehicle"),
     VirtualKeyNotPaired),
    (fleet_error(503, "service_unavailable"), TeslaUnavailable),
    (fleet_error(540, "vehicle error"), TeslaUnavailable),
], ids=["403-vcp", "500-key-not-paired", "503", "540"])
def test_command_errors_map_to_clear_domain_errors(aws: AwsEnv, tesla: FakeTesla, clock: ManualClock,
                                                   response: Any, error: type[Exception]) -> None:
    store = link(aws, tesla, clock)
    tesla.fail_next("/command/flash_lights", response)
    with pytest.raises(error) as raised:
        client(store, tesla, clock).flash_lights(VIN)
    if isinstance(raised.value, VirtualKeyNotPaired):
        assert raised.value.pairing_url == PAIRING


def test_a_timeout_is_a_retryable_upstream_error(aws: AwsEnv, tesla: FakeTesla, clock: ManualClock) -> None:
    store = link(aws, tesla, clock)

    class Timeouts(FakeTesla):
        def request(self, method: str, url: str, **kwargs: Any) -> Any:
            assert kwargs["timeout"][1] <= 10  # every call is bounded
            raise requests.Timeout("read timed out")

    with pytest.raises(TeslaUnavailable):
        client(store, Timeouts(), clock).vehicle(VIN)


# ---- commands ----------------------------------------------------------------------------------------


def test_navigation_request_shares_the_destination_text_through_the_proxy(aws: AwsEnv, tesla: FakeTesla,
                                                                          clock: ManualClock) -> None:
    store = link(aws, tesla, clock)
    fleet = client(store, tesla, clock, command_base=PROXY_BASE)
    result = fleet.navigation_request(VIN, "https://maps.google.com/?q=45.529000,-122.671000")
    fleet.list_vehicles()
    assert result.result and result.queued
    command, data_call = tesla.api_calls()
    assert command.url == f"{PROXY_BASE}/api/1/vehicles/{VIN}/command/navigation_request"
    assert command.kwargs["json"] == {
        "type": "share_ext_content_raw",
        "value": {"android.intent.extra.TEXT": "https://maps.google.com/?q=45.529000,-122.671000"},
        "locale": "en-US",
        "timestamp_ms": str(int(clock().timestamp() * 1000)),
    }
    assert data_call.url.startswith(NA_BASE)  # reads go to the Fleet API, only commands to the proxy


def test_tokens_never_reach_the_logs(aws: AwsEnv, tesla: FakeTesla, clock: ManualClock,
                                     capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    store = link(aws, tesla, clock, expires_in=60)
    client(store, tesla, clock).list_vehicles()
    tesla._refresh.clear()
    tesla.expire_access_tokens()
    with pytest.raises(TeslaLoginRequired):
        client(store, tesla, clock).list_vehicles()
    # Structured logs go to stdout (Powertools) and through logging (extras included).
    output = "".join(capfd.readouterr()) + "".join(str(vars(r)) for r in caplog.records)
    assert "tesla tokens refreshed" in output
    for secret in ("at-1", "rt-1", "at-2", "rt-2"):
        assert secret not in output
