"""GET /v1/tesla/connect — the Tesla authorize URL, with a signed state bound to the caller."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer
from driveway_hub.tesla import runtime

app = make_resolver("tesla_connect")


@app.get("/tesla/connect")
def connect() -> dict[str, Any]:
    return runtime.linking_service(get_settings()).connect(principal_of(app).user_id)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # the state in the URL is not for traces
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
