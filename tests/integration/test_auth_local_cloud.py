"""Identity end to end, over HTTP through the running local cloud: the local API Gateway running our REST
and WebSocket authorizers, our handlers, moto's Cognito (with our pre-token-generation trigger) and
DynamoDB."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from aiohttp import ClientSession, WSServerHandshakeError
from cryptography.hazmat.primitives import serialization
from moto.utilities.utils import load_resource

from driveway_hub.config import get_settings
from driveway_hub.data.tables import TABLES
from driveway_hub.observability import logger
from functions.auth import authorizer, pre_token_generation, ws_authorizer
from local.clock import VirtualClock
from local.cloud import LocalCloud, Ports
from local.cognito import LocalIdentity
from local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"
PASSWORD = "Correct-Horse-42"
# Routes these tests exercise end to end (tests/unit/test_route_table.py checks every route is covered).
COVERS = ("auth_register", "auth_login", "auth_refresh", "auth_logout", "auth_me", "auth_add_role",
          "auth_forgot_password", "auth_reset_password", "auth_confirm", "me_export", "me_delete")


@dataclass
class AuthCloud:
    cloud: LocalCloud
    identity: LocalIdentity

    @property
    def api(self) -> str:
        return str(self.cloud.urls["rest"])

    @property
    def websocket(self) -> str:
        return str(self.cloud.urls["websocket"])


@pytest.fixture(scope="module")
def auth_cloud() -> Iterator[AuthCloud]:
    # The local cloud creates the user pool, runs our pre-token-generation trigger and both authorizers.
    with LocalCloud(clock=VirtualClock.instant(), ports=Ports.ephemeral()) as cloud:
        assert cloud.identity is not None
        yield AuthCloud(cloud, cloud.identity)


@dataclass
class User:
    email: str
    name: str
    role: str
    user_id: str = ""
    access_token: str = ""
    refresh_token: str = ""

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def new_user(role: str = "driver") -> User:
    # Unique per test: the cloud is shared by the module, and the erasure test scans for these strings.
    tag = uuid.uuid4().hex[:10]
    return User(email=f"{role}-{tag}@example.com", name=f"Pat {role.title()} {tag}", role=role)


def register(api: str, user: User) -> requests.Response:
    response = requests.post(f"{api}/auth/register", timeout=10,
                             json={"email": user.email, "password": PASSWORD, "name": user.name, "role": user.role})
    if response.status_code == 201:
        user.user_id = response.json()["user_id"]
    return response


def login(api: str, user: User, password: str = PASSWORD) -> requests.Response:
    response = requests.post(f"{api}/auth/login", json={"email": user.email, "password": password}, timeout=10)
    if response.status_code == 200:
        user.access_token = response.json()["access_token"]
        user.refresh_token = response.json()["refresh_token"]
    return response


def signed_in(api: str, role: str = "driver") -> User:
    user = new_user(role)
    assert register(api, user).status_code == 201
    assert login(api, user).status_code == 200
    return user


def me(api: str, token: str) -> requests.Response:
    return requests.get(f"{api}/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def assert_envelope(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


# ---- the acceptance flow ----------------------------------------------------------------------------


def test_driver_and_host_register_login_refresh_see_themselves_and_logout(auth_cloud: AuthCloud) -> None:
    api = auth_cloud.api
    driver, host = new_user("driver"), new_user("host")

    for user in (driver, host):
        response = register(api, user)
        assert response.status_code == 201, response.text
        assert response.json() == {"user_id": user.user_id, "email": user.email, "role": user.role,
                                   "roles": [user.role], "email_verification_required": False}
        tokens = login(api, user)
        assert tokens.status_code == 200, tokens.text
        assert tokens.json()["token_type"] == "Bearer" and tokens.json()["expires_in"] > 0
        assert tokens.headers["Cache-Control"] == "no-store"

    refreshed = requests.post(f"{api}/auth/refresh", json={"refresh_token": driver.refresh_token}, timeout=10)
    assert refreshed.status_code == 200, refreshed.text
    refreshed_access = refreshed.json()["access_token"]

    driver_me = me(api, refreshed_access)
    assert driver_me.status_code == 200, driver_me.text
    assert driver_me.json() == {
        "user_id": driver.user_id, "email": driver.email, "name": driver.name, "role": "driver",
        "roles": ["driver"], "tesla_linked": False,
        "permissions": ["account:manage", "booking:cancel", "booking:create", "booking:view", "payment:create",
                        "vehicle:control"],
    }
    host_me = me(api, host.access_token).json()
    assert host_me["role"] == "host" and "driveway:create" in host_me["permissions"]

    assert requests.post(f"{api}/auth/logout", headers=driver.bearer, timeout=10).status_code == 204

    assert_envelope(me(api, driver.access_token), 401, "unauthorized")
    assert_envelope(me(api, refreshed_access), 401, "unauthorized")
    again = requests.post(f"{api}/auth/refresh", json={"refresh_token": driver.refresh_token}, timeout=10)
    assert_envelope(again, 401, "unauthorized")
    assert me(api, host.access_token).status_code == 200  # one user's logout is theirs alone


def test_after_logout_a_new_login_works(auth_cloud: AuthCloud) -> None:
    driver = signed_in(auth_cloud.api)
    assert requests.post(f"{auth_cloud.api}/auth/logout", headers=driver.bearer, timeout=10).status_code == 204

    assert login(auth_cloud.api, driver).status_code == 200  # waits out the logout second if needed

    assert me(auth_cloud.api, driver.access_token).status_code == 200


def test_tokens_carry_the_pre_token_generation_claims(auth_cloud: AuthCloud) -> None:
    driver = signed_in(auth_cloud.api)
    response = login(auth_cloud.api, driver)

    access = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    id_claims = jwt.decode(response.json()["id_token"], options={"verify_signature": False})

    for claims in (access, id_claims):
        assert claims["user_type"] == "driver"
        assert "booking:create" in claims["permissions"]
        assert claims["tesla_linked"] is False
    assert access["token_use"] == "access" and access["sub"] == driver.user_id  # reserved claims untouched


# ---- registration and sign-in failures ---------------------------------------------------------------


def test_registering_a_taken_email_is_409(auth_cloud: AuthCloud) -> None:
    user = signed_in(auth_cloud.api)
    twin = User(email=user.email.upper(), name="Someone Else", role="host")

    assert_envelope(register(auth_cloud.api, twin), 409, "email_taken")


def test_a_weak_password_is_400_with_the_reason(auth_cloud: AuthCloud) -> None:
    response = requests.post(f"{auth_cloud.api}/auth/register", timeout=10, json={
        "email": new_user().email, "password": "password", "name": "Weak", "role": "driver"})

    assert_envelope(response, 400, "weak_password")
    assert "Password not long enough" in response.json()["error"]["message"]
    assert response.json()["error"]["details"][0]["field"] == "password"


def test_malformed_registration_is_400_naming_the_field(auth_cloud: AuthCloud) -> None:
    response = requests.post(f"{auth_cloud.api}/auth/register", timeout=10,
                             json={"email": "x@example.com", "password": PASSWORD, "name": "X", "role": "pilot"})

    assert_envelope(response, 400, "invalid_request")
    assert response.json()["error"]["details"][0]["field"] == "body.role"


def test_wrong_passwords_get_401_then_429_never_500(auth_cloud: AuthCloud) -> None:
    user = new_user()
    register(auth_cloud.api, user)

    statuses = [login(auth_cloud.api, user, password="Wrong-Password-1").status_code for _ in range(7)]

    assert statuses == [401] * 5 + [429] * 2
    locked = login(auth_cloud.api, user)  # the right password too, until the window ends
    assert_envelope(locked, 429, "too_many_attempts")
    assert locked.json()["error"]["details"][0]["retry_after_seconds"] > 0


def test_unknown_email_gets_the_same_401(auth_cloud: AuthCloud) -> None:
    assert_envelope(login(auth_cloud.api, new_user()), 401, "invalid_credentials")


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-jwt"])
def test_missing_or_malformed_authorization_is_401_in_the_envelope(
    auth_cloud: AuthCloud, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = requests.get(f"{auth_cloud.api}/auth/me", headers=headers, timeout=10)

    assert_envelope(response, 401, "unauthorized")


# ---- roles -------------------------------------------------------------------------------------------


def test_a_driver_becomes_a_host_too(auth_cloud: AuthCloud) -> None:
    driver = signed_in(auth_cloud.api)

    response = requests.post(f"{auth_cloud.api}/auth/roles", json={"role": "host"}, headers=driver.bearer, timeout=10)

    assert response.status_code == 200, response.text
    assert response.json()["roles"] == ["driver", "host"]
    assert "driveway:create" in me(auth_cloud.api, driver.access_token).json()["permissions"]
    groups = auth_cloud.cloud.client("cognito-idp").admin_list_groups_for_user(
        UserPoolId=auth_cloud.identity.user_pool_id, Username=driver.user_id)["Groups"]
    assert {g["GroupName"] for g in groups} == {"driver", "host"}


def test_nobody_grants_themselves_admin(auth_cloud: AuthCloud) -> None:
    driver = signed_in(auth_cloud.api)

    response = requests.post(f"{auth_cloud.api}/auth/roles", json={"role": "admin"}, headers=driver.bearer, timeout=10)

    assert_envelope(response, 403, "forbidden")


# ---- password reset ----------------------------------------------------------------------------------


class _Captured(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return True


def test_forgotten_password_is_reset_with_the_code_from_the_log(auth_cloud: AuthCloud) -> None:
    user = signed_in(auth_cloud.api)
    captured = _Captured()
    logger.addFilter(captured)
    try:
        started = requests.post(f"{auth_cloud.api}/auth/forgot-password", json={"email": user.email}, timeout=10)
    finally:
        logger.removeFilter(captured)
    assert started.status_code == 202
    codes = [getattr(r, "reset_code", None) for r in captured.records if r.getMessage().startswith("password reset")]
    assert codes and codes[0]

    wrong = requests.post(f"{auth_cloud.api}/auth/reset-password", timeout=10, json={
        "email": user.email, "code": "moto-confirmation-code:000000", "new_password": "Battery-Staple-77"})
    assert_envelope(wrong, 400, "invalid_reset_code")
    reset = requests.post(f"{auth_cloud.api}/auth/reset-password", timeout=10, json={
        "email": user.email, "code": codes[0], "new_password": "Battery-Staple-77"})
    assert reset.status_code == 204, reset.text

    assert_envelope(me(auth_cloud.api, user.access_token), 401, "unauthorized")  # signed out everywhere
    assert login(auth_cloud.api, user).status_code == 401
    assert login(auth_cloud.api, user, password="Battery-Staple-77").status_code == 200


def test_where_sign_up_is_not_auto_confirmed_login_waits_for_the_emailed_code(
    auth_cloud: AuthCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staging and prod: Cognito emails a code at sign-up; until POST /auth/confirm takes it, login is 403.
    (moto accepts any code, so a wrong code is covered by the unit tests of the Cognito adapter.)"""
    import driveway_hub.auth.runtime as auth_runtime

    monkeypatch.setattr(auth_runtime, "AUTO_CONFIRM_STAGES", frozenset())
    user = new_user()
    assert register(auth_cloud.api, user).status_code == 201
    assert_envelope(login(auth_cloud.api, user), 403, "email_not_verified")
    confirmed = requests.post(f"{auth_cloud.api}/auth/confirm", json={"email": user.email.upper(), "code": "123456"},
                              timeout=10)
    assert confirmed.status_code == 204, confirmed.text
    assert login(auth_cloud.api, user).status_code == 200
    again = requests.post(f"{auth_cloud.api}/auth/confirm", json={"email": user.email, "code": "123456"}, timeout=10)
    assert again.status_code == 204  # a repeated confirm (a double tap) is not an error
    assert_envelope(requests.post(f"{auth_cloud.api}/auth/confirm", json={"email": user.email}, timeout=10),
                    400, "invalid_request")


