"""GET /v1/docs — Swagger UI for the whole API, with no CDN: dev stage and local cloud only.

One function serves the page and what it loads, chosen by ``?format=`` (Powertools' ``enable_swagger``
also answers ``?format=json`` with the document): nothing is the HTML page, ``json`` the OpenAPI
document, ``js`` and ``css`` the Swagger UI bundle and stylesheet Powertools ships (offline). The page
links them by relative URL (``?format=js``), so it works at any base path (stage, custom domain).

The document is the one ``python -m local.openapi`` generates from every handler (docs/openapi.json),
packaged with the shared code as ``driveway_hub/openapi.json``: building it here would import every
function of the API. Text answers stay text (no base64), as API Gateway's REST proxy wants them.
"""

from __future__ import annotations

from functools import cache
from http import HTTPStatus
from importlib import resources
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.http import make_resolver
from driveway_hub.observability import logger, tracer

app = make_resolver("get_docs")

DocsFormat = Literal["html", "json", "js", "css"]
SWAGGER_UI = "aws_lambda_powertools.event_handler.openapi.swagger_ui"
# (package, file, content type, Cache-Control) per format; the page and the document change with a deploy.
ASSETS: dict[str, tuple[str, str, str, str]] = {
    "json": ("driveway_hub", "openapi.json", "application/json", "no-cache"),
    "js": (SWAGGER_UI, "swagger-ui-bundle.min.js", "application/javascript; charset=utf-8", "max-age=86400"),
    "css": (SWAGGER_UI, "swagger-ui.min.css", "text/css; charset=utf-8", "max-age=86400"),
}
HTML = "text/html; charset=utf-8"


@cache
def asset(name: str) -> str:
    """The text of one of ``ASSETS`` (read once per container: 1.7 MB of Swagger UI)."""
    package, filename, _content_type, _cache_control = ASSETS[name]
    return resources.files(package).joinpath(filename).read_text(encoding="utf-8")


@cache
def page() -> str:
    # The document is embedded, as Powertools does; "</" is escaped so no string in it ends the <script>.
    # A swagger_base_url makes Powertools link the assets instead of inlining them; ours are relative.
    # Imported here: it loads Powertools' OpenAPI models (~40 ms), which only the HTML page needs (issue #8).
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

    return generate_swagger_html(
        spec=asset("json").replace("</", "<\\/"),
        swagger_js="?format=js",
        swagger_css="?format=css",
        swagger_base_url=".",
        oauth2_config=None,
        persist_authorization=True,
    )


@app.get("/docs")
def get_docs(fmt: Annotated[DocsFormat, Query(alias="format")] = "html") -> Response[str]:
    if fmt == "html":
        return Response(HTTPStatus.OK, HTML, page(), headers={"Cache-Control": "no-cache"})
    _package, _filename, content_type, cache_control = ASSETS[fmt]
    return Response(HTTPStatus.OK, content_type, asset(fmt), headers={"Cache-Control": cache_control})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # 1.5 MB of JavaScript is no trace metadata
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
