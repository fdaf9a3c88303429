"""DELETE /v1/me — erases the caller's account per docs/retention.md and answers 202.

The Cognito user is deleted, personal fields are anonymized, payment records are kept; the order makes
a failed erasure safe to retry (driveway_hub/auth/privacy.py).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.auth.runtime import privacy_service
from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer

app = make_resolver("me_delete")


@app.delete("/me")
def erase_my_account() -> Response[dict[str, Any]]:
    principal = principal_of(app)
    outcome = privacy_service(get_settings()).erase(principal)
    logger.info("account erased", extra={"user_id": principal.user_id})
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=outcome)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
