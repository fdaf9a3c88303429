"""The OAuth ``state`` parameter: signed, expiring, bound to the caller, single use.

``state = base64url(payload) + "." + base64url(HMAC-SHA256(key, payload))`` where the payload is
``{"u": user_id, "n": nonce, "exp": unix seconds}``. Tesla's redirect reaches our callback from the
user's browser without our bearer token, so the state is what says who started the link. The HMAC
stops forgery and tampering, ``exp`` bounds its life (10 minutes), and the callback additionally
requires the nonce's hash to be the one ``connect`` stored for that user (a conditional write then
removes it), so a state works once and only the latest connect of that user counts.

The key comes from Secrets Manager (the Tesla secret's ``oauth_state_key``, else derived from the
client secret with a purpose label so the same bytes are never used for two things).

Example
-------
>>> key = b"k" * 32
>>> state = sign_state(key, "user-1", "nonce", expires_at=2_000_000_000)
>>> verify_state(key, state, now=1_999_999_000).user_id
'user-1'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from driveway_hub.tesla.errors import InvalidOAuthState

STATE_TTL_S = 600
_MAX_STATE_LEN = 1024


@dataclass(frozen=True)
class OAuthState:
    user_id: str
    nonce: str
    expires_at: int

    @property
    def nonce_hash(self) -> str:
        """What is stored server-side: the nonce itself never needs to be at rest."""
        return hashlib.sha256(self.nonce.encode()).hexdigest()


def derive_state_key(client_secret: str) -> bytes:
    return hmac.new(client_secret.encode(), b"driveway-hub/tesla/oauth-state/v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_state(key: bytes, user_id: str, nonce: str, *, expires_at: int) -> str:
    payload = json.dumps({"u": user_id, "n": nonce, "exp": expires_at}, separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(hmac.new(key, payload, hashlib.sha256).digest())}"


def verify_state(key: bytes, state: str | None, *, now: int) -> OAuthState:
    """The state's content, or InvalidOAuthState (forged, tampered, malformed or expired)."""
    if not state or len(state) > _MAX_STATE_LEN or state.count(".") != 1:
        raise InvalidOAuthState("The authorization state is missing or malformed.", field="state")
    encoded_payload, encoded_mac = state.split(".")
    try:
        payload, mac = _unb64(encoded_payload), _unb64(encoded_mac)
    except ValueError as exc:
        raise InvalidOAuthState("The authorization state is malformed.", field="state") from exc
    if not hmac.compare_digest(mac, hmac.new(key, payload, hashlib.sha256).digest()):
        raise InvalidOAuthState("The authorization state is not one we issued.", field="state")
    try:
        data = json.loads(payload)
        parsed = OAuthState(str(data["u"]), str(data["n"]), int(data["exp"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidOAuthState("The authorization state is malformed.", field="state") from exc
    if parsed.expires_at <= now:
        raise InvalidOAuthState("The authorization state has expired; start linking again.", field="state")
    return parsed
