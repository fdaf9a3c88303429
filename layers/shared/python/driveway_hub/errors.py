"""Domain exceptions. Each carries a stable snake_case ``code``; ``driveway_hub.http`` is the one place
that maps them to HTTP statuses and the error envelope ``{"error": {"code", "message", "details"}}``.
Domain code raises these and never thinks about HTTP."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base for every error a caller can act on."""

    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or []


class InvalidInput(DomainError):
    """The request is well formed but its values are not acceptable (400)."""

    code = "invalid_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        details = [{"field": field, "message": message}] if field else []
        super().__init__(message, code=code, details=details)
        self.field = field


class NotAuthenticated(DomainError):
    code = "unauthorized"


class NotAllowed(DomainError):
    code = "forbidden"


class NotOwner(NotAllowed):
    code = "not_owner"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class SlotUnavailable(Conflict):
    code = "slot_unavailable"


class InvalidState(Conflict):
    code = "invalid_state"


class PaymentDeclined(DomainError):
    code = "payment_declined"


class RateLimited(DomainError):
    code = "rate_limited"


class UpstreamUnavailable(DomainError):
    """A dependency (Stripe, Tesla, AWS) is down or timed out after bounded retries."""

    code = "upstream_unavailable"
