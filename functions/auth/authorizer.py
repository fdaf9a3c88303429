"""REST API Lambda authorizer (REQUEST type; identity source ``method.request.header.Authorization``).

Contract
--------
In: an API Gateway REQUEST authorizer event (``headers``, ``methodArn``), or a TOKEN authorizer event
(``authorizationToken``, ``methodArn``), carrying ``Authorization: Bearer <Cognito access token>``.
Out: ``{"principalId": <sub>, "policyDocument": <Allow execute-api:Invoke on the whole stage>,
"context": {"user_id", "roles", "permissions", "token_issued_at"}}`` (driveway_hub/auth/authorizers.py).
A missing, malformed, forged, expired or revoked token raises ``Unauthorized``: API Gateway answers 401.

The policy allows the whole stage on purpose: API Gateway caches it per token for every route, and each
route's permission is checked in the handler from the route table (``driveway_hub.http``), the same code
in AWS and in the local cloud. ``authorize`` is the local gateway's ``rest_authorizer``: the context API
Gateway would put under ``requestContext.authorizer``, or None for 401.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.auth.authorizers import Unauthorized, allow, rest_context, stage_wide
from driveway_hub.observability import logger

authorize = rest_context


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    principal_context = authorize(event)
    if principal_context is None:
        raise Unauthorized("Unauthorized")
    return allow(principal_context, stage_wide(event["methodArn"]))
