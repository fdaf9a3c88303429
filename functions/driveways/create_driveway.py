"""POST /v1/driveways — a host lists a driveway (driveway:create; drivers get 403 from the route table)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer
from functions.driveways.models import CreateDrivewayRequest, fields_in
from functions.driveways.runtime import driveway_service

app = make_resolver("create_driveway")


@app.post("/driveways")
def create_driveway(request: CreateDrivewayRequest) -> Response[dict[str, Any]]:
    service = driveway_service(get_settings())
    with fields_in("body"):
        driveway = service.create(principal_of(app), request.as_fields())
    logger.info("driveway created", extra={"driveway_id": driveway.driveway_id, "host_id": driveway.host_id})
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON,
                    body=service.present(driveway, full=True))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # the answer holds the host's address
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
