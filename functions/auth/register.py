"""POST /v1/auth/register — a Cognito user in the chosen role's group, and their profile (public)."""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from driveway_hub.auth.runtime import account_service
from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver
from driveway_hub.observability import logger, tracer

app = make_resolver("auth_register")


class RegisterRequest(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=256)
    name: str = Field(min_length=1, max_length=100)
    role: Literal["driver", "host"]


@app.post("/auth/register")
def register(request: RegisterRequest) -> Response[dict[str, Any]]:
    account = account_service(get_settings()).register(request.email, request.password, request.name, request.role)
    logger.info("account registered", extra={"user_id": account.user_id, "role": account.role})
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=account.as_response())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # the answer holds personal data: keep it out of X-Ray
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
