"""POST /v1/auth/logout — revokes the caller's refresh tokens in Cognito and refuses their access tokens
issued up to now (``revoked_before``; see driveway_hub/auth/accounts.py)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.auth.runtime import account_service
from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer

app = make_resolver("auth_logout")


@app.post("/auth/logout")
def logout() -> Response[str]:
    principal = principal_of(app)
    account_service(get_settings()).logout(principal)
    logger.info("signed out everywhere", extra={"user_id": principal.user_id})
    return Response(status_code=204, body="")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
