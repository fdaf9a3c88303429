"""POST /v1/auth/reset-password — the emailed code and a new password (public: the code is the proof).

A successful reset also signs the account out everywhere and lifts a sign-in lockout.
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

app = make_resolver("auth_reset_password")


class ResetPasswordRequest(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    code: str = Field(min_length=1, max_length=64)
    new_password: str = Field(min_length=1, max_length=256)


@app.post("/auth/reset-password")
def reset_password(request: ResetPasswordRequest) -> Response[str]:
    account_service(get_settings()).reset_password(request.email, request.code, request.new_password)
    return Response(status_code=204, body="")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
