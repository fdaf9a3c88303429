"""Access-token verification with pyjwt against the user pool's JWKS, and the authentication both
authorizers share (REST: ``functions/auth/authorizer.py``; WebSocket ``$connect``:
``functions/auth/ws_authorizer.py``).

What a token must be to pass: a JWS signed RS256 (the only algorithm accepted, so ``none`` and an HS256
token "signed" with our public key fail before any key is used) by a key of the pool's JWKS; issued by
the pool (``iss``); for our app client (access tokens carry ``client_id``, not ``aud``); an access token
(``token_use``), not an id token; not expired (``exp``), not used before ``nbf`` or its ``iat``; with
``sub``, ``iat``, ``exp`` and ``jti`` present. Then ``Authenticator`` checks the user's profile: it must
exist, not be erased, and not have logged out since the token was issued (``revoked_before``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKClientConnectionError

from driveway_hub.auth.accounts import UserProfile
from driveway_hub.auth.errors import InvalidToken
from driveway_hub.auth.permissions import Principal
from driveway_hub.errors import UpstreamUnavailable

ALGORITHMS = ("RS256",)
REQUIRED_CLAIMS = ("iss", "sub", "exp", "iat", "token_use", "client_id", "jti")
# A Cognito access token is ~1 KB; anything far larger is not one and is refused before parsing.
MAX_TOKEN_LENGTH = 8 * 1024
# Tolerated clock difference between Cognito and our hosts, for exp/nbf/iat.
LEEWAY_SECONDS = 5
# Cognito rotates signing keys rarely; an unknown ``kid`` makes PyJWKClient refetch at once anyway.
JWKS_CACHE_SECONDS = 3600
JWKS_TIMEOUT_SECONDS = 3


class SigningKeys(Protocol):
    """Finds the key a token names (``kid``). ``jwt.PyJWKClient`` is one; tests use a fixed key set."""

    def get_signing_key_from_jwt(self, token: str) -> PyJWK: ...


class TokenKeysUnavailable(UpstreamUnavailable):
    """The JWKS could not be fetched: we cannot tell a good token from a bad one, so nothing passes."""

    code = "token_keys_unavailable"


@dataclass(frozen=True)
class TokenIssuer:
    """Where tokens come from and whom they are for.

    In AWS the JWKS lives under the issuer URL. The local cloud's moto stamps the real-looking issuer
    ``https://cognito-idp.<region>.amazonaws.com/<pool>`` but serves the JWKS from its own endpoint,
    so the two are configured separately.
    """

    issuer: str
    client_id: str
    jwks_url: str

    @classmethod
    def for_user_pool(
        cls,
        region: str,
        user_pool_id: str,
        client_id: str,
        *,
        endpoint_url: str | None = None,
        issuer: str | None = None,
        jwks_url: str | None = None,
    ) -> TokenIssuer:
        """The pool's issuer and JWKS URL; explicit values win, then the local endpoint, then AWS."""
        issuer = issuer or f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
        if jwks_url is None:
            base = endpoint_url.rstrip("/") + f"/{user_pool_id}" if endpoint_url else issuer
            jwks_url = f"{base}/.well-known/jwks.json"
        return cls(issuer=issuer, client_id=client_id, jwks_url=jwks_url)


@lru_cache(maxsize=8)
def jwks_client(jwks_url: str) -> PyJWKClient:
    """One PyJWKClient per JWKS URL per process: created on first use, then its key cache is reused
    by every invocation of a warm Lambda."""
    return PyJWKClient(
        jwks_url, cache_keys=True, cache_jwk_set=True, lifespan=JWKS_CACHE_SECONDS, timeout=JWKS_TIMEOUT_SECONDS
    )


@dataclass(frozen=True)
class AccessTokenClaims:
    subject: str
    issued_at: int
    expires_at: int
    client_id: str
    token_id: str
    groups: tuple[str, ...]


class AccessTokenVerifier:
    def __init__(self, issuer: TokenIssuer, keys: SigningKeys, *, leeway_seconds: int = LEEWAY_SECONDS):
        self._issuer = issuer
        self._keys = keys
        self._leeway = leeway_seconds

    def verify(self, token: str) -> AccessTokenClaims:
        """The token's claims, or InvalidToken (401); TokenKeysUnavailable when the JWKS is unreachable."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise InvalidToken("Malformed access token.")
        try:
            # Checked before the key lookup too, so a token with a foreign algorithm never makes us
            # fetch the JWKS (an unknown ``kid`` triggers a refetch).
            if jwt.get_unverified_header(token).get("alg") not in ALGORITHMS:
                raise InvalidToken("Token algorithm not accepted.")
            key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(ALGORITHMS),
                issuer=self._issuer.issuer,
                leeway=self._leeway,
                # verify_aud stays on: with no audience expected, a token carrying ``aud`` (an id token)
                # is refused by pyjwt itself, before our token_use check.
                options={"require": list(REQUIRED_CLAIMS), "verify_signature": True, "verify_exp": True,
                         "verify_nbf": True, "verify_iat": True, "verify_iss": True},
            )
        except PyJWKClientConnectionError as exc:
            raise TokenKeysUnavailable("The token signing keys cannot be fetched.") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("Invalid access token.") from exc
        if claims.get("token_use") != "access":
            raise InvalidToken("Not an access token.")
        if claims.get("client_id") != self._issuer.client_id:
            raise InvalidToken("Token issued to another client.")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("Token has no subject.")
        groups = claims.get("cognito:groups") or []
        return AccessTokenClaims(
            subject=subject,
            issued_at=int(claims["iat"]),
            expires_at=int(claims["exp"]),
            client_id=str(claims["client_id"]),
            token_id=str(claims["jti"]),
            groups=tuple(str(g) for g in groups) if isinstance(groups, list) else (),
        )


class ProfileLookup(Protocol):
    def get(self, user_id: str) -> UserProfile | None: ...


class Authenticator:
    """Bearer token -> Principal. The one code path behind the REST and WebSocket authorizers."""

    def __init__(self, verifier: AccessTokenVerifier, profiles: ProfileLookup):
        self._verifier = verifier
        self._profiles = profiles

    def authenticate(self, token: str) -> Principal:
        claims = self._verifier.verify(token)
        profile = self._profiles.get(claims.subject)
        if profile is None or profile.is_deleted:
            raise InvalidToken("Unknown or erased account.")
        if profile.token_revoked(claims.issued_at):
            raise InvalidToken("Token revoked by a logout.")
        # Roles come from the profile, not the token's groups: a role added or removed applies to the
        # next authorization instead of waiting up to an hour for the token to expire.
        return Principal.for_roles(profile.user_id, profile.roles, token_issued_at=claims.issued_at)


def bearer_token(authorization: str | None) -> str:
    """The token in an ``Authorization: Bearer <token>`` header value; InvalidToken if absent/malformed."""
    if not authorization:
        raise InvalidToken("Missing Authorization header.")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise InvalidToken("Authorization header must be 'Bearer <access token>'.")
    return token