def test_forgot_password_for_an_unknown_email_answers_the_same(auth_cloud: AuthCloud) -> None:
    response = requests.post(f"{auth_cloud.api}/auth/forgot-password", json={"email": new_user().email}, timeout=10)

    assert response.status_code == 202


# ---- the attack list over HTTP -----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _moto_signing_key() -> Any:
    # moto signs every pool's tokens with this published key: forging with it makes tokens that pass the
    # signature check, so each attack below is refused for its own reason.
    return jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(load_resource("cognitoidp/resources/jwks-private.json")))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _forge(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, _moto_signing_key(), algorithm="RS256", headers={"kid": "dummy"})


def _hs256_with_public_key(claims: dict[str, Any], auth_cloud: AuthCloud) -> str:
    jwks_url = f"{auth_cloud.cloud.urls['moto']}/{auth_cloud.identity.user_pool_id}/.well-known/jwks.json"
    public_key = jwt.PyJWKClient(jwks_url).get_jwk_set().keys[0].key
    public_pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{_segment({'alg': 'HS256', 'kid': 'dummy'})}.{_segment(claims)}"
    return f"{signing_input}.{_b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"


Attack = Callable[[dict[str, Any], str, AuthCloud], str]
ATTACKS: dict[str, Attack] = {
    "alg none": lambda c, _t, _a: f"{_segment({'alg': 'none', 'kid': 'dummy'})}.{_segment(c)}.",
    "HS256 signed with the public key": lambda c, _t, a: _hs256_with_public_key(c, a),
    "expired": lambda c, _t, _a: _forge({**c, "iat": c["iat"] - 7200, "exp": c["iat"] - 3600}),
    "wrong client id": lambda c, _t, _a: _forge({**c, "client_id": "another-app"}),
    "wrong issuer": lambda c, _t, _a: _forge({**c, "iss": c["iss"] + "x"}),
    "id token instead of access token": lambda _c, _t, _a: "",  # filled from the real id token below
    "tampered payload": lambda c, t, _a: ".".join(
        [t.split(".")[0], _segment({**c, "cognito:groups": ["admin"]}), t.split(".")[2]]),
}


