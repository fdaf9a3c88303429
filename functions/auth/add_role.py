"""POST /v1/auth/roles — adds a role to the caller (a driver becomes a host too, or the reverse).

The authorizer reads roles from the profile, so the new permissions apply from the next authorization
(in AWS, once the authorizer's cache for the current token expires; refreshing the token is immediate).
"""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from driveway_hub.auth.runtime import account_service
from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer

app = make_resolver("auth_add_role")


class AddRoleRequest(BaseModel):
    # "admin" is accepted here so the domain can answer 403 (not yours to take) rather than 400.
    role: Literal["driver", "host", "admin"]


@app.post("/auth/roles")
def add_role(request: AddRoleRequest) -> dict[str, Any]:
    principal = principal_of(app)
    account = account_service(get_settings()).add_role(principal, request.role)
    logger.info("role added", extra={"user_id": principal.user_id, "role": request.role})
    return account


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # the answer holds personal data: keep it out of X-Ray
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
