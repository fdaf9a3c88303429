"""WebSocket API ``$connect`` authorizer (REQUEST type; identity source
``route.request.querystring.token``): browsers cannot set headers on a WebSocket upgrade, so the access
token travels as ``?token=<access token>``.

Same verification and same context as the REST authorizer (driveway_hub/auth/authorizers.py); the
policy allows just this ``$connect``. ``authorize`` is the local gateway's ``websocket_authorizer``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.auth.authorizers import Unauthorized, allow, websocket_context
from driveway_hub.observability import logger

authorize = websocket_context


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    principal_context = authorize(event)
    if principal_context is None:
        raise Unauthorized("Unauthorized")
    return allow(principal_context, event["methodArn"])
