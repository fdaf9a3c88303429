"""`python -m local.openapi`: build the API's ONE OpenAPI 3.1 document from the code and write
docs/openapi.json and its packaged copy driveway_hub/openapi.json, which GET /v1/docs serves (sorted
keys, stable; tests/unit/test_openapi_drift.py fails when either is stale).

The document is the contract every stage serves: routes limited to some stages (``Route.stages``: the
docs page itself, dev and local only) are tooling and stay out of it.

Every REST route of the route table (driveway_hub.routes) is one Lambda function with its own
Powertools resolver (``module.app``). Each resolver documents its one operation with
``get_openapi_json_schema()`` (parameters and request bodies from the handler's signature and pydantic
models). Powertools 3.37's ``OpenAPIMerge`` would merge them, but it discovers resolvers by looking for
``APIGatewayRestResolver(...)`` calls (ours come from ``make_resolver``) and silently lets a later
component overwrite an earlier one of the same name; so the merge is done here, deterministically, and
two different models under one component name are an error. On top of what Powertools produces:

- paths carry the stage (``/v1/...``) and ``operationId`` is the route's name;
- routes with ``auth=True`` require the ``bearerAuth`` scheme (``x-permission`` names the RBAC permission),
  partner routes (``api_key=True``) the ``partnerApiKey`` header;
- Powertools' 422 ``HTTPValidationError`` is replaced by the contract's error envelope
  (``{"error": {"code", "message", "details"}}``, docs: /work/shared/design/api.md): 400 for every route
  (validation is remapped to 400 by driveway_hub.http), 401/403 for authenticated routes (403 for API-key
  routes), and 4XX/5XX;
- the success status and media type come from the handler: a handler that answers
  ``Response(status_code=201, ...)`` is documented with 201 (204: no content) instead of Powertools' 200.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib
import inspect
import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from driveway_hub.routes import API_STAGE, REST_ROUTES, Route

ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = ROOT / "docs" / "openapi.json"
# The same bytes, shipped in the shared layer for functions.api.get_docs (it cannot import every handler).
PACKAGED_SPEC_PATH = ROOT / "layers" / "shared" / "python" / "driveway_hub" / "openapi.json"
REGENERATE = "python -m local.openapi"

TITLE = "Driveway-Hub API"
BEARER = "bearerAuth"
API_KEY = "partnerApiKey"
API_KEY_HEADER = "x-api-key"
ERROR_SCHEMA = "Error"
REF_PREFIX = "#/components/schemas/"
# Powertools' own validation models: its 422 answer is not ours (driveway_hub.http remaps it to 400).
POWERTOOLS_ERROR_SCHEMAS = frozenset({"HTTPValidationError", "ValidationError", "ResponseValidationError"})
JSON = "application/json"


class SpecError(RuntimeError):
    """The code cannot be documented consistently (route table and handler disagree, a name clash)."""


def error_schema() -> dict[str, Any]:
    """The contract's error envelope (driveway_hub.http.error_response; the gateway's own refusals)."""
    return {
        "type": "object",
        "title": ERROR_SCHEMA,
        "description": "The error envelope every 4xx/5xx answer carries.",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "description": "snake_case"},
                    "message": {"type": "string"},
                    "details": {"type": "array", "items": {}},
                },
            }
        },
    }


# status -> (name under components.responses, description); 401 only on authenticated routes, 403 on
# authenticated and API-key routes.
ERROR_RESPONSES: dict[str, tuple[str, str]] = {
    "400": ("BadRequest", "Bad input (validation errors name each field in details)."),
    "401": ("Unauthorized", "No or bad access token."),
    "403": ("Forbidden", "Not allowed: the route's permission, the resource's owner or the partner API key."),
    "4XX": ("ClientError", "Refused (not found, conflict, payment declined, rate limited, ...)."),
    "5XX": ("ServerError", "Upstream down (502/503) or an unexpected fault."),
}


def error_responses() -> dict[str, Any]:
    return {
        name: {"description": description, "content": {JSON: {"schema": {"$ref": REF_PREFIX + ERROR_SCHEMA}}}}
        for name, description in ERROR_RESPONSES.values()
    }


# ---- what the handler answers on success --------------------------------------------------------------
def _literal(node: ast.expr, namespace: dict[str, Any]) -> Any:
    """The value of a constant, a module-level name or an attribute of one (``HTTPStatus.CREATED``)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in namespace:
        return namespace[node.id]
    if isinstance(node, ast.Attribute):
        base = _literal(node.value, namespace)
        if base is not None:
            return getattr(base, node.attr, None)
    return None


