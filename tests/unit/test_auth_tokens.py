"""Access-token verification: the attack list, each refused by the one code path both authorizers use.

Tokens are signed with an RSA key generated here and served through a fixed key set standing in for the
pool's JWKS, so these tests need no network and no moto.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWK, PyJWKClientConnectionError, PyJWKClientError, PyJWKSet

from driveway_hub.auth.accounts import UserProfile
from driveway_hub.auth.errors import InvalidToken
from driveway_hub.auth.tokens import (
    AccessTokenVerifier,
    Authenticator,
    TokenIssuer,
    TokenKeysUnavailable,
    bearer_token,
)

REGION = "us-east-1"
POOL = "us-east-1_TestPool1"
CLIENT_ID = "test-app-client"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}"
KID = "test-key-1"
USER_ID = "5f0c8d1e-2a3b-4c5d-8e9f-0a1b2c3d4e5f"

POOL_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ATTACKER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = POOL_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def _jwks() -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(POOL_KEY.public_key()))
    jwk.update(kid=KID, alg="RS256", use="sig")
    return {"keys": [jwk]}


class FixedKeys:
    """The pool's JWKS without HTTP: what PyJWKClient.get_signing_key_from_jwt does, over a fixed set."""

    def __init__(self, jwks: dict[str, Any]):
        self._keys = PyJWKSet.from_dict(jwks).keys

    def get_signing_key_from_jwt(self, token: str) -> PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self._keys:
            if key.key_id == kid:
                return key
        raise PyJWKClientError(f"Unable to find a signing key that matches: {kid!r}")


class Profiles:
    def __init__(self, *profiles: UserProfile):
        self.by_id = {p.user_id: p for p in profiles}
        self.writes = 0  # authentication must never write

    def get(self, user_id: str) -> UserProfile | None:
        return self.by_id.get(user_id)


def driver_profile(**changes: Any) -> UserProfile:
    profile = UserProfile(
        user_id=USER_ID, email="dana@example.com", name="Dana", roles=("driver",),
        created_at="2026-11-24T10:00:00+00:00",
    )
    return replace(profile, **changes)


def access_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER, "sub": USER_ID, "client_id": CLIENT_ID, "token_use": "access", "iat": now,
        "auth_time": now, "exp": now + 3600, "jti": str(uuid.uuid4()), "username": USER_ID,
        "scope": "aws.cognito.signin.user.admin", "cognito:groups": ["driver"],
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign(claims: dict[str, Any], key: Any = POOL_KEY, kid: str = KID) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def unsigned_alg_none() -> str:
    return f"{_segment({'alg': 'none', 'kid': KID, 'typ': 'JWT'})}.{_segment(access_claims())}."


