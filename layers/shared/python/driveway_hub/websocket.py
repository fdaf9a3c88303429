"""Sending frames to WebSocket clients through API Gateway's management API."""

from __future__ import annotations

import json
from typing import Any

from driveway_hub.aws import client
from driveway_hub.observability import logger


def management_endpoint(configured: str | None, request_context: dict[str, Any] | None = None) -> str:
    """The @connections endpoint: configured (local cloud, async senders) or from the event's context."""
    if configured:
        return configured
    if request_context:
        return f"https://{request_context['domainName']}/{request_context['stage']}"
    raise ValueError("no WebSocket management endpoint: set WEBSOCKET_MANAGEMENT_URL")


def send(endpoint: str, connection_id: str, payload: dict[str, Any]) -> bool:
    """Post one frame. Returns False when the connection is gone (410), so callers can prune it."""
    api = client("apigatewaymanagementapi", endpoint)
    try:
        api.post_to_connection(ConnectionId=connection_id, Data=json.dumps(payload).encode())
    except api.exceptions.GoneException:
        # GoneException subclasses ClientError: it must be caught before any broader handler.
        logger.info("websocket connection gone", extra={"connection_id": connection_id})
        return False
    return True
