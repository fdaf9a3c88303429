"""The route table is the contract between CDK, the local gateway and the code: every entry must have
a handler, a sample event and a test, and names/doors must be unique."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from driveway_hub.routes import ROUTES, Route, function_name_to_route

ROOT = Path(__file__).resolve().parents[2]
TEST_SOURCES = {
    p: p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p.name != "test_route_table.py"
}


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_every_route_has_a_handler_module(route: Route) -> None:
    module = importlib.import_module(route.module)
    assert callable(getattr(module, "handler", None)), f"{route.module} has no handler()"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_every_route_has_a_sample_event(route: Route) -> None:
    path = ROOT / "events" / f"{route.name}.json"
    assert path.is_file(), f"missing sample event {path.relative_to(ROOT)}"
    json.loads(path.read_text())


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_every_route_is_exercised_by_a_test(route: Route) -> None:
    mentioned = [p for p, text in TEST_SOURCES.items() if route.module in text or f'"{route.name}"' in text]
    assert mentioned, f"no test mentions {route.module} or {route.name!r}"


def test_route_names_and_doors_are_unique() -> None:
    names = [r.name for r in ROUTES]
    doors = [(r.method, r.path) if r.kind == "rest" else (r.kind, r.route_key or r.name) for r in ROUTES]
    assert len(names) == len(set(names))
    assert len(doors) == len(set(doors))


def test_rest_and_websocket_routes_declare_their_door() -> None:
    for route in ROUTES:
        if route.kind == "rest":
            assert route.method in {"GET", "POST", "PUT", "PATCH", "DELETE"} and (route.path or "").startswith("/")
        elif route.kind == "websocket":
            assert route.route_key
        # An authenticated route must say which permission it needs.
        assert not route.auth or route.permission, f"{route.name} needs auth but declares no permission"


def test_function_names_resolve_back_to_routes() -> None:
    for route in ROUTES:
        name = route.function_name("dev")
        assert function_name_to_route(name, "dev") is route
        assert function_name_to_route(f"arn:aws:lambda:us-east-1:123456789012:function:{name}", "dev") is route
    assert function_name_to_route("driveway-hub-dev-nope", "dev") is None
