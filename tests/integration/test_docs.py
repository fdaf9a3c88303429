"""GET /v1/docs (functions.api.get_docs): Swagger UI for the whole API through the local cloud, with its
JavaScript and stylesheet served by the same function (no CDN), only in the stages that want it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from driveway_hub.config import STAGES
from driveway_hub.routes import REST_ROUTES, ROUTES, ROUTES_BY_NAME, routes_for
from local.cloud import LocalCloud
from local.gateway import RestRouter
from local.lambda_runtime import invoke
from local.openapi import DOCUMENTED_ROUTES, SPEC_PATH

pytestmark = pytest.mark.integration

EVENT = Path(__file__).resolve().parents[2] / "events" / "get_docs.json"
# What the page loads: <script src=...> and <link href=...>.
LOADED = re.compile(r"""<(?:script[^>]*\ssrc|link[^>]*\shref)=['"]([^'"]+)['"]""")


@pytest.fixture(scope="module")
def page(api: str) -> requests.Response:
    return requests.get(f"{api}/docs", timeout=30)


def embedded_spec(html: str) -> dict[str, Any]:
    """The document the page hands Swagger UI (Powertools' template: ``spec: {...},`` then ``presets``)."""
    match = re.search(r"spec: (\{.*?\})\s*,\s*presets:", html, re.DOTALL)
    assert match, "no embedded spec in the page"
    spec: dict[str, Any] = json.loads(match.group(1).replace("<\\/", "</"))
    return spec


def test_docs_page_is_public_html_that_loads_only_our_own_assets(api: str, page: requests.Response) -> None:
    # Given no token, When the docs page is fetched, Then it is Swagger UI's HTML
    assert page.status_code == 200, page.text[:300]
    assert page.headers["Content-Type"].startswith("text/html")
    assert "SwaggerUIBundle(" in page.text
    # And everything it loads comes from the same function, relative to the page: no CDN
    loaded = LOADED.findall(page.text)
    assert sorted(loaded) == ["?format=css", "?format=js"]
    assert not re.search(r"""(?:src|href)=['"](?:https?:)?//""", page.text)


@pytest.mark.parametrize(("asset", "content_type", "marker"), [
    ("?format=js", "application/javascript", "SwaggerUIBundle"),
    ("?format=css", "text/css", ".swagger-ui"),
])
def test_swagger_ui_assets_load_from_the_docs_route(
    api: str, page: requests.Response, asset: str, content_type: str, marker: str
) -> None:
    # Given the URL the page references, resolved the way a browser does
    url = urljoin(page.url, asset)
    assert url == f"{api}/docs{asset}"
    # When it is fetched, Then it is the asset Powertools ships, as text
    response = requests.get(url, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(content_type)
    assert marker in response.text
    assert len(response.content) > 100_000


def test_the_document_served_is_the_committed_one_for_the_whole_api(api: str, page: requests.Response) -> None:
    committed_text = SPEC_PATH.read_text(encoding="utf-8")
    committed = json.loads(committed_text)
    # When the document is fetched the way Powertools' Swagger UI names it (?format=json)
    response = requests.get(f"{api}/docs", params={"format": "json"}, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    # Then it is docs/openapi.json byte for byte, and the page shows the same document
    assert response.text == committed_text
    assert embedded_spec(page.text) == committed
    # And it documents every route every stage serves, not only the docs function's own
    operations = {op["operationId"] for item in committed["paths"].values() for op in item.values()}
    assert operations == {route.name for route in DOCUMENTED_ROUTES}
    assert "get_docs" not in operations


def test_an_unknown_format_is_a_400_in_the_error_envelope(api: str) -> None:
    response = requests.get(f"{api}/docs", params={"format": "pdf"}, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("fmt", [None, "json", "js", "css"])
def test_every_answer_is_plain_text_for_the_rest_proxy(local_cloud: LocalCloud, fmt: str | None) -> None:
    # API Gateway's REST proxy passes text through; base64 would need binaryMediaTypes on the API.
    event = json.loads(EVENT.read_text())
    if fmt:
        event["queryStringParameters"] = {"format": fmt}
        event["multiValueQueryStringParameters"] = {"format": [fmt]}
    result = invoke(ROUTES_BY_NAME["get_docs"], event)
    assert result["statusCode"] == 200
    assert result["isBase64Encoded"] is False
    assert isinstance(result["body"], str) and result["body"]


# ---- where the route exists --------------------------------------------------------------------------
def test_docs_route_is_served_in_dev_and_the_local_cloud_but_not_in_staging_or_prod() -> None:
    docs = ROUTES_BY_NAME["get_docs"]
    assert [stage for stage in STAGES if docs.served_in(stage)] == ["local", "dev"]
    assert docs in routes_for("dev") and docs in routes_for("local")
    assert docs not in routes_for("prod")
    # Every other route is everywhere.
    assert routes_for("prod") == tuple(r for r in ROUTES if r is not docs)


def test_route_stages_name_known_stages() -> None:
    for route in ROUTES:
        assert route.stages is None or (route.stages and set(route.stages) <= set(STAGES)), route.name


def test_a_prod_gateway_has_no_docs_route() -> None:
    # The local gateway routes with routes_for(its stage), as CDK builds with routes_for(env).
    assert RestRouter(routes_for("local", REST_ROUTES)).match("GET", "/docs") is not None
    assert RestRouter(routes_for("prod", REST_ROUTES)).match("GET", "/docs") is None
