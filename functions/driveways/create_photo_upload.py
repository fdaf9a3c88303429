"""POST /v1/driveways/{driveway_id}/photos — a presigned S3 POST for one photo of the owner's driveway.

The answer carries ``upload_url`` and ``photo_id`` (the contract) plus ``method: "POST"`` and the form
``fields`` to send with the file: a POST policy lets S3 enforce the content type and the size limit.
The photo appears on the driveway once uploaded (see get_driveway).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.config import get_settings
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer
from functions.driveways.models import PhotoUploadRequest
from functions.driveways.runtime import driveway_service

app = make_resolver("create_photo_upload")


@app.post("/driveways/<driveway_id>/photos")
def create_photo_upload(
    driveway_id: Annotated[str, Path(min_length=1, max_length=64)],
    request: Annotated[PhotoUploadRequest | None, Body()] = None,
) -> Response[dict[str, Any]]:
    content_type = (request or PhotoUploadRequest()).content_type
    upload = driveway_service(get_settings()).create_photo_upload(principal_of(app), driveway_id, content_type)
    logger.info("photo upload presigned", extra={"driveway_id": driveway_id, "photo_id": upload["photo_id"]})
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=upload)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # the answer is a bearer credential for one upload
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