def hs256_signed_with_public_key() -> str:
    # The classic key-confusion forgery: HMAC "signed" with the RSA public key anyone can download.
    signing_input = f"{_segment({'alg': 'HS256', 'kid': KID, 'typ': 'JWT'})}.{_segment(access_claims())}"
    signature = hmac.new(PUBLIC_PEM, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def tampered_payload() -> str:
    header, _, signature = sign(access_claims()).split(".")
    # Same signature, payload promoted to admin of someone else's account.
    return f"{header}.{_segment(access_claims(sub='someone-else', **{'cognito:groups': ['admin']}))}.{signature}"


def id_token() -> str:
    # What Cognito puts in an id token: aud instead of client_id, token_use "id".
    return sign(access_claims(token_use="id", client_id=None, aud=CLIENT_ID, email="dana@example.com"))


def verifier(keys: Any = None) -> AccessTokenVerifier:
    issuer = TokenIssuer(ISSUER, CLIENT_ID, f"{ISSUER}/.well-known/jwks.json")
    return AccessTokenVerifier(issuer, keys or FixedKeys(_jwks()))


def now() -> int:
    return int(time.time())


Attack = tuple[Callable[[], str], Callable[[], UserProfile]]
# Each attack: how to make the token, and the victim's profile at the time it is presented (both built
# when the test runs, so "now" is the test's now).
ATTACKS: dict[str, Attack] = {
    "alg none": (unsigned_alg_none, driver_profile),
    "HS256 signed with the public key": (hs256_signed_with_public_key, driver_profile),
    "expired": (lambda: sign(access_claims(iat=now() - 7200, exp=now() - 60)), driver_profile),
    "not valid yet (nbf)": (lambda: sign(access_claims(nbf=now() + 600)), driver_profile),
    "issued in the future (iat)": (lambda: sign(access_claims(iat=now() + 600)), driver_profile),
    "wrong client id": (lambda: sign(access_claims(client_id="another-app")), driver_profile),
    "wrong issuer": (lambda: sign(access_claims(iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other")),
                     driver_profile),
    "id token instead of access token": (id_token, driver_profile),
    "id token that also carries client_id": (lambda: sign(access_claims(token_use="id", aud=CLIENT_ID)),
                                             driver_profile),
    "token_use other than access": (lambda: sign(access_claims(token_use="id")), driver_profile),
    "tampered payload": (tampered_payload, driver_profile),
    "signed by another key under our kid": (lambda: sign(access_claims(), key=ATTACKER_KEY), driver_profile),
    "unknown kid": (lambda: sign(access_claims(), kid="not-in-jwks"), driver_profile),
    "missing jti": (lambda: sign(access_claims(jti=None)), driver_profile),
    "missing exp": (lambda: sign(access_claims(exp=None)), driver_profile),
    # Issued 30 s ago, logged out since.
    "logged-out user": (lambda: sign(access_claims(iat=now() - 30)), lambda: driver_profile(revoked_before=now())),
    "erased user": (lambda: sign(access_claims()), lambda: driver_profile(status="deleted", email=None, name=None)),
    "unknown user": (lambda: sign(access_claims(sub="no-such-user")), driver_profile),
    "garbage": (lambda: "not.a.jwt", driver_profile),
    "oversized": (lambda: "a" * 9000 + ".b.c", driver_profile),
}


@pytest.mark.parametrize("attack", list(ATTACKS), ids=list(ATTACKS))
def test_attack_token_is_refused_and_changes_nothing(attack: str) -> None:
    make_token, make_profile = ATTACKS[attack]
    profile = make_profile()
    profiles = Profiles(profile)

    with pytest.raises(InvalidToken):
        Authenticator(verifier(), profiles).authenticate(make_token())

    assert profiles.by_id == {profile.user_id: profile}
    assert profiles.writes == 0


def test_valid_access_token_gives_the_profile_roles_and_permissions() -> None:
    token = sign(access_claims())

    principal = Authenticator(verifier(), Profiles(driver_profile(roles=("driver", "host")))).authenticate(token)

    assert principal.user_id == USER_ID
    assert principal.roles == ("driver", "host")
    assert {"booking:create", "driveway:create", "account:manage"} <= principal.permissions


def test_token_issued_in_the_logout_second_is_refused_and_the_next_second_accepted() -> None:
    issued_at = int(time.time()) - 10
    profiles = Profiles(driver_profile(revoked_before=issued_at))
    authenticator = Authenticator(verifier(), profiles)

    with pytest.raises(InvalidToken):
        authenticator.authenticate(sign(access_claims(iat=issued_at)))
    assert authenticator.authenticate(sign(access_claims(iat=issued_at + 1))).user_id == USER_ID


def test_unreachable_jwks_is_an_upstream_failure_not_a_401() -> None:
    class Unreachable:
        def get_signing_key_from_jwt(self, token: str) -> PyJWK:
            raise PyJWKClientConnectionError("connection refused")

    with pytest.raises(TokenKeysUnavailable):
        verifier(Unreachable()).verify(sign(access_claims()))


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a b", "token abc"])
def test_missing_or_malformed_authorization_header_is_refused(header: str | None) -> None:
    with pytest.raises(InvalidToken):
        bearer_token(header)


def test_bearer_scheme_is_case_insensitive() -> None:
    assert bearer_token("bearer abc.def.ghi") == "abc.def.ghi"


def test_issuer_and_jwks_url_for_aws_the_local_cloud_and_overrides() -> None:
    aws = TokenIssuer.for_user_pool(REGION, POOL, CLIENT_ID)
    local = TokenIssuer.for_user_pool(REGION, POOL, CLIENT_ID, endpoint_url="http://127.0.0.1:5000/")
    overridden = TokenIssuer.for_user_pool(REGION, POOL, CLIENT_ID, issuer="https://idp.test", jwks_url="https://keys.test")

    assert aws.jwks_url == f"{ISSUER}/.well-known/jwks.json"
    assert local.issuer == ISSUER
    assert local.jwks_url == f"http://127.0.0.1:5000/{POOL}/.well-known/jwks.json"
    assert (overridden.issuer, overridden.jwks_url) == ("https://idp.test", "https://keys.test")
