"""POST /v1/auth/refresh — a refresh token for new access and id tokens (public: the token is the proof)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from driveway_hub.auth.identity import NO_STORE_HEADERS
from driveway_hub.auth.runtime import account_service
from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver
from driveway_hub.observability import logger, tracer

app = make_resolver("auth_refresh")


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=8192)


@app.post("/auth/refresh")
def refresh(request: RefreshRequest) -> Response[dict[str, Any]]:
    tokens = account_service(get_settings()).refresh(request.refresh_token)
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=tokens.as_response(),
        headers=NO_STORE_HEADERS,
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # the answer holds tokens: keep them out of X-Ray
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
