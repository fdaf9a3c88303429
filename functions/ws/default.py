"""WebSocket $default: any frame with no known action gets an error frame in the contract's envelope."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.config import get_settings
from driveway_hub.observability import logger
from driveway_hub.websocket import management_endpoint, send


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event["requestContext"]
    endpoint = management_endpoint(get_settings().websocket_management_url, request)
    send(
        endpoint,
        request["connectionId"],
        {
            "type": "error",
            "error": {
                "code": "unknown_action",
                "message": 'Send JSON with an "action": one of "subscribe", "ping".',
                "details": [],
            },
        },
    )
    return {"statusCode": 200}
