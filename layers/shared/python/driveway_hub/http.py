"""The REST edge shared by every API handler: a Powertools resolver with validation, and the one
mapping from exceptions to HTTP statuses and the contract's error envelope."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from driveway_hub import errors
from driveway_hub.observability import logger

# Most specific first: the first isinstance match wins.
STATUS_BY_ERROR: tuple[tuple[type[errors.DomainError], HTTPStatus], ...] = (
    (errors.InvalidInput, HTTPStatus.BAD_REQUEST),
    (errors.NotAuthenticated, HTTPStatus.UNAUTHORIZED),
    (errors.PaymentDeclined, HTTPStatus.PAYMENT_REQUIRED),
    (errors.NotAllowed, HTTPStatus.FORBIDDEN),
    (errors.NotFound, HTTPStatus.NOT_FOUND),
    (errors.Conflict, HTTPStatus.CONFLICT),
    (errors.RateLimited, HTTPStatus.TOO_MANY_REQUESTS),
    (errors.UpstreamUnavailable, HTTPStatus.SERVICE_UNAVAILABLE),
)


def error_response(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> Response:
    """A response in the contract's error envelope."""
    return Response(
        status_code=int(status),
        content_type=content_types.APPLICATION_JSON,
        body={"error": {"code": code, "message": message, "details": details or []}},
    )


def status_for(exc: errors.DomainError) -> HTTPStatus:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return HTTPStatus.BAD_REQUEST


def validation_details(exc: RequestValidationError) -> tuple[str, str, list[dict[str, Any]]]:
    """Turn Powertools/pydantic validation errors into (code, message, details) naming each field."""
    details = []
    malformed = False
    for err in exc.errors():
        location = [str(part) for part in err.get("loc", ())]
        malformed = malformed or err.get("type") == "json_invalid"
        # "body.lat" rather than "body.lat" with the pydantic model name in between.
        details.append({"field": ".".join(location), "message": err.get("msg", "invalid"), "type": err.get("type")})
    if malformed:
        return "malformed_json", "The request body is not valid JSON.", details
    fields = ", ".join(d["field"] for d in details if d["field"]) or "request"
    return "invalid_request", f"Invalid value for: {fields}.", details


def make_resolver() -> APIGatewayRestResolver:
    """A REST resolver with request validation and the error envelope for every failure path."""
    app = APIGatewayRestResolver(enable_validation=True)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        # The contract prefers 400 for bad input; 422 would also be allowed, but one status is simpler.
        code, message, details = validation_details(exc)
        return error_response(HTTPStatus.BAD_REQUEST, code, message, details)

    @app.exception_handler(errors.DomainError)
    def _domain(exc: errors.DomainError) -> Response:
        return error_response(status_for(exc), exc.code, exc.message, exc.details)

    @app.not_found
    def _not_found(_exc: Exception) -> Response:
        return error_response(HTTPStatus.NOT_FOUND, "not_found", "No such resource.")

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # Only genuine faults land here; they are logged with the stack and answered without detail.
        logger.exception("unhandled error")
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong.")

    return app
