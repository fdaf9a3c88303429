"""Runs our Lambda handlers in-process, the way the Lambda runtime would: import the module named in
the route table once (a warm container), call ``handler(event, context)`` with a real-looking context."""

from __future__ import annotations

import importlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from driveway_hub.routes import Route

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LocalLambdaContext:
    """The attributes of the Lambda context object that Powertools and our handlers read."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_s: float = 29.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _PerThread:
    """A data descriptor whose value is per thread."""

    def __init__(self, storage: threading.local, name: str):
        self._storage, self._name = storage, name

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        return getattr(self._storage, self._name, None)

    def __set__(self, obj: object, value: Any) -> None:
        setattr(self._storage, self._name, value)


_router_state = threading.local()
_isolated = False


def isolate_powertools_router_state() -> None:
    """Give each thread its own Powertools "current request".

    Powertools' REST resolver stores the event being handled on the ``BaseRouter`` class
    (``BaseRouter.current_event = ...``). In Lambda that is harmless: a process handles one event at a
    time. The local gateway runs many invocations at once on threads of one process, where a class
    attribute would let one request read another's event. Making the two attributes thread-local, for
    both instance and class access, restores Lambda's one-event-per-process isolation.
    """
    global _isolated
    if _isolated:
        return
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    names = ("current_event", "lambda_context")
    for name in names:
        type.__setattr__(BaseRouter, name, _PerThread(_router_state, name))  # instance access
    meta = type(BaseRouter)
    namespace: dict[str, Any] = {name: _PerThread(_router_state, name) for name in names}
    BaseRouter.__class__ = type("PerThreadRouterMeta", (meta,), namespace)  # type: ignore[method-assign]
    _isolated = True


def load_handler(route: Route) -> Handler:
    """The route's handler function (its module is imported once and then cached by Python)."""
    isolate_powertools_router_state()
    module = importlib.import_module(route.module)
    handler: Handler = module.handler
    return handler


def invoke(route: Route, event: dict[str, Any], stage: str = "local") -> Any:
    return load_handler(route)(event, LocalLambdaContext(function_name=route.function_name(stage)))
