"""docs/openapi.json is what the code documents: regenerated from the handlers' resolvers, it must be
byte-identical to the committed file and to its packaged copy (driveway_hub/openapi.json, served by
GET /v1/docs), and every REST route that every stage serves must be in it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from driveway_hub.routes import API_STAGE, REST_ROUTES
from local import openapi

DOCUMENTED_ROUTES = openapi.DOCUMENTED_ROUTES  # every stage serves them (not the dev-only docs page)

STALE = f"docs/openapi.json is stale: run `{openapi.REGENERATE}` and commit the result"


@pytest.fixture(scope="module")
def generated() -> str:
    return openapi.render()


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    assert openapi.SPEC_PATH.exists(), STALE
    return json.loads(openapi.SPEC_PATH.read_text(encoding="utf-8"))


def test_committed_document_matches_the_code(generated: str) -> None:
    committed_text = openapi.SPEC_PATH.read_text(encoding="utf-8") if openapi.SPEC_PATH.exists() else ""
    if committed_text != generated:
        before, after = json.loads(committed_text or "{}"), json.loads(generated)
        changed = sorted(
            f"{method.upper()} {path}"
            for path in set(before.get("paths", {})) | set(after.get("paths", {}))
            for method in set(before.get("paths", {}).get(path, {})) | set(after.get("paths", {}).get(path, {}))
            if before.get("paths", {}).get(path, {}).get(method) != after.get("paths", {}).get(path, {}).get(method)
        )
        pytest.fail(f"{STALE} (operations that differ: {changed or 'none; components or info differ'})")


def test_packaged_copy_for_the_docs_route_matches_the_code(generated: str) -> None:
    packaged = openapi.PACKAGED_SPEC_PATH
    assert packaged.exists() and packaged.read_text(encoding="utf-8") == generated, \
        f"{packaged.relative_to(openapi.ROOT)} is stale: run `{openapi.REGENERATE}` and commit the result"


def test_stage_limited_routes_are_tooling_not_the_contract() -> None:
    # The document is what every stage serves; the docs page (dev and local only) is not in it.
    assert {r.name for r in REST_ROUTES} - {r.name for r in DOCUMENTED_ROUTES} == {
        r.name for r in REST_ROUTES if r.stages is not None
    } == {"get_docs"}


def test_generation_is_stable(generated: str) -> None:
    assert openapi.render() == generated


def test_every_rest_route_is_documented_with_its_method(committed: dict[str, Any]) -> None:
    paths = committed["paths"]
    for route in DOCUMENTED_ROUTES:
        path = f"/{API_STAGE}{route.path}"
        assert path in paths, f"{route.name}: {path} missing from docs/openapi.json; {STALE}"
        operation = paths[path].get(str(route.method).lower())
        assert operation is not None, f"{route.name}: {route.method} {path} missing; {STALE}"
        assert operation["operationId"] == route.name
    documented = sum(len(item) for item in paths.values())
    assert documented == len(DOCUMENTED_ROUTES), \
        f"docs/openapi.json documents operations the route table lacks; {STALE}"


def test_security_follows_the_route_table(committed: dict[str, Any]) -> None:
    schemes = committed["components"]["securitySchemes"]
    assert schemes[openapi.BEARER]["scheme"] == "bearer"
    for route in DOCUMENTED_ROUTES:
        operation = committed["paths"][f"/{API_STAGE}{route.path}"][str(route.method).lower()]
        expected = {name for name, needed in ((openapi.BEARER, route.auth),
                                              (openapi.API_KEY, openapi.needs_api_key(route))) if needed}
        assert {name for requirement in operation.get("security", []) for name in requirement} == expected, route.name
        if route.auth:
            assert operation["x-permission"] == route.permission, route.name
            assert {"401", "403"} <= set(operation["responses"]), route.name
        if openapi.needs_api_key(route):
            assert schemes[openapi.API_KEY] == {**schemes[openapi.API_KEY], "in": "header", "name": "x-api-key"}
            assert "403" in operation["responses"], route.name


def test_errors_are_documented_with_the_envelope(committed: dict[str, Any]) -> None:
    envelope = committed["components"]["schemas"][openapi.ERROR_SCHEMA]
    assert envelope["properties"]["error"]["required"] == ["code", "message", "details"]
    for path, item in committed["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert {"400", "4XX", "5XX"} <= set(responses), f"{method} {path}"
            assert "422" not in responses, f"{method} {path}: Powertools' 422 is remapped to 400"
            assert any(code.startswith("2") for code in responses), f"{method} {path} documents no success"


def test_document_is_valid_openapi_3_1(committed: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    assert committed["openapi"].startswith("3.1")
    validator.validate(committed)


def test_success_status_comes_from_the_handler(generated: str) -> None:
    # Handlers that answer Response(status_code=201/202/204) are documented with that status, not 200.
    spec = json.loads(generated)
    assert "201" in spec["paths"]["/v1/auth/register"]["post"]["responses"]
    assert "204" in spec["paths"]["/v1/auth/logout"]["post"]["responses"]
    assert "content" not in spec["paths"]["/v1/auth/logout"]["post"]["responses"]["204"]
    assert "202" in spec["paths"]["/v1/vehicles/{vehicle_id}/autopark"]["post"]["responses"]
    assert "200" not in spec["paths"]["/v1/bookings"]["post"]["responses"]
