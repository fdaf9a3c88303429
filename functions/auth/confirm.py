"""POST /v1/auth/confirm — confirms a sign-up with the code Cognito emailed (public: the code is the proof).

Stages that auto-confirm (local, dev) never need it; staging and prod do before the first sign-in
(``POST /auth/login`` answers 403 ``email_not_verified`` until then). Confirming twice is not an error.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from driveway_hub.auth.runtime import account_service
from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver
from driveway_hub.observability import logger, tracer

app = make_resolver("auth_confirm")


class ConfirmRequest(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    code: str = Field(min_length=1, max_length=64)


@app.post("/auth/confirm")
def confirm(request: ConfirmRequest) -> Response[str]:
    account_service(get_settings()).confirm_email(request.email, request.code)
    return Response(status_code=204, body="")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
