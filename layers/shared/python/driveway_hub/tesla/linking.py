"""Linking a Tesla account: ``connect`` (authorize URL) and ``complete`` (Tesla's redirect).

``complete`` refuses a forged, tampered, expired, superseded or replayed ``state`` BEFORE it talks to
Tesla or writes anything (``oauth_state`` module docstring). Then: exchange the code (with
``audience``), store the tokens encrypted under the user (single use of the state is the write's
condition), discover the region (``users/region``) and keep its base URL, list the vehicles and ask
``fleet_status`` which of them still need our virtual key, with the pairing link
``https://tesla.com/_ak/<domain>`` (Tesla never redirects back after pairing: the app re-syncs with
``GET /v1/vehicles?sync=true``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from driveway_hub.errors import InvalidInput
from driveway_hub.observability import logger
from driveway_hub.tesla.errors import InvalidOAuthState, TeslaAuthorizationDenied, TeslaRateLimited, TeslaUnavailable
from driveway_hub.tesla.fleet_client import TeslaFleetClient, TeslaOAuthClient
from driveway_hub.tesla.oauth_state import STATE_TTL_S, OAuthState, sign_state, verify_state
from driveway_hub.tesla.token_store import TokenStore

TESLA_PAIRING_BASE = "https://tesla.com/_ak"


def pairing_url(domain: str | None, base: str | None = None) -> str | None:
    return f"{(base or TESLA_PAIRING_BASE).rstrip('/')}/{domain}" if domain else None


class VehicleSync(Protocol):
    def __call__(self, fleet: TeslaFleetClient, user_id: str, now: datetime) -> list[dict[str, Any]]: ...


class ProfileFlag(Protocol):
    def __call__(self, user_id: str, linked: bool) -> None: ...


@dataclass
class LinkingService:
    store: TokenStore
    oauth: TeslaOAuthClient
    state_key: bytes
    redirect_uri: str
    audience: str
    fleet_for: Callable[[str], TeslaFleetClient]
    sync_vehicles: VehicleSync
    set_profile_linked: ProfileFlag
    clock: Callable[[], datetime]
    pairing_url: str | None = None

    def connect(self, user_id: str) -> dict[str, Any]:
        now = self.clock()
        expires_at = int(now.timestamp()) + STATE_TTL_S
        state = OAuthState(user_id, secrets.token_urlsafe(24), expires_at)
        # Remember this connect (hash only): the callback must present this very nonce, once.
        self.store.begin_link(user_id, state.nonce_hash, expires_at, now)
        signed = sign_state(self.state_key, user_id, state.nonce, expires_at=expires_at)
        return {
            "authorize_url": self.oauth.authorize_url(redirect_uri=self.redirect_uri, state=signed),
            "expires_at": datetime.fromtimestamp(expires_at, now.tzinfo).isoformat(),
        }

    def complete(self, *, code: str | None, state: str | None, error: str | None = None) -> dict[str, Any]:
        now = self.clock()
        parsed = verify_state(self.state_key, state, now=int(now.timestamp()))
        if error:
            raise TeslaAuthorizationDenied(f"Tesla authorization was not granted ({error}).")
        if not code:
            raise InvalidInput("The authorization code is missing.", field="code")
        if not self.store.pending_link_matches(parsed.user_id, parsed.nonce_hash, now):
            # Replayed, superseded by a newer connect, or never issued to this user.
            raise InvalidOAuthState("This authorization was already used or has expired.", field="state")
        answer = self.oauth.exchange_code(code=code, redirect_uri=self.redirect_uri, audience=self.audience, now=now)
        if not answer.tokens.refresh_token:
            raise TeslaAuthorizationDenied("Tesla did not grant offline access; allow it when linking.")
        self.store.link(parsed.user_id, answer.tokens, access_expires_at=answer.expires_at(now),
                        api_base_url=self.audience, scopes=answer.scopes or "", state_hash=parsed.nonce_hash,
                        now=now)
        self.set_profile_linked(parsed.user_id, True)
        logger.info("tesla account linked", extra={"user_id": parsed.user_id})
        result: dict[str, Any] = {"linked": True, "user_id": parsed.user_id}
        try:
            region = self.fleet_for(parsed.user_id).users_region()
            self.store.set_api_base(parsed.user_id, region.fleet_api_base_url, region.region, now)
            result["region"] = region.region
            vehicles = self.sync_vehicles(self.fleet_for(parsed.user_id), parsed.user_id, now)
        except (TeslaUnavailable, TeslaRateLimited) as exc:
            # Linked all the same: the vehicles can be listed later (GET /v1/vehicles?sync=true).
            logger.warning("vehicle sync after linking failed", extra={"code": exc.code})
            result.update(vehicles=[], vehicles_synced=False)
            return result
        needs_pairing = any(v.get("needs_pairing") for v in vehicles)
        result.update(vehicles=vehicles, vehicles_synced=True, pairing_required=needs_pairing,
                      pairing_url=self.pairing_url if needs_pairing else None)
        return result
