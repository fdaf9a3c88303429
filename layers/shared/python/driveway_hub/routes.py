"""The one route table: every REST and WebSocket route, and every workflow task function.

CDK (stacks/api_stack.py) creates one Lambda function per entry and wires API Gateway from it; the
local gateway (local/gateway.py) routes with it; the local Lambda service (local/moto_backend.py)
dispatches Step Functions tasks with it; tests check every entry has a handler, a sample event and a
test. REST paths are relative to the API stage, which is ``v1`` (so ``/health`` is ``/v1/health``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

API_STAGE = "v1"

Kind = Literal["rest", "websocket", "task"]


@dataclass(frozen=True)
class Route:
    """One Lambda function and the door it sits behind.

    ``name`` is unique and names the function (``driveway-hub-<stage>-<name>``) and its sample event
    (``events/<name>.json``). ``permission`` is the RBAC permission the caller needs; ``None`` with
    ``auth=False`` means public (health, webhooks with their own signatures, OAuth redirects).
    """

    name: str
    kind: Kind
    module: str
    method: str | None = None
    path: str | None = None
    route_key: str | None = None
    auth: bool = True
    permission: str | None = None
    tables: tuple[str, ...] = ()

    @property
    def handler(self) -> str:
        """The Lambda handler string: the module path plus ``.handler``."""
        return f"{self.module}.handler"

    def function_name(self, stage: str) -> str:
        return f"driveway-hub-{stage}-{self.name}"


ROUTES: tuple[Route, ...] = (
    Route("get_health", "rest", "functions.api.get_health", "GET", "/health", auth=False, tables=("users",)),
    Route("ws_connect", "websocket", "functions.ws.connect", route_key="$connect", auth=False,
          tables=("connections",)),
    Route("ws_disconnect", "websocket", "functions.ws.disconnect", route_key="$disconnect", auth=False,
          tables=("connections",)),
    Route("ws_ping", "websocket", "functions.ws.ping", route_key="ping", auth=False),
    Route("ws_default", "websocket", "functions.ws.default", route_key="$default", auth=False),
)

REST_ROUTES = tuple(r for r in ROUTES if r.kind == "rest")
WEBSOCKET_ROUTES = tuple(r for r in ROUTES if r.kind == "websocket")
TASKS = tuple(r for r in ROUTES if r.kind == "task")
ROUTES_BY_NAME = {r.name: r for r in ROUTES}


def function_name_to_route(function_name: str, stage: str) -> Route | None:
    """Find the route whose Lambda function is called ``function_name`` (name or ARN)."""
    short = function_name.rsplit(":", 1)[-1] if function_name.startswith("arn:") else function_name
    prefix = f"driveway-hub-{stage}-"
    if not short.startswith(prefix):
        return None
    return ROUTES_BY_NAME.get(short[len(prefix):])
