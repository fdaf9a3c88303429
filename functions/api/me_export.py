"""GET /v1/me/export — everything we hold about the caller, as JSON (see driveway_hub/auth/privacy.py)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.auth.runtime import privacy_service
from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer

app = make_resolver("me_export")


@app.get("/me/export")
def export_my_data() -> dict[str, Any]:
    principal = principal_of(app)
    logger.info("personal data exported", extra={"user_id": principal.user_id})
    return privacy_service(get_settings()).export(principal)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # the answer is personal data: keep it out of X-Ray
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
