"""POST /v1/payouts/onboarding — a host gets a fresh Stripe Connect onboarding link: ``{url}``.

The connected account is created on the first call only. Links are single-use and short-lived; when
Stripe sends the host to the refresh URL, the app calls this again.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

import driveway_hub.payments.runtime as runtime
from driveway_hub.auth.runtime import users
from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer
from driveway_hub.payments.payouts import start_onboarding

app = make_resolver("payouts_onboarding")


@app.post("/payouts/onboarding")
def onboarding() -> dict[str, Any]:
    settings = get_settings()
    host_id = principal_of(app).user_id
    profile = users(settings).get(host_id)
    url = start_onboarding(
        accounts=runtime.host_accounts(settings), stripe=runtime.stripe_payments(settings), host_id=host_id,
        email=profile.email if profile else None, refresh_url=settings.payouts_refresh_url,
        return_url=settings.payouts_return_url, now=utcnow())
    return {"url": url}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # the link is a credential for the host's account
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