@pytest.mark.parametrize("attack", [*ATTACKS, "token of a logged-out user"])
def test_attack_token_gets_401_and_changes_nothing(auth_cloud: AuthCloud, attack: str) -> None:
    api = auth_cloud.api
    victim = signed_in(api)
    claims = jwt.decode(victim.access_token, options={"verify_signature": False})
    if attack == "token of a logged-out user":
        token = victim.access_token
        assert requests.post(f"{api}/auth/logout", headers=victim.bearer, timeout=10).status_code == 204
    elif attack == "id token instead of access token":
        token = login(api, victim).json()["id_token"]
    else:
        token = ATTACKS[attack](claims, victim.access_token, auth_cloud)
    before = _profile_item(auth_cloud, victim.user_id)

    response = requests.post(f"{api}/auth/roles", json={"role": "host"}, timeout=10,
                             headers={"Authorization": f"Bearer {token}"})

    assert_envelope(response, 401, "unauthorized")
    assert _profile_item(auth_cloud, victim.user_id) == before


# ---- WebSocket $connect ------------------------------------------------------------------------------


def _ws_connect_status(url: str) -> int:
    async def run() -> int:
        async with ClientSession() as session:
            try:
                async with session.ws_connect(url) as ws:
                    await ws.send_str(json.dumps({"action": "ping"}))
                    await ws.receive(timeout=10)
                    return 101
            except WSServerHandshakeError as exc:
                return exc.status

    return asyncio.run(run())


