"""WebSocket $disconnect: forgets the connection."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.config import get_settings
from driveway_hub.data.base import bind_models
from driveway_hub.data.connections import ConnectionRepository
from driveway_hub.observability import logger


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_models(get_settings())
    ConnectionRepository().delete(event["requestContext"]["connectionId"])
    return {"statusCode": 200}
