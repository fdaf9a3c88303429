"""The Tesla Fleet API and OAuth client: one module, requests-based, typed results.

Rules it follows (research/tesla.md):

- **Base URL** per account (the regional Fleet API), discovered with ``users/region`` and corrected on
  a 421 from the URL in the answer (persisted). Signed commands can go to a tesla-http-proxy instead
  (``command_base``): Fleet API directly, or the proxy, is configuration.
- **Tokens**: refreshed ``REFRESH_MARGIN_S`` before they expire and once on a bodyless 401, by ONE
  writer (``token_store`` module docstring). A loser of the race re-reads the winner's tokens; it waits
  for them at most ``sum(LOSER_WAITS_S)`` (about 1.5 s: one HTTP round trip of the winner), then
  gives up with the retryable ``TokenRefreshInProgress``. That short, bounded wait is the only wait in
  this module: 408/429/503 are raised (``VehicleAsleep``, ``TeslaRateLimited`` with ``retry_after_s``,
  ``TeslaUnavailable``) for the caller to retry later, in Step Functions or in the client app.
- ``login_required`` marks the account unlinked (``TeslaLoginRequired``); 403 names the cause
  (scope vs. Vehicle Command Protocol); the proxy's 500 "public key has not been paired" is
  ``VirtualKeyNotPaired`` with the pairing link.
- Bounded timeouts on every call (``TIMEOUT``); tokens never appear in logs or exceptions.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn, Protocol
from urllib.parse import urlencode

import requests

from driveway_hub import business_metrics
from driveway_hub.observability import logger
from driveway_hub.tesla.errors import (
    TeslaAuthorizationDenied,
    TeslaLoginRequired,
    TeslaNotRegistered,
    TeslaRateLimited,
    TeslaRequestRejected,
    TeslaScopeMissing,
    TeslaUnavailable,
    TokenRefreshInProgress,
    VehicleAsleep,
    VehicleCommandProtocolRequired,
    VehicleNotFound,
    VirtualKeyNotPaired,
)
from driveway_hub.tesla.token_store import AccountTokens, TokenSet, TokenStore, new_claim_id

DEFAULT_FLEET_API_BASE = "https://fleet-api.prd.na.vn.cloud.tesla.com"
DEFAULT_AUTHORIZE_URL = "https://auth.tesla.com/oauth2/v3/authorize"
DEFAULT_TOKEN_URL = "https://fleet-auth.prd.vn.cloud.tesla.com/oauth2/v3/token"  # noqa: S105 - a URL
SCOPES = "openid offline_access vehicle_device_data vehicle_location vehicle_cmds"
# (connect, read) seconds: well inside API Gateway's 29 s, even with one refresh and one retry.
TIMEOUT = (3.05, 8.0)
REFRESH_MARGIN_S = 300
LOSER_WAITS_S = (0.05, 0.1, 0.2, 0.4, 0.8)
DEFAULT_RETRY_AFTER_S = 60

_BASE_URL_IN_421 = re.compile(r"(https?://[^\s,;\"']+)")
_PAIRING_REJECTION = "public key has not been paired"
_PROTOCOL_REQUIRED = "vehicle command protocol required"


class HttpResponse(Protocol):
    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...

    def json(self) -> Any: ...


class HttpSession(Protocol):
    """What the client needs of ``requests.Session`` (tests hand in a fake)."""

    def request(self, method: str, url: str, **kwargs: Any) -> HttpResponse: ...


# === typed results ==================================================================================


@dataclass(frozen=True)
class Vehicle:
    id: int
    vehicle_id: int | None
    vin: str
    display_name: str | None
    state: str  # online | asleep | offline

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Vehicle:
        return cls(
            id=int(raw["id"]),
            vehicle_id=int(raw["vehicle_id"]) if raw.get("vehicle_id") is not None else None,
            vin=str(raw["vin"]),
            display_name=raw.get("display_name"),
            state=str(raw.get("state") or "unknown"),
        )


@dataclass(frozen=True)
class DriveState:
    latitude: float | None
    longitude: float | None
    heading: float | None
    speed_mph: float | None
    shift_state: str | None  # None | P | R | N | D
    at: datetime | None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> DriveState:
        at = None
        if raw.get("timestamp") is not None:
            at = datetime.fromtimestamp(int(raw["timestamp"]) / 1000, UTC)
        elif raw.get("gps_as_of") is not None:
            at = datetime.fromtimestamp(int(raw["gps_as_of"]), UTC)
        return cls(
            latitude=_float_or_none(raw.get("latitude")),
            longitude=_float_or_none(raw.get("longitude")),
            heading=_float_or_none(raw.get("heading")),
            speed_mph=_float_or_none(raw.get("speed")),
            shift_state=raw.get("shift_state"),
            at=at,
        )


@dataclass(frozen=True)
class VehicleData:
    vin: str
    state: str
    drive_state: DriveState | None
    battery_level: int | None
    locked: bool | None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> VehicleData:
        drive = raw.get("drive_state")
        charge = raw.get("charge_state") or {}
        vehicle_state = raw.get("vehicle_state") or {}
        battery = charge.get("battery_level")
        return cls(
            vin=str(raw.get("vin")),
            state=str(raw.get("state") or "online"),
            drive_state=DriveState.parse(drive) if isinstance(drive, Mapping) else None,
            battery_level=int(battery) if battery is not None else None,
            locked=vehicle_state.get("locked"),
        )


@dataclass(frozen=True)
class FleetStatus:
    key_paired_vins: frozenset[str]
    unpaired_vins: frozenset[str]
    protocol_required: Mapping[str, bool]
    firmware_version: Mapping[str, str]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> FleetStatus:
        info = raw.get("vehicle_info") or {}
        return cls(
            key_paired_vins=frozenset(raw.get("key_paired_vins") or ()),
            unpaired_vins=frozenset(raw.get("unpaired_vins") or ()),
            protocol_required={v: bool(i.get("vehicle_command_protocol_required")) for v, i in info.items()},
            firmware_version={v: str(i.get("firmware_version")) for v, i in info.items() if i.get("firmware_version")},
        )


@dataclass(frozen=True)
class CommandResult:
    result: bool
    reason: str
    queued: bool = False

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> CommandResult:
        raw = raw or {}
        return cls(bool(raw.get("result")), str(raw.get("reason") or ""), bool(raw.get("queued")))


@dataclass(frozen=True)
class UserRegion:
    region: str
    fleet_api_base_url: str


@dataclass(frozen=True)
class TokenAnswer:
    tokens: TokenSet
    expires_in: int
    scopes: str | None

    def expires_at(self, now: datetime) -> int:
        return int(now.timestamp()) + self.expires_in


@dataclass(frozen=True)
class TeslaApp:
    """Our app registration (from Secrets Manager)."""

    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"TeslaApp(client_id={self.client_id!r}, client_secret=<redacted>)"


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


# === error mapping ==================================================================================


def _body(response: HttpResponse) -> Mapping[str, Any] | None:
    if not response.content:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, Mapping) else None


def _error_text(body: Mapping[str, Any] | None) -> str:
    if not body:
        return ""
    parts = [body.get("error"), body.get("error_description")]
    return " ".join(str(p) for p in parts if p)


def retry_after_seconds(headers: Mapping[str, str], now: datetime) -> int:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); a default when absent or odd."""
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if raw is None:
        return DEFAULT_RETRY_AFTER_S
    raw = raw.strip()
    if raw.isdigit():
        return int(raw)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_S
    return max(0, int((when - now).total_seconds()))


