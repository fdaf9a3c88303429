"""Tesla OAuth tokens at rest: encrypted with KMS, refreshed by one writer at a time.

Encryption
----------
Envelope encryption (``KmsTokenCipher``): one ``GenerateDataKey`` per write, AES-256-GCM over the
token bundle locally, the data key stored encrypted beside it. The KMS encryption context is
``{"user_id": <user>}`` and the same user id is the GCM associated data, so a bundle copied onto
another user's item cannot be decrypted (KMS refuses the context). A bundle is ~2-3 KB (Tesla access
tokens are long JWTs), too close to KMS ``Encrypt``'s 4 KB limit to encrypt directly. Tokens are never
logged: ``TokenSet.__repr__`` redacts them.

Refresh, single writer (research/tesla.md: every refresh rotates the refresh token and spends the old)
------------------------------------------------------------------------------------------------------
1. ``claim_refresh``: a conditional update taking a short lease, only if ``token_version`` is still
   the one the caller read and no unexpired lease exists. Exactly one invocation wins.
2. The winner calls Tesla once, then ``commit_refresh`` writes the new bundle, ``token_version + 1``,
   and drops the lease, on condition that it still holds the lease.
3. A loser re-reads (``load``): a newer ``token_version`` means the winner's tokens are there to use.
   The client decides how long a loser may wait (bounded; see ``fleet_client``).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from driveway_hub.config import ConfigurationError
from driveway_hub.data.vehicles import TeslaAccountRecord
from driveway_hub.tesla.errors import InvalidOAuthState, TeslaNotLinked

_CONDITION_FAILED = "ConditionalCheckFailedException"
# A refresh is one HTTP call with a 13 s timeout budget; the lease outlives it so a slow winner is
# never overtaken (an overtaking second refresh would spend the rotated token and unlink the account).
REFRESH_LEASE_S = 30


@dataclass(frozen=True)
class TokenSet:
    """Plaintext tokens, in memory only."""

    access_token: str
    refresh_token: str

    def __repr__(self) -> str:
        return "TokenSet(<redacted>)"

    def to_bytes(self) -> bytes:
        return json.dumps({"a": self.access_token, "r": self.refresh_token}, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> TokenSet:
        data = json.loads(raw)
        return cls(access_token=data["a"], refresh_token=data["r"])


@dataclass(frozen=True)
class AccountTokens:
    """A linked account's current tokens and where to use them."""

    user_id: str
    tokens: TokenSet
    access_expires_at: int  # unix seconds
    version: int
    api_base_url: str | None
    region: str | None = None


@dataclass(frozen=True)
class EncryptedBundle:
    data_key: bytes
    nonce: bytes
    ciphertext: bytes


class TokenCipher(Protocol):
    def encrypt(self, user_id: str, plaintext: bytes) -> EncryptedBundle: ...

    def decrypt(self, user_id: str, bundle: EncryptedBundle) -> bytes: ...


class KmsTokenCipher:
    """AES-256-GCM with a KMS data key per write (see the module docstring)."""

    def __init__(self, kms: Any, key_id: str | None):
        # Optional here so a function that only starts linking (no token) needs no KMS access.
        self._kms = kms
        self._configured_key_id = key_id

    @property
    def _key_id(self) -> str:
        if not self._configured_key_id:
            raise ConfigurationError("missing configuration: TESLA_TOKEN_KEY_ID")
        return self._configured_key_id

    def encrypt(self, user_id: str, plaintext: bytes) -> EncryptedBundle:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # only token writers pay the import

        key = self._kms.generate_data_key(KeyId=self._key_id, KeySpec="AES_256",
                                          EncryptionContext=_context(user_id))
        nonce = os.urandom(12)
        ciphertext = AESGCM(key["Plaintext"]).encrypt(nonce, plaintext, _aad(user_id))
        return EncryptedBundle(data_key=key["CiphertextBlob"], nonce=nonce, ciphertext=ciphertext)

    def decrypt(self, user_id: str, bundle: EncryptedBundle) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = self._kms.decrypt(CiphertextBlob=bundle.data_key, KeyId=self._key_id,
                                EncryptionContext=_context(user_id))
        plaintext: bytes = AESGCM(key["Plaintext"]).decrypt(bundle.nonce, bundle.ciphertext, _aad(user_id))
        return plaintext


def _context(user_id: str) -> dict[str, str]:
    return {"user_id": user_id}


def _aad(user_id: str) -> bytes:
    return f"driveway-hub/tesla-tokens/{user_id}".encode()


