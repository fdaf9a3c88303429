"""Tesla's OAuth server as the backend meets it: code flow with auto-consent, rotating refresh tokens.

Not thread-safe on its own: ``TeslaSimulator`` holds its lock around every call.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from local.tesla_sim.config import KNOWN_SCOPES, SimConfig, SimUser


class OAuthError(Exception):
    """An OAuth error answer: ``{"error": ..., "error_description": ...}`` with ``status``."""

    def __init__(self, status: int, error: str, description: str = "") -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    user: SimUser
    scopes: tuple[str, ...]
    nonce: str | None
    expires_at: float
    used: bool = False


@dataclass
class AccessGrant:
    """What a valid bearer token stands for."""

    token: str
    user: SimUser
    scopes: frozenset[str]
    audience: str
    expires_at: float
    revoked: bool = False


@dataclass
class _RefreshGrant:
    user: SimUser
    scopes: tuple[str, ...]
    audience: str
    access_token: str  # issued together; revoked when this refresh token is spent
    spent: bool = False


class TokenStore:
    def __init__(self, config: SimConfig) -> None:
        self._config = config
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, AccessGrant] = {}
        self._refresh: dict[str, _RefreshGrant] = {}
        # Only for signing the JWT-shaped tokens; the simulator trusts its own table, not signatures.
        self._signing_key = secrets.token_bytes(32)

    # --- authorize -----------------------------------------------------------------------------------

    def authorize(self, params: Mapping[str, str], user: SimUser, now: float) -> str:
        """Auto-consent for ``user``; return the redirect location (with ``code`` or ``error``).

        A bad client or redirect URI is answered directly (OAuth forbids redirecting to an
        unverified URI); other errors go back to the client in the redirect.
        """
        if params.get("client_id") != self._config.client_id:
            raise OAuthError(400, "invalid_client", "unknown client_id")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in self._config.redirect_uris:
            raise OAuthError(400, "invalid_request", "redirect_uri is not registered for this client")
        state = params.get("state")
        if params.get("response_type") != "code":
            return _with_query(redirect_uri, error="unsupported_response_type", state=state)
        scopes = tuple(params.get("scope", "").split())
        unknown = sorted(set(scopes) - KNOWN_SCOPES)
        if "openid" not in scopes or unknown:
            detail = f"unknown scopes: {' '.join(unknown)}" if unknown else "openid is required"
            return _with_query(redirect_uri, error="invalid_scope", error_description=detail, state=state)
        code = f"{user.region.upper()}_{secrets.token_hex(24)}"
        self._codes[code] = _Code(
            client_id=self._config.client_id,
            redirect_uri=redirect_uri,
            user=user,
            scopes=scopes,
            nonce=params.get("nonce"),
            expires_at=now + self._config.auth_code_ttl_s,
        )
        return _with_query(redirect_uri, code=code, state=state)

    # --- token -------------------------------------------------------------------------------------

    def exchange_code(self, form: Mapping[str, str], now: float, issuer: str) -> dict[str, Any]:
        self._check_client(form, secret_required=True)
        code = self._codes.get(form.get("code", ""))
        if code is None or code.used or now >= code.expires_at:
            raise OAuthError(400, "invalid_grant", "authorization code is invalid, expired or already used")
        # Spent even if the rest of the request is wrong: codes are strictly single-use.
        code.used = True
        if form.get("redirect_uri") != code.redirect_uri:
            raise OAuthError(400, "invalid_grant", "redirect_uri does not match the authorize request")
        audience = form.get("audience", "")
        if not audience.startswith(("http://", "https://")):
            raise OAuthError(400, "invalid_request", "audience (the regional Fleet API base URL) is required")
        return self._issue(code.user, code.scopes, audience, now, issuer, nonce=code.nonce)

    def refresh(self, form: Mapping[str, str], now: float, issuer: str) -> dict[str, Any]:
        self._check_client(form, secret_required=False)
        token = form.get("refresh_token", "")
        grant = self._refresh.get(token)
        if grant is None or grant.spent:
            raise OAuthError(401, "login_required", "The refresh_token is invalid")
        grant.spent = True
        previous = self._access.get(grant.access_token)
        if previous is not None:
            previous.revoked = True
        return self._issue(grant.user, grant.scopes, grant.audience, now, issuer, nonce=None)

    def authenticate(self, token: str, now: float) -> AccessGrant | None:
        grant = self._access.get(token)
        if grant is None or grant.revoked or now >= grant.expires_at:
            return None
        return grant

    def expire_access_tokens(self) -> None:
        """Every current access token answers 401 from now on (refresh tokens still work)."""
        for grant in self._access.values():
            grant.revoked = True

    def revoke_refresh_tokens(self) -> None:
        """The user unlinked the app in their Tesla account: the next refresh is ``login_required``."""
        for grant in self._refresh.values():
            grant.spent = True
        self.expire_access_tokens()

    def clear(self) -> None:
        self._codes.clear()
        self._access.clear()
        self._refresh.clear()

    # --- internals -----------------------------------------------------------------------------------

    def _check_client(self, form: Mapping[str, str], *, secret_required: bool) -> None:
        if form.get("client_id") != self._config.client_id:
            raise OAuthError(401, "invalid_client", "unknown client_id")
        if secret_required and not hmac.compare_digest(
            form.get("client_secret", "").encode(), self._config.client_secret.encode()
        ):
            raise OAuthError(401, "invalid_client", "client authentication failed")

    def _issue(
        self, user: SimUser, scopes: tuple[str, ...], audience: str, now: float, issuer: str, *, nonce: str | None
    ) -> dict[str, Any]:
        ttl = self._config.access_token_ttl_s
        issued = int(now)
        # JWT-shaped like Tesla's (some clients read ``ou_code``/``exp`` from them); opaque to the sim.
        access = self._jwt(
            {
                "iss": f"{issuer}/oauth2/v3/nts",
                "azp": self._config.client_id,
                "sub": user.user_id,
                "aud": [audience, f"{issuer}/oauth2/v3/userinfo"],
                "scp": list(scopes),
                "ou_code": user.region.upper(),
                "iat": issued,
                "exp": issued + ttl,
                "jti": secrets.token_hex(8),
            }
        )
        self._access[access] = AccessGrant(access, user, frozenset(scopes), audience, now + ttl)
        id_claims: dict[str, Any] = {
            "iss": f"{issuer}/oauth2/v3",
            "aud": self._config.client_id,
            "sub": user.user_id,
            "email": user.email,
            "name": user.name,
            "iat": issued,
            "exp": issued + ttl,
        }
        if nonce:
            id_claims["nonce"] = nonce
        answer: dict[str, Any] = {
            "access_token": access,
            "id_token": self._jwt(id_claims),
            "expires_in": ttl,
            "token_type": "Bearer",
        }
        # As at Tesla, only offline_access yields a refresh token.
        if "offline_access" in scopes:
            refresh = f"{user.region.upper()}_{secrets.token_hex(32)}"
            self._refresh[refresh] = _RefreshGrant(user, scopes, audience, access)
            answer["refresh_token"] = refresh
        return answer

    def _jwt(self, claims: Mapping[str, Any]) -> str:
        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "tesla-sim"}).encode())
        payload = b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._signing_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{b64(signature)}"


def _with_query(url: str, **params: str | None) -> str:
    parts = urlsplit(url)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
