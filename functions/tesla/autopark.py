"""POST /v1/vehicles/{vehicle_id}/autopark ``{booking_id}`` — 202 ``{mode, reason, instructions}`` from the
parking-manoeuvre port. On a real Tesla the mode is ``driver_guided`` (there is no remote auto-park
command); parking is then confirmed from telemetry, never assumed."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer
from driveway_hub.tesla import runtime
from functions.tesla.navigate import BookingReference

app = make_resolver("vehicle_autopark")


@app.post("/vehicles/<vehicle_id>/autopark")
def autopark(vehicle_id: str, request: Annotated[BookingReference, Body()]) -> Response[dict[str, Any]]:
    answer = runtime.vehicle_service(get_settings()).autopark(principal_of(app), vehicle_id, request.booking_id)
    return Response(HTTPStatus.ACCEPTED, content_types.APPLICATION_JSON, answer)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
