"""WebSocket $connect: records the connection (user from the authorizer's context) with a TTL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub import business_metrics
from driveway_hub.clock import utcnow
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
    request = event["requestContext"]
    # The $connect authorizer puts the verified user in the context; API Gateway refuses the
    # upgrade before we get here when the token is bad.
    user_id = (request.get("authorizer") or {}).get("principalId")
    if not user_id:
        # Only possible if the API was deployed without the authorizer: fail closed.
        return {"statusCode": 401}
    connections().save(request["connectionId"], user_id, utcnow())
    business_metrics.count(business_metrics.WEBSOCKET_CONNECTIONS)
    logger.info("websocket connected", extra={"connection_id": request["connectionId"], "user_id": user_id})
    return {"statusCode": 200}