def _is_response(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Response"


def success_answers(func: Callable[..., Any], default_status: int) -> dict[int, str | None]:
    """Status -> media type of each ``Response(...)`` the handler function builds in its own body.

    A media type of ``None`` means JSON (Powertools' default). A handler that (also) returns something
    else answers ``default_status`` (the route decorator's ``status_code``) for it.
    """
    func = inspect.unwrap(func)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return {default_status: None}
    namespace = dict(vars(sys.modules[func.__module__]))
    answers: dict[int, str | None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Return) and node.value is not None and not _is_response(node.value):
            answers.setdefault(default_status, None)
        if not isinstance(node, ast.Call) or not _is_response(node):
            continue
        keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg}
        status_node = node.args[0] if node.args else keywords.get("status_code")
        type_node = node.args[1] if len(node.args) > 1 else keywords.get("content_type")
        status = _literal(status_node, namespace) if status_node is not None else None
        if status is None:  # computed at run time: only the decorator's status can be told
            answers.setdefault(default_status, None)
            continue
        media = _literal(type_node, namespace) if type_node is not None else None
        answers[int(status)] = str(media) if media else None
    return answers or {default_status: None}


# ---- one route -------------------------------------------------------------------------------------
def powertools_route(module: ModuleType) -> Any:
    app = getattr(module, "app", None)
    if app is None:
        raise SpecError(f"{module.__name__} has no resolver called `app`")
    routes = list(app._static_routes) + list(app._dynamic_routes)
    if len(routes) != 1:
        raise SpecError(f"{module.__name__} registers {len(routes)} routes; one Lambda, one route")
    return routes[0]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            yield ref[len(REF_PREFIX):]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def needs_api_key(route: Route) -> bool:
    """Partner doors: API Gateway wants an API key (a usage plan) before the function runs."""
    return bool(getattr(route, "api_key", False))


def _responses(route: Route, powertools: dict[str, Any], answers: dict[int, str | None]) -> dict[str, Any]:
    documented = {code: answer for code, answer in powertools.items() if code != "422"}
    success = documented.pop(str(200), None) or documented.pop(str(min(answers)), None) or {}
    schema = (success.get("content") or {}).get(JSON, {}).get("schema", {})
    for status, media in sorted(answers.items()):
        if status == 204:
            documented[str(status)] = {"description": "No content"}
            continue
        documented[str(status)] = {
            "description": success.get("description") or "Successful Response",
            "content": {media or JSON: {"schema": copy.deepcopy(schema)}},
        }
    for code, (name, _description) in ERROR_RESPONSES.items():
        if (code == "401" and not route.auth) or (code == "403" and not (route.auth or needs_api_key(route))):
            continue
        documented.setdefault(code, {"$ref": f"#/components/responses/{name}"})
    return documented


def operation_for(route: Route) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """(path with the stage, method, operation, component schemas) of one REST route."""
    module = importlib.import_module(route.module)
    handler_route = powertools_route(module)
    schema = json.loads(module.app.get_openapi_json_schema())
    path, method = str(route.path), str(route.method).lower()
    operation = (schema.get("paths") or {}).get(path, {}).get(method)
    if operation is None:
        found = {p: sorted(item) for p, item in (schema.get("paths") or {}).items()}
        raise SpecError(f"route {route.name}: {route.method} {route.path} is not what {route.module} serves: {found}")
    answers = success_answers(handler_route.func, int(handler_route.status_code))
    operation["operationId"] = route.name
    operation["summary"] = f"{route.method} /{API_STAGE}{route.path}"
    operation["tags"] = [route.module.split(".")[1]]
    if module.__doc__:
        operation["description"] = inspect.cleandoc(module.__doc__)
    operation["responses"] = _responses(route, operation.get("responses") or {}, answers)
    requirement: dict[str, list[str]] = {}
    if route.auth:
        requirement[BEARER] = []
        operation["x-permission"] = route.permission
    if needs_api_key(route):
        requirement[API_KEY] = []
    if requirement:
        operation["security"] = [requirement]  # one requirement: all of its schemes
    components = (schema.get("components") or {}).get("schemas") or {}
    return f"/{API_STAGE}{path}", method, operation, components


