"""GET /v1/vehicles/{vehicle_id}/location — ``{lat, lng, heading, at}`` from the newest telemetry, else one
bounded ``vehicle_data?endpoints=location_data`` call (a sleeping car is not woken for it)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer
from driveway_hub.tesla import runtime

app = make_resolver("vehicle_location")


@app.get("/vehicles/<vehicle_id>/location")
def vehicle_location(vehicle_id: str) -> dict[str, Any]:
    return runtime.vehicle_service(get_settings()).location(principal_of(app), vehicle_id)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # a location is personal data
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
