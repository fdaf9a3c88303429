"""GET /.well-known/appspecific/com.tesla.3p.public-key.pem — our partner public key, from configuration.

Tesla fetches it from the ROOT of the registered domain, and it must stay there. API Gateway serves
this route under the stage (``/v1/.well-known/...``); docs/tesla.md says how the domain root maps to it
(a custom domain's base-path mapping). Public by design: it is a public key.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.config import get_settings
from driveway_hub.errors import NotFound
from driveway_hub.http import make_resolver
from driveway_hub.observability import logger, tracer

app = make_resolver("tesla_public_key")
PEM_CONTENT_TYPE = "application/x-pem-file"


@app.get("/.well-known/appspecific/com.tesla.3p.public-key.pem")
def public_key() -> Response[str]:
    pem = get_settings().tesla_public_key_pem
    if not pem or "BEGIN PUBLIC KEY" not in pem:
        raise NotFound("No partner public key is configured.")
    # Environment variables cannot hold newlines in every tool: accept "\n" escapes too.
    body = pem.replace("\\n", "\n").strip() + "\n"
    return Response(HTTPStatus.OK, PEM_CONTENT_TYPE, body, headers={"Cache-Control": "public, max-age=3600"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
