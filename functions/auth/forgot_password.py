"""POST /v1/auth/forgot-password — starts a password reset (public).

Cognito emails the code. In the local cloud moto hands it back instead and it is logged as
"password reset code (local cloud only)" with ``reset_code``. The answer is the same whether or not
the email has an account, so this door cannot be used to find out who is registered.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from driveway_hub.auth.runtime import account_service
from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver
from driveway_hub.observability import logger, tracer

app = make_resolver("auth_forgot_password")


class ForgotPasswordRequest(BaseModel):
    email: str = Field(min_length=3, max_length=254)


@app.post("/auth/forgot-password")
def forgot_password(request: ForgotPasswordRequest) -> Response[dict[str, Any]]:
    account_service(get_settings()).forgot_password(request.email)
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body={"status": "accepted", "message": "If an account exists for this email, a reset code is on its way."},
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
