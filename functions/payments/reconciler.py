"""Scheduled task (EventBridge, every 15 minutes): mend payments whose state disagrees with their
booking or whose hold nears expiry (driveway_hub.payments.reconciler). Callable as a plain function
in the local cloud: ``handler({}, context)``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.observability import logger
from driveway_hub.payments.runtime import run_reconciler


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    limit = int(event.get("limit", 200)) if isinstance(event, dict) else 200
    return run_reconciler(get_settings(), utcnow(), limit=limit).to_dict()
