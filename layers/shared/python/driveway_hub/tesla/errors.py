"""What Tesla's answers mean to us, as domain errors.

Class names are part of the contract with Step Functions: a task that raises ``VehicleAsleep``
fails with ``errorType`` "VehicleAsleep", which the lifecycle's ``Retry`` matches (wake, then back
off in the state machine, never in Lambda). Retryable: ``VehicleAsleep``, ``TeslaUnavailable``
(and its ``TokenRefreshInProgress``), ``TeslaRateLimited``. Everything else needs a person
(relink, pair the key, fix configuration) and must not be retried blindly.

The HTTP mapping comes from the base classes (``driveway_hub.http.STATUS_BY_ERROR``).
"""

from __future__ import annotations

from driveway_hub.errors import Conflict, InvalidInput, NotAllowed, NotFound, RateLimited, UpstreamUnavailable


class TeslaUnavailable(UpstreamUnavailable):
    """503/540, a timeout or a connection failure: retry later with backoff (bounded)."""

    code = "tesla_unavailable"

    def __init__(self, message: str, *, retry_after_s: int | None = None, status: int | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.status = status


class TokenRefreshInProgress(TeslaUnavailable):
    """Another invocation is refreshing this account's tokens and has not finished yet."""

    code = "tesla_token_refresh_in_progress"


class VehicleAsleep(TeslaUnavailable):
    """408: the car is asleep or offline. Wake it (bounded) and retry from the state machine."""

    code = "vehicle_asleep"


class VehicleUnavailable(TeslaUnavailable):
    """The car did not wake within the bounded wake window: stop trying (the lifecycle's Catch)."""

    code = "vehicle_unavailable"


class TeslaRateLimited(RateLimited):
    """429: honour ``retry_after_s`` (from Retry-After); never sleep on it inside Lambda."""

    code = "tesla_rate_limited"

    def __init__(self, message: str, *, retry_after_s: int):
        super().__init__(message, details=[{"retry_after_s": retry_after_s}])
        self.retry_after_s = retry_after_s


class TeslaLoginRequired(Conflict):
    """The refresh token is spent or revoked (``login_required``): the account is marked unlinked
    and the owner must link it again."""

    code = "tesla_relink_required"


class TeslaNotLinked(Conflict):
    """The caller has no linked Tesla account (never linked, or unlinked after login_required)."""

    code = "tesla_not_linked"


class TeslaScopeMissing(NotAllowed):
    """403 for a missing OAuth scope: the owner must link again granting it."""

    code = "tesla_scope_missing"


class VehicleCommandProtocolRequired(NotAllowed):
    """403: this car only accepts commands signed with our key, sent through tesla-http-proxy."""

    code = "vehicle_command_protocol_required"


class VirtualKeyNotPaired(Conflict):
    """The car rejected a signed command: our virtual key is not paired. Send the owner to the
    pairing link (``details`` carries it)."""

    code = "virtual_key_not_paired"

    def __init__(self, message: str, *, pairing_url: str | None = None):
        super().__init__(message, details=[{"pairing_url": pairing_url}] if pairing_url else [])
        self.pairing_url = pairing_url


class TeslaNotRegistered(UpstreamUnavailable):
    """412: our app is not registered in this region (an operations task, see docs/tesla.md)."""

    code = "tesla_partner_not_registered"


class TeslaRequestRejected(UpstreamUnavailable):
    """Another 4xx from Tesla: our request was wrong. Not retryable; logged for us to fix."""

    code = "tesla_request_rejected"

    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.status = status


class VehicleNotFound(NotFound):
    code = "vehicle_not_found"


class InvalidOAuthState(InvalidInput):
    """The callback's ``state`` is forged, expired, already used or not ours: nothing is stored."""

    code = "invalid_oauth_state"


class TeslaAuthorizationDenied(InvalidInput):
    """The owner declined on Tesla's consent page, or the code exchange was refused."""

    code = "tesla_authorization_denied"
