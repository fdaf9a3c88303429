"""PATCH /v1/driveways/{driveway_id} — the owner (or an admin) changes listing fields."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer
from functions.driveways.models import UpdateDrivewayRequest, fields_in
from functions.driveways.runtime import driveway_service

app = make_resolver("update_driveway")


@app.patch("/driveways/<driveway_id>")
def update_driveway(
    driveway_id: Annotated[str, Path(min_length=1, max_length=64)], request: UpdateDrivewayRequest
) -> dict[str, Any]:
    service = driveway_service(get_settings())
    with fields_in("body"):
        driveway = service.update(principal_of(app), driveway_id, request.as_changes())
    logger.info("driveway updated", extra={"driveway_id": driveway_id, "version": driveway.version})
    return service.present(driveway, full=True)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