def raise_for_answer(response: HttpResponse, *, now: datetime, pairing_url: str | None = None) -> NoReturn:
    """Raise the domain error a non-2xx Fleet API answer means (421 and bodyless 401 are handled by
    the client before this is reached)."""
    status = response.status_code
    body = _body(response)
    text = _error_text(body)
    lowered = text.lower()
    if status == 401:
        if "login_required" in lowered:
            raise TeslaLoginRequired("Tesla no longer accepts this account's tokens; link it again.")
        raise TeslaUnavailable("Tesla refused our access token.", status=status)
    if status == 403:
        if _PROTOCOL_REQUIRED in lowered:
            raise VehicleCommandProtocolRequired(
                "This car only accepts signed commands (Vehicle Command Protocol); they must go through "
                "tesla-http-proxy."
            )
        if "scope" in lowered:
            raise TeslaScopeMissing("The Tesla account was linked without a scope this needs; link it again.")
        raise TeslaRequestRejected(f"Tesla refused the request (403): {text}", status=status)
    if status == 404:
        raise VehicleNotFound("Tesla does not know this vehicle for this account.")
    if status == 408:
        raise VehicleAsleep("The car is asleep or offline.", retry_after_s=10, status=status)
    if status == 412:
        raise TeslaNotRegistered("Our app is not registered with Tesla in this account's region.")
    if status == 429:
        seconds = retry_after_seconds(response.headers, now)
        raise TeslaRateLimited(f"Tesla rate limit reached; retry after {seconds} s.", retry_after_s=seconds)
    if status == 500 and _PAIRING_REJECTION in lowered:
        raise VirtualKeyNotPaired(
            "The car has not paired our virtual key; the owner must add it.", pairing_url=pairing_url
        )
    if status >= 500:
        # 503: service/vehicle timeout, 540: vehicle error; both worth a bounded retry.
        raise TeslaUnavailable(f"Tesla answered {status}.", retry_after_s=10, status=status)
    raise TeslaRequestRejected(f"Tesla rejected the request ({status}): {text}", status=status)


