"""RBAC, ownership, and the permission matrix generated from the route table.

The matrix covers every authenticated route, role set and owner/non-owner (for routes on a resource, i.e.
with a path parameter), against the seed's RBAC spelled out below independently of the code. A route
added with ``auth=True`` and no permission (or one outside the catalogue) fails here.
"""

from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from driveway_hub.auth.permissions import (
    ALL_PERMISSIONS,
    ROLE_PERMISSIONS,
    Principal,
    custom_claims,
    permissions_for,
    require_owner,
)
from driveway_hub.errors import NotAllowed, NotAuthenticated, NotOwner
from driveway_hub.http import authorize_route, route_for_event
from driveway_hub.routes import REST_ROUTES, ROUTES, Route
from local.lambda_runtime import LocalLambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"

# The seed's RBAC (architecture.md, Security rules), plus account:manage which every role holds.
SEED_RBAC: dict[str, set[str]] = {
    "driver": {"booking:create", "booking:view", "booking:cancel", "vehicle:control", "payment:create",
               "account:manage"},
    "host": {"driveway:create", "driveway:manage", "booking:view", "payout:view", "account:manage"},
}
ROLE_SETS: dict[str, tuple[str, ...]] = {
    "driver": ("driver",),
    "host": ("host",),
    "driver+host": ("driver", "host"),
    "admin": ("admin",),
    "no role": (),
}
AUTHENTICATED = [r for r in ROUTES if r.auth]


def expected_allowed(permission: str, roles: tuple[str, ...], owner: bool) -> bool:
    if "admin" in roles:
        return True
    return owner and any(permission in SEED_RBAC[role] for role in roles)


def route_is_on_a_resource(route: Route) -> bool:
    return "{" in (route.path or "")


def caller_may(route: Route, principal: Principal, owner_id: str) -> bool:
    """The edge's permission check, then the domain's ownership check, as a request meets them."""
    event = {"requestContext": {"authorizer": {"principalId": principal.user_id,
                                               **principal.to_authorizer_context()}}}
    try:
        authorize_route(route, event)
        if route_is_on_a_resource(route):
            require_owner(principal, owner_id)
    except NotAllowed:
        return False
    return True


MATRIX = [
    (route, role_set, ownership)
    for route in AUTHENTICATED
    for role_set in ROLE_SETS
    for ownership in (("owner", "non-owner") if route_is_on_a_resource(route) else ("own account",))
]


@pytest.mark.parametrize(
    ("route", "role_set", "ownership"), MATRIX, ids=[f"{r.name}-{s}-{o}" for r, s, o in MATRIX]
)
def test_permission_matrix(route: Route, role_set: str, ownership: str) -> None:
    assert route.permission, f"{route.name} requires auth but declares no permission"
    assert route.permission in ALL_PERMISSIONS, f"{route.name} declares unknown permission {route.permission!r}"
    principal = Principal.for_roles("caller", ROLE_SETS[role_set])
    owner_id = "someone-else" if ownership == "non-owner" else "caller"

    allowed = caller_may(route, principal, owner_id)

    assert allowed == expected_allowed(route.permission, ROLE_SETS[role_set], ownership != "non-owner")


def test_an_authenticated_route_without_a_permission_is_refused_to_everyone() -> None:
    undeclared = Route("new_thing", "rest", "functions.api.new_thing", "GET", "/things", auth=True)
    admin = Principal.for_roles("caller", ("admin",))

    assert not caller_may(undeclared, admin, "caller")


def test_role_permissions_match_the_seed() -> None:
    assert ROLE_PERMISSIONS["driver"] == SEED_RBAC["driver"]
    assert ROLE_PERMISSIONS["host"] == SEED_RBAC["host"]
    assert ROLE_PERMISSIONS["admin"] == ALL_PERMISSIONS


def test_a_user_with_both_roles_holds_the_union() -> None:
    assert permissions_for(["driver", "host"]) == SEED_RBAC["driver"] | SEED_RBAC["host"]


def test_unknown_role_names_grant_nothing() -> None:
    assert permissions_for(["superuser", "root"]) == frozenset()


def test_owner_and_admin_pass_the_ownership_check_others_do_not() -> None:
    require_owner(Principal.for_roles("u1", ["driver"]), "u1")
    require_owner(Principal.for_roles("ops", ["admin"]), "u1")
    with pytest.raises(NotOwner):
        require_owner(Principal.for_roles("u2", ["driver", "host"]), "u1")


def test_principal_survives_the_authorizer_context_round_trip() -> None:
    principal = Principal.for_roles("u1", ["driver", "host"], token_issued_at=1795514000)

    context = principal.to_authorizer_context()

    assert all(isinstance(v, str) for v in context.values())  # API Gateway allows only scalars
    assert Principal.from_authorizer_context(context) == principal


def test_missing_authorizer_context_is_not_authenticated() -> None:
    with pytest.raises(NotAuthenticated):
        Principal.from_authorizer_context(None)


def test_custom_claims_name_the_first_role_and_its_permissions() -> None:
    claims = custom_claims(["host", "driver"], tesla_linked=True)

    assert claims["user_type"] == "host"
    assert set(claims["permissions"]) == SEED_RBAC["driver"] | SEED_RBAC["host"]
    assert claims["tesla_linked"] is True


# ---- the handlers themselves refuse before doing anything --------------------------------------------

AUTHENTICATED_REST = [r for r in REST_ROUTES if r.auth]


def _sample_event(route: Route) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{route.name}.json").read_text())
    return copy.deepcopy(event)


def _invoke(route: Route, event: dict[str, Any]) -> dict[str, Any]:
    module = importlib.import_module(route.module)
    result: dict[str, Any] = module.handler(event, LocalLambdaContext(function_name=route.function_name("test")))
    return result


@pytest.mark.parametrize("route", AUTHENTICATED_REST, ids=lambda r: r.name)
def test_handler_answers_403_to_a_caller_without_the_permission(route: Route) -> None:
    event = _sample_event(route)
    event["requestContext"]["authorizer"] = {"principalId": "caller",
                                             **Principal.for_roles("caller", []).to_authorizer_context()}

    result = _invoke(route, event)

    assert result["statusCode"] == 403
    assert json.loads(result["body"])["error"]["code"] == "forbidden"


@pytest.mark.parametrize("route", AUTHENTICATED_REST, ids=lambda r: r.name)
def test_handler_answers_401_without_an_authorizer_context(route: Route) -> None:
    event = _sample_event(route)
    event["requestContext"].pop("authorizer", None)

    result = _invoke(route, event)

    assert result["statusCode"] == 401
    assert json.loads(result["body"])["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("route", REST_ROUTES, ids=lambda r: r.name)
def test_sample_events_match_their_route(route: Route) -> None:
    assert route_for_event(_sample_event(route)) is route
