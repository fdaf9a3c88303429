"""WebSocket action "ping": answers {"type": "pong"} on the same connection."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.observability import logger
from driveway_hub.websocket import management_endpoint, send


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event["requestContext"]
    endpoint = management_endpoint(get_settings().websocket_management_url, request)
    send(endpoint, request["connectionId"], {"type": "pong", "at": utcnow().isoformat()})
    return {"statusCode": 200}
