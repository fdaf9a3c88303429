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


# DynamoDB's answers when it sheds load; botocore and PynamoDB have already retried them (bounded) by the
# time one reaches our code.
THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException",
                              "RequestLimitExceeded"})


def is_throttling(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is AWS shedding load: a botocore ``ClientError`` or a PynamoDB
    error with a throttling code. Duck-typed so this module imports neither library."""
    seen = 0
    while exc is not None and seen < 8:
        code = getattr(exc, "cause_response_code", None)  # PynamoDB's PynamoDBException
        response = getattr(exc, "response", None)  # botocore's ClientError
        if code is None and isinstance(response, dict):
            code = (response.get("Error") or {}).get("Code")
        if code in THROTTLING_CODES:
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False
