"""The REST edge shared by every API handler: a Powertools resolver with validation, the one
mapping from exceptions to HTTP statuses and the contract's error envelope, and the route table's
permission check, which runs before anything else in the handler."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub import errors
from driveway_hub.auth.permissions import Principal, require_permission
from driveway_hub.observability import logger
from driveway_hub.routes import REST_ROUTES, ROUTES_BY_NAME, Route

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


UNSUPPORTED_BODY = "The request body must be JSON (Content-Type: application/json)."


def unparseable_multipart(event: Mapping[str, Any]) -> bool:
    """A body declared multipart/form-data without a boundary: Powertools' body parser raises a bare
    ValueError for it (not a validation error), which would surface as a 500."""
    if not event.get("body"):
        return False
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "").lower()
    return content_type.startswith("multipart/form-data") and "boundary=" not in content_type


def route_for_event(event: Mapping[str, Any]) -> Route | None:
    """The route-table entry API Gateway matched: ``resource`` is the route's path (stage excluded)."""
    method, resource = event.get("httpMethod"), event.get("resource")
    return next((r for r in REST_ROUTES if r.method == method and r.path == resource), None)


def authorize_route(route: Route, event: Mapping[str, Any]) -> Principal | None:
    """Check the caller against the route's declared permission.

    Returns the principal (None for a public route); raises NotAuthenticated (no authorizer context:
    the API was deployed without the authorizer) or NotAllowed (the permission is missing, or the route
    requires auth but declares no permission, which fails closed).
    """
    if not route.auth:
        return None
    principal = Principal.from_authorizer_context((event.get("requestContext") or {}).get("authorizer"))
    if not route.permission:
        raise errors.NotAllowed("This route declares no permission.")
    require_permission(principal, route.permission)
    return principal


def principal_of(app: APIGatewayRestResolver) -> Principal:
    """The caller of the request being handled (NotAuthenticated if there is none)."""
    request_context = app.current_event.raw_event.get("requestContext") or {}
    return Principal.from_authorizer_context(request_context.get("authorizer"))


def _proxy_error(exc: errors.DomainError) -> dict[str, Any]:
    """The Lambda proxy answer for a refusal, in the error envelope (what the resolver would build)."""
    body = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
    return {
        "statusCode": int(status_for(exc)),
        "multiValueHeaders": {"Content-Type": [content_types.APPLICATION_JSON]},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


class RouteResolver(APIGatewayRestResolver):
    """A resolver that enforces the route table's permission before validation or the handler run.

    Before validation on purpose: a caller without the permission learns nothing about the body the
    route expects. The route is the one named, or else the one the event's method and resource match.
    """

    def __init__(self, route_name: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        # Unknown names fail at import, not on the first request.
        self._route = ROUTES_BY_NAME[route_name] if route_name is not None else None

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        route = self._route or route_for_event(event)
        if route is not None:
            try:
                authorize_route(route, event)
            except errors.DomainError as exc:
                logger.info("request refused", extra={"route": route.name, "code": exc.code})
                return _proxy_error(exc)
        if unparseable_multipart(event):
            return _proxy_error(errors.InvalidInput(UNSUPPORTED_BODY, code="unsupported_content_type"))
        return super().resolve(event, context)


def make_resolver(route_name: str | None = None) -> APIGatewayRestResolver:
    """A REST resolver with the route's permission check, request validation and the error envelope
    for every failure path. Pass the route's name from the route table (``make_resolver("auth_me")``)."""
    app = RouteResolver(route_name, enable_validation=True)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        # The contract prefers 400 for bad input; 422 would also be allowed, but one status is simpler.
        code, message, details = validation_details(exc)
        return error_response(HTTPStatus.BAD_REQUEST, code, message, details)

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(exc: RequestUnsupportedContentType) -> Response:
        # JSON everywhere (api.md): a body sent as text/plain, XML, ... is the client's mistake, not a 500.
        details = [{"field": "body", "message": err.get("msg", "unsupported"), "type": err.get("type")}
                   for err in exc.errors()]
        return error_response(HTTPStatus.BAD_REQUEST, "unsupported_content_type", UNSUPPORTED_BODY, details)

    @app.exception_handler(errors.DomainError)
    def _domain(exc: errors.DomainError) -> Response:
        return error_response(status_for(exc), exc.code, exc.message, exc.details)

    @app.not_found
    def _not_found(_exc: Exception) -> Response:
        return error_response(HTTPStatus.NOT_FOUND, "not_found", "No such resource.")

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if errors.is_throttling(exc):
            # DynamoDB still shedding load after the SDK's bounded retries: the client may retry (503).
            logger.warning("dynamodb throttled after retries", extra={"error": type(exc).__name__})
            return error_response(HTTPStatus.SERVICE_UNAVAILABLE, errors.UpstreamUnavailable.code,
                                  "The service is busy; please retry shortly.")
        # Only genuine faults land here; they are logged with the stack and answered without detail.
        logger.exception("unhandled error")
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong.")

    return app
