"""POST /v1/bookings/{booking_id}/confirm-parked — the host confirms the car is parked in the driveway when
telemetry could not (the lifecycle asked them); 202: the workflow makes the status change."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub import booking_runtime as runtime
from driveway_hub.booking_views import booking_view
from driveway_hub.config import get_settings
from driveway_hub.domain.bookings import resume_step
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer

app = make_resolver("confirm_parked")


@app.post("/bookings/<booking_id>/confirm-parked")
def post_step(booking_id: str) -> Response[dict[str, Any]]:
    booking = resume_step(runtime.context(get_settings()), caller=runtime.caller_of(principal_of(app)),
                          booking_id=booking_id, waiting_for="parked", side="host")
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=booking_view(booking))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