def base_url_from_421(response: HttpResponse) -> str | None:
    """The regional base URL a 421 names ("user out of region, use base URL: <url>, see ...")."""
    text = _error_text(_body(response))
    marker = text.lower().find("base url")
    match = _BASE_URL_IN_421.search(text, marker if marker >= 0 else 0)
    return match.group(1).rstrip("/.") if match else None


# === OAuth ==========================================================================================


class TeslaOAuthClient:
    """auth.tesla.com (authorize) and fleet-auth (token): stateless."""

    def __init__(self, app: TeslaApp, http: HttpSession, *, authorize_url: str = DEFAULT_AUTHORIZE_URL,
                 token_url: str = DEFAULT_TOKEN_URL, timeout: tuple[float, float] = TIMEOUT,
                 count: business_metrics.Count = business_metrics.no_count):
        self.app = app
        self._http = http
        self._authorize_url = authorize_url
        self._token_url = token_url
        self._timeout = timeout
        self._count = count

    def authorize_url(self, *, redirect_uri: str, state: str, scopes: str = SCOPES) -> str:
        query = {
            "response_type": "code",
            "client_id": self.app.client_id,
            "redirect_uri": redirect_uri,
            "scope": scopes,
            "state": state,
            # Ask again for scopes the owner unticked last time rather than silently missing them.
            "prompt_missing_scopes": "true",
        }
        return f"{self._authorize_url}?{urlencode(query)}"

    def exchange_code(self, *, code: str, redirect_uri: str, audience: str, now: datetime) -> TokenAnswer:
        form = {
            "grant_type": "authorization_code",
            "client_id": self.app.client_id,
            "client_secret": self.app.client_secret,
            "code": code,
            "redirect_uri": redirect_uri,
            "audience": audience,
        }
        return self._token(form, now, refreshing=False)

    def refresh(self, refresh_token: str, *, now: datetime) -> TokenAnswer:
        form = {"grant_type": "refresh_token", "client_id": self.app.client_id, "refresh_token": refresh_token}
        return self._token(form, now, refreshing=True)

    def _token(self, form: Mapping[str, str], now: datetime, *, refreshing: bool) -> TokenAnswer:
        try:
            response = self._http.request("POST", self._token_url, data=dict(form), timeout=self._timeout,
                                          headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            self._count(business_metrics.TESLA_API_UNAVAILABLE)
            raise TeslaUnavailable(f"Tesla's token endpoint is unreachable ({type(exc).__name__}).") from exc
        body = _body(response) or {}
        if 200 <= response.status_code < 300:
            try:
                tokens = TokenSet(str(body["access_token"]), str(body.get("refresh_token") or ""))
                return TokenAnswer(tokens, int(body.get("expires_in") or 28_800), body.get("scope"))
            except (KeyError, TypeError, ValueError) as exc:
                raise TeslaUnavailable("Tesla's token answer was not understood.") from exc
        error = str(body.get("error") or "")
        logger.warning("tesla token request refused",
                       extra={"status": response.status_code, "error": error, "grant": form["grant_type"]})
        if response.status_code == 429:
            seconds = retry_after_seconds(response.headers, now)
            raise TeslaRateLimited(f"Tesla rate limit reached; retry after {seconds} s.", retry_after_s=seconds)
        if response.status_code >= 500:
            self._count(business_metrics.TESLA_API_UNAVAILABLE)
            raise TeslaUnavailable(f"Tesla's token endpoint answered {response.status_code}.",
                                   status=response.status_code)
        if refreshing and error in ("login_required", "invalid_grant"):
            raise TeslaLoginRequired("Tesla no longer accepts this account's refresh token; link it again.")
        raise TeslaAuthorizationDenied(f"Tesla refused the authorization ({error or response.status_code}).")


# === Fleet API ======================================================================================


class TeslaFleetClient:
    """The Fleet API for one linked user.

    Parameters
    ----------
    user_id:
        Our user whose Tesla account is used.
    store, oauth, http:
        Token store, OAuth client and HTTP session (collaborators; tests pass fakes).
    clock:
        Aware UTC now (the edges pass ``driveway_hub.clock.utcnow``).
    default_api_base:
        Base URL when the account has none stored yet.
    command_base:
        tesla-http-proxy base for signed commands, or None to send commands to the Fleet API.
    pairing_url:
        ``https://tesla.com/_ak/<domain>``, carried by ``VirtualKeyNotPaired``.
    on_unlinked:
        Called with the user id after ``login_required`` marked the account unlinked.
    wait:
        Blocks for a few hundredths of a second while a concurrent refresh finishes (bounded).
    count:
        Business metric sink: command outcomes and Tesla being unavailable (``business_metrics``).
    """

    def __init__(
        self,
        user_id: str,
        *,
        store: TokenStore,
        oauth: TeslaOAuthClient,
        http: HttpSession,
        clock: Callable[[], datetime],
        default_api_base: str = DEFAULT_FLEET_API_BASE,
        command_base: str | None = None,
        pairing_url: str | None = None,
        on_unlinked: Callable[[str], None] | None = None,
        wait: Callable[[float], None] = time.sleep,
        timeout: tuple[float, float] = TIMEOUT,
        refresh_margin_s: int = REFRESH_MARGIN_S,
        count: business_metrics.Count = business_metrics.no_count,
    ):
        self.user_id = user_id
        self._store = store
        self._oauth = oauth
        self._http = http
        self._clock = clock
        self._default_base = default_api_base.rstrip("/")
        self._command_base = command_base.rstrip("/") if command_base else None
        self.pairing_url = pairing_url
        self._on_unlinked = on_unlinked
        self._wait = wait
        self._timeout = timeout
        self._margin = refresh_margin_s
        self._count = count
        self._account: AccountTokens | None = None
        self.calls = 0  # Fleet API requests sent (bench and logs)

    # ---- endpoints -------------------------------------------------------------------------------
    def users_region(self) -> UserRegion:
        raw = self._call("GET", "/api/1/users/region")
        return UserRegion(str(raw["region"]), str(raw["fleet_api_base_url"]).rstrip("/"))

    def list_vehicles(self) -> list[Vehicle]:
        return [Vehicle.parse(item) for item in self._call("GET", "/api/1/vehicles") or []]

    def vehicle(self, vin: str) -> Vehicle:
        """Cheap state check; never wakes the car."""
        return Vehicle.parse(self._call("GET", f"/api/1/vehicles/{vin}"))

    def vehicle_data(self, vin: str, endpoints: Sequence[str]) -> VehicleData:
        """Raises VehicleAsleep (408) for a sleeping car: it is not woken for a read."""
        raw = self._call("GET", f"/api/1/vehicles/{vin}/vehicle_data", params={"endpoints": ";".join(endpoints)})
        return VehicleData.parse(raw)

    def wake_up(self, vin: str) -> Vehicle:
        """Asks the car to wake and answers at once; poll ``vehicle`` until it is online."""
        return Vehicle.parse(self._call("POST", f"/api/1/vehicles/{vin}/wake_up"))

    def navigation_request(self, vin: str, text: str, *, locale: str = "en-US") -> CommandResult:
        """Share an address or a maps URL with the car (``navigation_gps_request`` is not forwarded by
        tesla-http-proxy, so this is the dependable command)."""
        body = {
            "type": "share_ext_content_raw",
            "value": {"android.intent.extra.TEXT": text},
            "locale": locale,
            "timestamp_ms": str(int(self._clock().timestamp() * 1000)),
        }
        return self._command(vin, "navigation_request", body)

    def flash_lights(self, vin: str) -> CommandResult:
        return self._command(vin, "flash_lights")

    def _command(self, vin: str, name: str, body: Any = None) -> CommandResult:
        """Send a vehicle command and count its outcome. An asleep car (408) is not an outcome: the car is
        woken and the same command sent again, and that attempt is the one counted."""
        try:
            result = CommandResult.parse(self._call("POST", f"/api/1/vehicles/{vin}/command/{name}", json=body,
                                                    command=True))
        except VehicleAsleep:
            raise
        except Exception:
            self._count(business_metrics.TESLA_COMMAND_FAILED)
            raise
        self._count(business_metrics.TESLA_COMMAND_SUCCEEDED if result.result
                    else business_metrics.TESLA_COMMAND_FAILED)
        return result

    def fleet_status(self, vins: Iterable[str]) -> FleetStatus:
        return FleetStatus.parse(self._call("POST", "/api/1/vehicles/fleet_status", json={"vins": list(vins)}))

    # ---- tokens ------------------------------------------------------------------------------------
    def _current(self) -> AccountTokens:
        if self._account is None:
            self._account = self._store.load(self.user_id)
        if self._account.access_expires_at - int(self._clock().timestamp()) <= self._margin:
            self._account = self._refresh(self._account)
        return self._account

    def _refresh(self, stale: AccountTokens) -> AccountTokens:
        now = self._clock()
        claim = new_claim_id()
        if self._store.claim_refresh(self.user_id, stale.version, claim, now):
            return self._refresh_as_winner(stale, claim)
        # Someone else holds the lease (or already committed): use their tokens, never refresh again.
        for delay in (0.0, *LOSER_WAITS_S):
            if delay:
                self._wait(delay)
            current = self._store.load(self.user_id)
            if current.version != stale.version:
                return current
        raise TokenRefreshInProgress("Tesla tokens are being refreshed; retry shortly.", retry_after_s=2)

    def _refresh_as_winner(self, stale: AccountTokens, claim: str) -> AccountTokens:
        now = self._clock()
        try:
            answer = self._oauth.refresh(stale.tokens.refresh_token, now=now)
        except TeslaLoginRequired:
            self._store.mark_unlinked(self.user_id, "login_required", now)
            logger.warning("tesla account unlinked: refresh token refused", extra={"user_id": self.user_id})
            if self._on_unlinked is not None:
                self._on_unlinked(self.user_id)
            raise
        except BaseException:
            self._store.release_refresh(self.user_id, claim)
            raise
        committed = self._store.commit_refresh(self.user_id, claim, answer.tokens,
                                               access_expires_at=answer.expires_at(now), now=now)
        if committed is None:
            # Our lease expired mid-refresh (it outlives the HTTP timeouts, so this should not happen).
            logger.error("tesla token refresh lost its lease", extra={"user_id": self.user_id})
            raise TeslaUnavailable("Tesla token refresh did not complete; retry shortly.", retry_after_s=2)
        logger.info("tesla tokens refreshed", extra={"user_id": self.user_id, "version": committed.version})
        return committed

    # ---- transport ---------------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
              json: Any = None, command: bool = False) -> Any:
        account = self._current()
        refreshed = region_switched = False
        while True:
            base = (self._command_base if command and self._command_base
                    else (account.api_base_url or self._default_base))
            response = self._send(method, base + path, account.tokens.access_token, params=params, json=json)
            if response.status_code == 401 and not response.content and not refreshed:
                # Expired or revoked access token: refresh once (single writer), then retry once.
                refreshed = True
                account = self._account = self._refresh(account)
                continue
            if response.status_code == 421 and not region_switched:
                region_switched = True
                account = self._account = self._switch_region(account, response)
                continue
            if 200 <= response.status_code < 300:
                body = _body(response) or {}
                return body.get("response")
            logger.info("tesla call failed", extra={"method": method, "endpoint": _endpoint_name(path),
                                                    "status": response.status_code})
            if response.status_code >= 500 and _PAIRING_REJECTION not in _error_text(_body(response)).lower():
                self._count(business_metrics.TESLA_API_UNAVAILABLE)  # 503/540/5xx: Tesla or the car's link is down
            raise_for_answer(response, now=self._clock(), pairing_url=self.pairing_url)

    def _switch_region(self, account: AccountTokens, response: HttpResponse) -> AccountTokens:
        url = base_url_from_421(response)
        if url is None:
            # The answer did not name the region: ask (users/region answers from any region).
            self._account = account
            url = self.users_region().fleet_api_base_url
        self._store.set_api_base(self.user_id, url, None, self._clock())
        logger.info("tesla region switched", extra={"user_id": self.user_id, "api_base_url": url})
        return AccountTokens(account.user_id, account.tokens, account.access_expires_at, account.version, url,
                             account.region)

    def _send(self, method: str, url: str, access_token: str, *, params: Mapping[str, str] | None,
              json: Any) -> HttpResponse:
        self.calls += 1
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        try:
            return self._http.request(method, url, params=params, json=json, headers=headers, timeout=self._timeout)
        except requests.RequestException as exc:
            self._count(business_metrics.TESLA_API_UNAVAILABLE)  # timeout or connection failure
            raise TeslaUnavailable(f"Tesla is unreachable ({type(exc).__name__}).", retry_after_s=10) from exc


def _endpoint_name(path: str) -> str:
    """The path with the VIN left out (VINs identify a person's car: not for logs)."""
    parts = path.split("/")
    return "/".join("{vin}" if len(p) == 17 and p.isalnum() else p for p in parts)
