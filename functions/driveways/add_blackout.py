"""POST /v1/driveways/{driveway_id}/blackouts — the owner blocks out a period (search and booking skip it)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer
from functions.driveways.models import BlackoutRequest, fields_in
from functions.driveways.runtime import driveway_service

app = make_resolver("add_blackout")


@app.post("/driveways/<driveway_id>/blackouts")
def add_blackout(
    driveway_id: Annotated[str, Path(min_length=1, max_length=64)], request: BlackoutRequest
) -> Response[dict[str, Any]]:
    with fields_in("body"):
        blackout = driveway_service(get_settings()).add_blackout(
            principal_of(app), driveway_id, request.start, request.end, request.reason
        )
    logger.info("blackout added", extra={"driveway_id": driveway_id, "blackout_id": blackout.blackout_id})
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON,
                    body=blackout.to_dict() | {"driveway_id": driveway_id})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
