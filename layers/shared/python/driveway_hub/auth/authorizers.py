"""What the REST and WebSocket Lambda authorizers share: reading the token from the request, turning it
into the context API Gateway passes to handlers, and the IAM policy answer.

Authorizer context (``requestContext.authorizer`` in the handlers' events; strings only, as API Gateway
requires): ``principalId`` (Cognito ``sub``), ``user_id`` (the same), ``roles`` ("driver,host"),
``permissions`` (space-separated), ``token_issued_at`` (epoch seconds). ``Principal.from_authorizer_context``
reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driveway_hub.auth.errors import InvalidToken
from driveway_hub.auth.runtime import authenticator
from driveway_hub.auth.tokens import bearer_token
from driveway_hub.config import get_settings
from driveway_hub.observability import logger


class Unauthorized(Exception):
    """Raised with the message "Unauthorized", which API Gateway matches exactly to answer 401."""


def header(event: Mapping[str, Any], name: str) -> str | None:
    """A request header, matched case-insensitively (HTTP/2 clients send lower-case names)."""
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def context_for_token(token: str) -> dict[str, Any] | None:
    """The authorizer context for a bearer token, or None when it must be refused."""
    try:
        principal = authenticator(get_settings()).authenticate(token)
    except InvalidToken as exc:
        logger.info("access token refused", extra={"reason": exc.message})
        return None
    return {"principalId": principal.user_id, **principal.to_authorizer_context()}


def rest_context(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """REQUEST (``headers``) or TOKEN (``authorizationToken``) event -> context, or None (401)."""
    try:
        token = bearer_token(event.get("authorizationToken") or header(event, "Authorization"))
    except InvalidToken as exc:
        logger.info("access token refused", extra={"reason": exc.message})
        return None
    return context_for_token(token)


def websocket_context(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """``$connect`` event with ``?token=<access token>`` -> context, or None (401)."""
    token = (event.get("queryStringParameters") or {}).get("token")
    if not token:
        logger.info("websocket connect refused", extra={"reason": "no token"})
        return None
    return context_for_token(str(token))


def stage_wide(method_arn: str) -> str:
    """``arn:...:api/stage/GET/auth/me`` -> ``arn:...:api/stage/*``: every method and path of the stage."""
    api, stage, *_ = method_arn.split("/")
    return f"{api}/{stage}/*"


def allow(principal_context: Mapping[str, Any], resource: str) -> dict[str, Any]:
    """The Lambda authorizer answer: the principal, an Allow on ``resource`` and the context."""
    return {
        "principalId": principal_context["principalId"],
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}],
        },
        "context": {k: v for k, v in principal_context.items() if k != "principalId"},
    }
