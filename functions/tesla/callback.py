"""GET /v1/tesla/callback?code&state — Tesla's redirect after consent (no bearer token: the signed,
single-use ``state`` says whose account this is). Forged or old state: 400 and nothing stored."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver
from driveway_hub.observability import logger, tracer
from driveway_hub.tesla import runtime

app = make_resolver("tesla_callback")


@app.get("/tesla/callback")
def callback(
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=1024)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    return runtime.linking_service(get_settings()).complete(code=code, state=state, error=error)


# The query string carries a one-time code: keep the event out of logs and traces.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
