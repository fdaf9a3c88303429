"""POST /v1/webhooks/stripe — Stripe's platform events (PaymentIntents, charges, refunds, disputes).

No bearer token: the Stripe-Signature over the raw body, checked with the platform endpoint's own
secret, is the authentication (driveway_hub.payments.webhooks). Answers 200 once the event is applied
or was already applied; 400 for anything that does not verify; 409/5xx make Stripe retry later.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

import driveway_hub.payments.runtime as runtime
from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver
from driveway_hub.observability import logger, tracer
from driveway_hub.payments.webhooks import SIGNATURE_HEADER, header, raw_body

app = make_resolver("stripe_webhook")


@app.post("/webhooks/stripe")
def receive() -> dict[str, Any]:
    event = app.current_event.raw_event
    receipt = runtime.webhook_receiver(get_settings(), "platform").receive(
        raw_body(event), header(event, SIGNATURE_HEADER), now=utcnow())
    return {"received": True, "duplicate": receipt.duplicate}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
