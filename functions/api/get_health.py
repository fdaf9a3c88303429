"""GET /v1/health — no auth; proves the path through API Gateway, Lambda and DynamoDB."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.aws import client
from driveway_hub.config import get_settings
from driveway_hub.domain.health import check_health
from driveway_hub.http import make_resolver
from driveway_hub.observability import logger, tracer

app = make_resolver()


def _dynamodb_probe() -> str:
    # A GetItem on a key that never exists: one read unit, exercises credentials, network and the table.
    client("dynamodb").get_item(
        TableName=get_settings().tables.users, Key={"user_id": {"S": "__health__"}}, ProjectionExpression="user_id"
    )
    return "ok"


def _configured(value: str | None) -> str:
    # Stripe and Tesla are not called from health: it would cost money (Tesla bills per request) and
    # couple our availability to theirs. Their live status is tracked by alarms on real calls.
    return "configured" if value else "not_configured"


@app.get("/health")
def get_health() -> dict[str, Any]:
    settings = get_settings()
    return check_health(
        {
            "dynamodb": _dynamodb_probe,
            "stripe": lambda: _configured(settings.stripe_secret_id),
            "tesla": lambda: _configured(settings.tesla_secret_id),
        },
        version=settings.version,
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
