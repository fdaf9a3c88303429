"""POST /v1/webhooks/stripe/connect — Connect events (``account.updated``, ``payout.*``), verified with
the Connect endpoint's OWN secret: a platform-signed event here is a 400, and the other way round."""

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

app = make_resolver("stripe_connect_webhook")


@app.post("/webhooks/stripe/connect")
def receive() -> dict[str, Any]:
    event = app.current_event.raw_event
    receipt = runtime.webhook_receiver(get_settings(), "connect").receive(
        raw_body(event), header(event, SIGNATURE_HEADER), now=utcnow())
    return {"received": True, "duplicate": receipt.duplicate}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
