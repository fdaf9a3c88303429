"""GET /v1/vehicles[?sync=true] — the caller's cars; ``sync`` re-lists them from Tesla (after pairing)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer
from driveway_hub.tesla import runtime

app = make_resolver("list_vehicles")


@app.get("/vehicles")
def list_vehicles(sync: Annotated[bool, Query()] = False) -> dict[str, Any]:
    return runtime.vehicle_service(get_settings()).list(principal_of(app), sync=sync)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # VINs are personal data
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