class TokenStore(Protocol):
    def load(self, user_id: str) -> AccountTokens: ...

    def is_linked(self, user_id: str) -> bool: ...

    def begin_link(self, user_id: str, state_hash: str, expires_at: int, now: datetime) -> None: ...

    def pending_link_matches(self, user_id: str, state_hash: str, now: datetime) -> bool: ...

    def link(self, user_id: str, tokens: TokenSet, *, access_expires_at: int, api_base_url: str,
             scopes: str, state_hash: str, now: datetime) -> AccountTokens: ...

    def claim_refresh(self, user_id: str, version: int, claim_id: str, now: datetime) -> bool: ...

    def commit_refresh(self, user_id: str, claim_id: str, tokens: TokenSet, *, access_expires_at: int,
                       now: datetime) -> AccountTokens | None: ...

    def release_refresh(self, user_id: str, claim_id: str) -> None: ...

    def set_api_base(self, user_id: str, api_base_url: str, region: str | None, now: datetime) -> None: ...

    def mark_unlinked(self, user_id: str, reason: str, now: datetime) -> None: ...


def new_claim_id() -> str:
    return secrets.token_hex(12)


class DynamoTokenStore:
    """``TokenStore`` on the ``tesla_accounts`` table. Call ``bind_models(settings)`` first."""

    def __init__(self, cipher: TokenCipher):
        self._cipher = cipher

    # ---- reads -----------------------------------------------------------------------------------
    def _record(self, user_id: str) -> TeslaAccountRecord | None:
        try:
            # Strongly consistent: a loser of the refresh race must see the winner's commit.
            return TeslaAccountRecord.get(user_id, consistent_read=True)
        except DoesNotExist:
            return None

    def load(self, user_id: str) -> AccountTokens:
        record = self._record(user_id)
        if record is None or record.status != "linked" or record.token_ciphertext is None:
            raise TeslaNotLinked("No Tesla account is linked; link one with GET /v1/tesla/connect.")
        bundle = EncryptedBundle(record.token_data_key or b"", record.token_nonce or b"", record.token_ciphertext)
        tokens = TokenSet.from_bytes(self._cipher.decrypt(user_id, bundle))
        return AccountTokens(
            user_id=user_id,
            tokens=tokens,
            access_expires_at=int(record.access_expires_at or 0),
            version=int(record.token_version or 0),
            api_base_url=record.api_base_url,
            region=record.region,
        )

    def is_linked(self, user_id: str) -> bool:
        record = self._record(user_id)
        return record is not None and record.status == "linked"

    # ---- linking -----------------------------------------------------------------------------------
    def begin_link(self, user_id: str, state_hash: str, expires_at: int, now: datetime) -> None:
        # An update (not a put): an already linked account keeps working until the new link completes.
        TeslaAccountRecord(user_id).update(actions=[
            TeslaAccountRecord.pending_state_hash.set(state_hash),
            TeslaAccountRecord.pending_state_expires_at.set(expires_at),
            TeslaAccountRecord.status.set(TeslaAccountRecord.status | "pending"),
            TeslaAccountRecord.updated_at.set(now.isoformat()),
        ])

    def pending_link_matches(self, user_id: str, state_hash: str, now: datetime) -> bool:
        record = self._record(user_id)
        return (
            record is not None
            and record.pending_state_hash == state_hash
            and int(record.pending_state_expires_at or 0) > int(now.timestamp())
        )

    def link(self, user_id: str, tokens: TokenSet, *, access_expires_at: int, api_base_url: str,
             scopes: str, state_hash: str, now: datetime) -> AccountTokens:
        bundle = self._cipher.encrypt(user_id, tokens.to_bytes())
        record = TeslaAccountRecord(user_id)
        try:
            record.update(
                actions=[
                    TeslaAccountRecord.status.set("linked"),
                    TeslaAccountRecord.token_ciphertext.set(bundle.ciphertext),
                    TeslaAccountRecord.token_data_key.set(bundle.data_key),
                    TeslaAccountRecord.token_nonce.set(bundle.nonce),
                    # A new generation: any refresh lease on the old tokens is void.
                    TeslaAccountRecord.token_version.add(1),
                    TeslaAccountRecord.access_expires_at.set(access_expires_at),
                    TeslaAccountRecord.api_base_url.set(api_base_url),
                    TeslaAccountRecord.scopes.set(scopes),
                    TeslaAccountRecord.linked_at.set(now.isoformat()),
                    TeslaAccountRecord.updated_at.set(now.isoformat()),
                    TeslaAccountRecord.unlinked_reason.remove(),
                    TeslaAccountRecord.pending_state_hash.remove(),
                    TeslaAccountRecord.pending_state_expires_at.remove(),
                    TeslaAccountRecord.refresh_claim.remove(),
                    TeslaAccountRecord.refresh_claim_until.remove(),
                ],
                # Single use: the nonce of the connect request that produced this state, unexpired.
                condition=(TeslaAccountRecord.pending_state_hash == state_hash)
                & (TeslaAccountRecord.pending_state_expires_at > int(now.timestamp())),
            )
        except UpdateError as exc:
            if exc.cause_response_code == _CONDITION_FAILED:
                raise InvalidOAuthState("This authorization was already used or has expired.") from exc
            raise
        return AccountTokens(user_id, tokens, access_expires_at, int(record.token_version), api_base_url,
                             record.region)

    # ---- refresh -----------------------------------------------------------------------------------
    def claim_refresh(self, user_id: str, version: int, claim_id: str, now: datetime) -> bool:
        now_s = int(now.timestamp())
        free = TeslaAccountRecord.refresh_claim_until.does_not_exist() | (
            TeslaAccountRecord.refresh_claim_until < now_s
        )
        try:
            TeslaAccountRecord(user_id).update(
                actions=[
                    TeslaAccountRecord.refresh_claim.set(claim_id),
                    TeslaAccountRecord.refresh_claim_until.set(now_s + REFRESH_LEASE_S),
                ],
                condition=(TeslaAccountRecord.status == "linked")
                & (TeslaAccountRecord.token_version == version) & free,
            )
        except UpdateError as exc:
            if exc.cause_response_code == _CONDITION_FAILED:
                return False
            raise
        return True

    def commit_refresh(self, user_id: str, claim_id: str, tokens: TokenSet, *, access_expires_at: int,
                       now: datetime) -> AccountTokens | None:
        bundle = self._cipher.encrypt(user_id, tokens.to_bytes())
        record = TeslaAccountRecord(user_id)
        try:
            record.update(
                actions=[
                    TeslaAccountRecord.token_ciphertext.set(bundle.ciphertext),
                    TeslaAccountRecord.token_data_key.set(bundle.data_key),
                    TeslaAccountRecord.token_nonce.set(bundle.nonce),
                    TeslaAccountRecord.token_version.add(1),
                    TeslaAccountRecord.access_expires_at.set(access_expires_at),
                    TeslaAccountRecord.updated_at.set(now.isoformat()),
                    TeslaAccountRecord.refresh_claim.remove(),
                    TeslaAccountRecord.refresh_claim_until.remove(),
                ],
                condition=TeslaAccountRecord.refresh_claim == claim_id,
            )
        except UpdateError as exc:
            if exc.cause_response_code == _CONDITION_FAILED:
                return None
            raise
        return AccountTokens(user_id, tokens, access_expires_at, int(record.token_version), record.api_base_url,
                             record.region)

    def release_refresh(self, user_id: str, claim_id: str) -> None:
        try:
            TeslaAccountRecord(user_id).update(
                actions=[TeslaAccountRecord.refresh_claim.remove(), TeslaAccountRecord.refresh_claim_until.remove()],
                condition=TeslaAccountRecord.refresh_claim == claim_id,
            )
        except UpdateError as exc:
            if exc.cause_response_code != _CONDITION_FAILED:
                raise

    # ---- account changes ---------------------------------------------------------------------------
    def set_api_base(self, user_id: str, api_base_url: str, region: str | None, now: datetime) -> None:
        actions: list[Action] = [TeslaAccountRecord.api_base_url.set(api_base_url),
                   TeslaAccountRecord.updated_at.set(now.isoformat())]
        if region:
            actions.append(TeslaAccountRecord.region.set(region))
        try:
            TeslaAccountRecord(user_id).update(actions=actions, condition=TeslaAccountRecord.user_id.exists())
        except UpdateError as exc:
            if exc.cause_response_code != _CONDITION_FAILED:
                raise

    def mark_unlinked(self, user_id: str, reason: str, now: datetime) -> None:
        try:
            TeslaAccountRecord(user_id).update(
                actions=[
                    TeslaAccountRecord.status.set("unlinked"),
                    TeslaAccountRecord.unlinked_reason.set(reason),
                    TeslaAccountRecord.updated_at.set(now.isoformat()),
                    # Spent tokens are useless and still secrets: do not keep them.
                    TeslaAccountRecord.token_ciphertext.remove(),
                    TeslaAccountRecord.token_data_key.remove(),
                    TeslaAccountRecord.token_nonce.remove(),
                    TeslaAccountRecord.refresh_claim.remove(),
                    TeslaAccountRecord.refresh_claim_until.remove(),
                ],
                condition=TeslaAccountRecord.user_id.exists(),
            )
        except UpdateError as exc:
            if exc.cause_response_code != _CONDITION_FAILED:
                raise