# ---- the document ------------------------------------------------------------------------------------
def _reachable(paths: dict[str, Any], schemas: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = list(_refs(paths))
    while todo:
        name = todo.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        todo.extend(_refs(schemas[name]))
    return seen


def security_schemes(routes: tuple[Route, ...]) -> dict[str, Any]:
    schemes: dict[str, Any] = {
        BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                 "description": "The access token from POST /v1/auth/login."},
    }
    if any(needs_api_key(route) for route in routes):
        schemes[API_KEY] = {"type": "apiKey", "in": "header", "name": API_KEY_HEADER,
                            "description": "A partner's API Gateway API key (usage plan: throttling and quota)."}
    return schemes


def documented_routes(routes: tuple[Route, ...] = REST_ROUTES) -> tuple[Route, ...]:
    """The REST routes the document describes: those every stage serves (``stages`` is None)."""
    return tuple(route for route in routes if route.stages is None)


DOCUMENTED_ROUTES = documented_routes()


def build_spec(routes: tuple[Route, ...] = DOCUMENTED_ROUTES) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every REST route, merged in route-table order."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {ERROR_SCHEMA: error_schema()}
    owner: dict[str, str] = {ERROR_SCHEMA: "local.openapi"}
    for route in routes:
        path, method, operation, components = operation_for(route)
        if method in paths.get(path, {}):
            raise SpecError(f"{route.method} {path} is documented twice (route {route.name})")
        paths.setdefault(path, {})[method] = operation
        for name, definition in components.items():
            if name in POWERTOOLS_ERROR_SCHEMAS:
                continue
            if name in schemas and schemas[name] != definition:
                raise SpecError(
                    f"component schema {name!r} differs between {owner[name]} and {route.module}: "
                    "rename one of the models"
                )
            schemas.setdefault(name, definition)
            owner.setdefault(name, route.module)
    dangling = sorted(set(_refs(paths)) - set(schemas))
    if dangling:
        raise SpecError(f"unresolved schema references: {dangling}")
    keep = _reachable(paths, schemas) | {ERROR_SCHEMA}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": API_STAGE,
            "description": "Generated from the route table and the handlers' Powertools resolvers by "
            f"`{REGENERATE}`; do not edit by hand. Errors use the envelope "
            '`{"error": {"code", "message", "details"}}`.',
        },
        "servers": [{"url": "/", "description": "the API's origin; paths carry the stage"}],
        "paths": paths,
        "components": {
            "responses": error_responses(),
            "schemas": {name: schemas[name] for name in sorted(keep)},
            "securitySchemes": security_schemes(routes),
        },
    }


def render(spec: dict[str, Any] | None = None) -> str:
    """The document as committed: sorted keys, two-space indent, a final newline."""
    return json.dumps(build_spec() if spec is None else spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description="Write the OpenAPI document built from the code.")
    defaults = (SPEC_PATH, PACKAGED_SPEC_PATH)
    parser.add_argument("--output", type=Path, action="append",
                        help=f"default: {' and '.join(str(p.relative_to(ROOT)) for p in defaults)}")
    parser.add_argument("--check", action="store_true", help="exit 1 if a file differs from the code")
    args = parser.parse_args(argv)
    text = render()
    operations = sum(len(item) for item in json.loads(text)["paths"].values())
    stale = 0
    for output in args.output or defaults:
        current = output.read_text(encoding="utf-8") if output.exists() else None
        if args.check:
            if current != text:
                print(f"{output} is stale: run `{REGENERATE}`", file=sys.stderr)
                stale += 1
            continue
        if current != text:
            output.write_text(text, encoding="utf-8")
        print(f"wrote {output} ({operations} operations)" if current != text else f"{output} is up to date")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
