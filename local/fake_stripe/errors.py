"""Stripe's error envelope, as one exception the HTTP layer turns into a response."""

from __future__ import annotations

from typing import Any

# Stripe's error `type` values (v1). Authentication and rate-limit failures are reported by Stripe as
# `invalid_request_error` with the matching HTTP status; the library picks the exception from the status.
INVALID_REQUEST = "invalid_request_error"
CARD_ERROR = "card_error"
IDEMPOTENCY_ERROR = "idempotency_error"
API_ERROR = "api_error"

# Codes Stripe returns when parameters fail validation. A response carrying one of them is not saved
# for idempotent replay (Stripe only saves results of requests that started executing).
VALIDATION_CODES = frozenset(
    {
        "parameter_missing",
        "parameter_unknown",
        "parameter_invalid_integer",
        "parameter_invalid_empty",
        "parameter_invalid_string_blank",
        "parameter_invalid_string_empty",
        "parameters_exclusive",
    }
)


class StripeApiError(Exception):
    """An API failure with Stripe's status code and `{"error": {...}}` body.

    `extra` carries the additional members Stripe puts into the error object (e.g. the
    `payment_intent` snapshot after a decline) and `headers` extra response headers.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,  # Stripe's field name
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        self.headers = headers or {}

    @property
    def is_validation_error(self) -> bool:
        return self.code in VALIDATION_CODES

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        for key, value in (("code", self.code), ("param", self.param), ("decline_code", self.decline_code)):
            if value is not None:
                error[key] = value
        if self.code:
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeApiError:
    return StripeApiError(400, message, param=param, code=code)


def missing_param(param: str) -> StripeApiError:
    return StripeApiError(400, f"Missing required param: {param}.", param=param, code="parameter_missing")


def no_such(kind: str, object_id: str, *, param: str | None = None) -> StripeApiError:
    """A missing object: 404 when it is the URL's subject, 400 when a parameter names it (as Stripe)."""
    status = 400 if param else 404
    return StripeApiError(status, f"No such {kind}: '{object_id}'", param=param or "id", code="resource_missing")


def unexpected_state(message: str, *, param: str | None = None) -> StripeApiError:
    return StripeApiError(400, message, param=param, code="payment_intent_unexpected_state")
