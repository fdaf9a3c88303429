"""POST /v1/webhooks/tesla/telemetry — the relay door of the telemetry ingest.

Refused before anything is stored: a missing/forged signature or a timestamp outside 300 s (401
``invalid_signature``), a malformed body or record (400 ``malformed_telemetry``). The HMAC is computed
over the raw bytes as received (``driveway_hub.telemetry_signing``).
"""

from __future__ import annotations

import base64
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver
from driveway_hub.observability import logger, tracer
from driveway_hub.tesla import runtime
from driveway_hub.tesla.telemetry import authenticate_webhook, parse_batch

app = make_resolver("tesla_telemetry_webhook")


def raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else str(body).encode("utf-8")


@app.post("/webhooks/tesla/telemetry")
def telemetry_webhook() -> dict[str, Any]:
    settings = get_settings()
    event = app.current_event
    body = raw_body(event.raw_event)
    now = utcnow()
    authenticate_webhook(runtime.telemetry_secrets(settings), body, event.headers or {}, int(now.timestamp()))
    records = parse_batch(body)
    report = runtime.telemetry_ingest(settings).ingest(records, now)
    return {"accepted": report.records, "detections": report.detections}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)  # positions are personal data
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
