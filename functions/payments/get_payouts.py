"""GET /v1/payouts — the host's payout status and recent payouts:
``{charges_enabled, payouts_enabled, requirements, payouts, onboarding_required, account_id, stale}``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

import driveway_hub.payments.runtime as runtime
from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer
from driveway_hub.payments.payouts import payout_overview

app = make_resolver("get_payouts")


@app.get("/payouts")
def get_payouts() -> dict[str, Any]:
    settings = get_settings()
    return payout_overview(accounts=runtime.host_accounts(settings), stripe=runtime.stripe_payments(settings),
                           host_id=principal_of(app).user_id, now=utcnow())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
