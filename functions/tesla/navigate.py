"""POST /v1/vehicles/{vehicle_id}/navigate ``{booking_id}`` — 202: the driveway is sent to the car
(``status: sent``), or the sleeping car is being woken (``status: waking``, ``retry_after_s``: post again
then; the wake calls are bounded)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer
from driveway_hub.tesla import runtime

app = make_resolver("vehicle_navigate")


class BookingReference(BaseModel):
    model_config = ConfigDict(extra="forbid")

    booking_id: str = Field(min_length=1, max_length=128)


@app.post("/vehicles/<vehicle_id>/navigate")
def navigate(vehicle_id: str, request: Annotated[BookingReference, Body()]) -> Response[dict[str, Any]]:
    answer = runtime.vehicle_service(get_settings()).navigate(principal_of(app), vehicle_id, request.booking_id)
    return Response(HTTPStatus.ACCEPTED, content_types.APPLICATION_JSON, answer)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
