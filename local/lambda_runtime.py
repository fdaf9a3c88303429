"""Runs our Lambda handlers in-process, the way the Lambda runtime would: import the module named in
the route table once (a warm container), call ``handler(event, context)`` with a real-looking context."""

from __future__ import annotations

import importlib
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


def load_handler(route: Route) -> Handler:
    """The route's handler function (its module is imported once and then cached by Python)."""
    module = importlib.import_module(route.module)
    handler: Handler = module.handler
    return handler


def invoke(route: Route, event: dict[str, Any], stage: str = "local") -> Any:
    return load_handler(route)(event, LocalLambdaContext(function_name=route.function_name(stage)))
