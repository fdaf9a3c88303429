"""GET /v1/driveways/{driveway_id} — public fields for any signed-in user; everything for the owner.

Also where an uploaded photo becomes visible: pending photos are checked with a HEAD on first read.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer
from functions.driveways.runtime import driveway_service

app = make_resolver("get_driveway")


@app.get("/driveways/<driveway_id>")
def get_driveway(driveway_id: Annotated[str, Path(min_length=1, max_length=64)]) -> dict[str, Any]:
    return driveway_service(get_settings()).view(principal_of(app), driveway_id)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # the owner's answer holds their address
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