def test_websocket_connect_needs_a_valid_unrevoked_token(auth_cloud: AuthCloud) -> None:
    driver = signed_in(auth_cloud.api)
    base = auth_cloud.websocket

    assert _ws_connect_status(f"{base}/?token={driver.access_token}") == 101
    assert _ws_connect_status(f"{base}/") == 401
    assert _ws_connect_status(f"{base}/?token=not.a.token") == 401
    assert _ws_connect_status(f"{base}/?token={login(auth_cloud.api, driver).json()['id_token']}") == 401
    requests.post(f"{auth_cloud.api}/auth/logout", headers=driver.bearer, timeout=10)
    assert _ws_connect_status(f"{base}/?token={driver.access_token}") == 401


# ---- the authorizer Lambdas as API Gateway calls them ------------------------------------------------


def lambda_context(function_name: str) -> Any:
    # Typed Any: handlers are annotated with Powertools' LambdaContext, which the local one mimics.
    return LocalLambdaContext(function_name=function_name)


def _sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return copy.deepcopy(event)


def test_rest_authorizer_returns_a_stage_wide_policy_and_the_principal(auth_cloud: AuthCloud) -> None:
    driver = signed_in(auth_cloud.api)
    event = _sample("auth_authorizer")
    event["headers"]["Authorization"] = f"Bearer {driver.access_token}"

    answer = authorizer.handler(event, lambda_context("driveway-hub-local-authorizer"))

    assert answer["principalId"] == driver.user_id
    statement = answer["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/*"
    assert answer["context"]["roles"] == "driver" and "booking:create" in answer["context"]["permissions"].split()
    assert all(isinstance(v, str) for v in answer["context"].values())


def test_rest_authorizer_fails_with_unauthorized_for_a_bad_token(auth_cloud: AuthCloud) -> None:
    event = _sample("auth_authorizer")  # its sample token is not signed by the pool

    with pytest.raises(authorizer.Unauthorized, match=r"^Unauthorized$"):
        authorizer.handler(event, lambda_context("driveway-hub-local-authorizer"))


def test_ws_authorizer_allows_just_this_connect(auth_cloud: AuthCloud) -> None:
    driver = signed_in(auth_cloud.api)
    event = _sample("auth_ws_authorizer")
    event["queryStringParameters"] = {"token": driver.access_token}

    answer = ws_authorizer.handler(event, lambda_context("driveway-hub-local-ws-authorizer"))

    assert answer["principalId"] == driver.user_id
    assert answer["policyDocument"]["Statement"][0]["Resource"] == event["methodArn"]


def test_pre_token_generation_answers_a_version_1_event_with_strings(auth_cloud: AuthCloud) -> None:
    host = signed_in(auth_cloud.api, "host")
    event = _sample("auth_pre_token_generation")
    event.update(version="1", response={"claimsOverrideDetails": None})
    event["request"]["userAttributes"]["sub"] = host.user_id
    event["request"].pop("scopes")

    answer = pre_token_generation.handler(event, lambda_context("driveway-hub-local-ptg"))

    claims = answer["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"]
    assert claims["user_type"] == "host" and claims["tesla_linked"] == "false"
    assert "driveway:create" in claims["permissions"].split()


# ---- privacy: export and erasure ---------------------------------------------------------------------


def _profile_item(auth_cloud: AuthCloud, user_id: str) -> dict[str, Any]:
    table = get_settings().tables.users
    item: dict[str, Any] = auth_cloud.cloud.client("dynamodb").get_item(
        TableName=table, Key={"user_id": {"S": user_id}}, ConsistentRead=True).get("Item", {})
    return item


def _tables_mentioning(auth_cloud: AuthCloud, *needles: str) -> dict[str, list[str]]:
    dynamodb = auth_cloud.cloud.client("dynamodb")
    found: dict[str, list[str]] = {}
    for spec in TABLES:
        table = getattr(get_settings().tables, spec.logical_id)
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                text = json.dumps(item).lower()
                found.setdefault(spec.logical_id, []).extend(n for n in needles if n.lower() in text)
    return {table: hits for table, hits in found.items() if hits}


def test_export_then_delete_leaves_no_personal_data_in_any_table(auth_cloud: AuthCloud) -> None:
    api = auth_cloud.api
    user = signed_in(api)
    requests.post(f"{api}/auth/roles", json={"role": "host"}, headers=user.bearer, timeout=10)
    # Something in another table too: an open WebSocket connection is stored under the user id.
    assert _ws_connect_status(f"{auth_cloud.websocket}/?token={user.access_token}") == 101

    export = requests.get(f"{api}/me/export", headers=user.bearer, timeout=10)
    assert export.status_code == 200, export.text
    data = export.json()["data"]
    assert data["profile"]["email"] == user.email and data["profile"]["roles"] == ["driver", "host"]
    assert data["identity"]["attributes"]["name"] == user.name
    assert _tables_mentioning(auth_cloud, user.email, user.name) == {"users": [user.email, user.name]}

    erased = requests.delete(f"{api}/me", headers=user.bearer, timeout=10)

    assert erased.status_code == 202, erased.text
    assert erased.json() == {"user_id": user.user_id, "status": "erased", "kept": ["payments"]}
    assert _tables_mentioning(auth_cloud, user.email, user.name) == {}
    assert _profile_item(auth_cloud, user.user_id)["status"] == {"S": "deleted"}
    cognito = auth_cloud.cloud.client("cognito-idp")
    with pytest.raises(cognito.exceptions.UserNotFoundException):
        cognito.admin_get_user(UserPoolId=auth_cloud.identity.user_pool_id, Username=user.user_id)
    assert_envelope(me(api, user.access_token), 401, "unauthorized")
    assert_envelope(login(api, user), 401, "invalid_credentials")
    assert register(api, User(user.email, "Pat Again", "driver")).status_code == 201  # the email is free again
