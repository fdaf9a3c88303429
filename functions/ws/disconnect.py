"""WebSocket $disconnect: forgets the connection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub import business_metrics
from driveway_hub.config import get_settings
from driveway_hub.observability import logger

if TYPE_CHECKING:
    from driveway_hub.data.connections import ConnectionRepository


def connections() -> ConnectionRepository:
    """The connections table for this process's settings; PynamoDB loads here, on first use (issue #8)."""
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.connections import ConnectionRepository

    bind_models(get_settings())
    return ConnectionRepository()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    connections().delete(event["requestContext"]["connectionId"])
    # $disconnect follows every accepted $connect (best effort: API Gateway may rarely skip it).
    business_metrics.count(business_metrics.WEBSOCKET_CONNECTIONS, -1)
    return {"statusCode": 200}
