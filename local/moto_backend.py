"""The local AWS: moto's server in this process, with Step Functions executing ASL and Lambda running
our handlers.

``MotoCloud`` starts ``ThreadedMotoServer`` on 127.0.0.1 (a free port by default), switches moto to
executing state machines for real and to its Docker-free Lambda backend, and replaces that backend's
``invoke`` so that an invocation - from boto3, from Step Functions' ``arn:aws:states:::lambda:invoke``
(also ``.waitForTaskToken``) or from a Task whose Resource is a function ARN - runs our Python handler
in-process, the way the Lambda runtime would call it::

    with MotoCloud(clock=VirtualClock.instant()) as cloud:
        resources = create_resources(cloud.endpoint_url)   # local.resources
        cloud.client("stepfunctions").start_execution(...)

Handlers are found by function name: first in the ``handlers`` overlay (tests add their own), then
through the resolver, by default the route table (``driveway_hub.routes``): function
``driveway-hub-<stage>-<route>`` runs ``<route.module>.handler``. As on AWS, the function must exist
(``local.resources`` creates one per route), or the invoke fails with ResourceNotFoundException.

A handler that raises produces what the Lambda runtime produces: the ``X-Amz-Function-Error`` header and
``{"errorType": <exception class name>, "errorMessage": str(exc), ...}``, so an ASL ``Retry`` or ``Catch``
on ``["VehicleAsleep"]`` matches a ``VehicleAsleep`` raised by the handler.

moto's resources, configuration, ``MOTO_PORT`` and the patched invoke are process-wide, so only one
MotoCloud runs at a time in a process, and each one starts empty (``start`` resets moto).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import json
import logging
import os
import threading
import time
import traceback
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from moto.server import ThreadedMotoServer

from driveway_hub.routes import function_name_to_route
from local import resources
from local.clock import MotoInternalsChanged, VirtualClock
from local.moto_dynamodb import patched_dynamodb

LOG = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Any]
"""A Lambda handler: ``handler(event, context) -> JSON-serialisable result``."""

HandlerResolver = Callable[[str], Handler | None]
"""Function name (never an ARN) -> its handler, or None if this resolver does not know it."""

_PINNED_MOTO = "5.2.5"
_LOCAL_CONFIG: dict[str, Any] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


class LambdaRuntimeError(Exception):
    """A failure the Lambda runtime itself reports (bad handler string, unserialisable result...).

    ``error_type`` is what AWS puts in ``errorType``, e.g. ``Runtime.ImportModuleError``.
    """

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers and Powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_monotonic: float
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        # Real time on purpose: a Lambda timeout limits how long the code runs, not what the clock says.
        return max(0, int((self.deadline_monotonic - time.monotonic()) * 1000))


@dataclass
class FunctionStats:
    """Invocations of one function: how many, how many failed, and how long each took (real seconds)."""

    invocations: int = 0
    errors: int = 0
    durations: list[float] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return sum(self.durations)

    @property
    def mean_seconds(self) -> float:
        return self.total_seconds / len(self.durations) if self.durations else 0.0

    @property
    def max_seconds(self) -> float:
        return max(self.durations, default=0.0)


def route_resolver(stage: str) -> HandlerResolver:
    """Resolve ``driveway-hub-<stage>-<route>`` to ``<route.module>.handler`` through the route table."""

    def resolve(function_name: str) -> Handler | None:
        route = function_name_to_route(function_name, stage)
        if route is None:
            return None
        return import_handler(route.handler)

    return resolve


def import_handler(handler_path: str) -> Handler:
    """Import ``package.module.handler`` the way the Lambda runtime does, with its error types."""
    module_name, _, attribute = handler_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LambdaRuntimeError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from exc
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise LambdaRuntimeError(
            "Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_name}'"
        )
    return handler


class MotoCloud:
    """moto's server in this process, with Step Functions and Lambda wired to our code (module docstring)."""

    def __init__(
        self,
        *,
        stage: str = "local",
        region: str = "us-east-1",
        host: str = "127.0.0.1",
        port: int = 0,
        handlers: Mapping[str, Handler] | None = None,
        resolver: HandlerResolver | None = None,
        clock: VirtualClock | None = None,
        verbose: bool = False,
    ) -> None:
        self.stage = stage
        self.region = region
        self.clock = clock
        self._host = host
        self._requested_port = port
        self._verbose = verbose
        self._handlers: dict[str, Handler] = dict(handlers or {})
        self._resolver = resolver if resolver is not None else route_resolver(stage)
        self._lock = threading.Lock()
        self._stats: dict[str, FunctionStats] = {}
        self._server: Any = None
        self._port: int | None = None
        self._previous_moto_port: str | None = None
        self._previous_config: dict[str, Any] = {}
        self._original_invoke: Any = None
        self._installed_clock = False
        self._dynamodb_patch: contextlib.AbstractContextManager[None] | None = None
        self._previous_werkzeug_level: int | None = None

    # ------------------------------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        global _active_cloud
        with _active_lock:
            if _active_cloud is not None:
                raise RuntimeError("a MotoCloud is already running in this process; stop it first")
            backend_class, original_invoke = _lambda_simple_invoke()
            _active_cloud = self
        try:
            if not self._verbose:
                # One INFO line per request from werkzeug drowns everything else in a test or dev log.
                werkzeug_logger = logging.getLogger("werkzeug")
                self._previous_werkzeug_level = werkzeug_logger.level
                werkzeug_logger.setLevel(logging.WARNING)
            self._server = ThreadedMotoServer(ip_address=self._host, port=self._requested_port,
                                              verbose=self._verbose)
            self._server.start()
            self._port = int(self._server.get_host_and_port()[1])
            # Step Functions calls Lambda (and other services) through boto3 at localhost:$MOTO_PORT.
            self._previous_moto_port = os.environ.get("MOTO_PORT")
            os.environ["MOTO_PORT"] = str(self._port)
            # moto's resources live in module-level dicts that outlive a stopped server: without a reset,
            # a cloud started after another in the same process (pytest modules) would find its tables.
            self.reset()
            self._previous_config = self._moto_api("config")
            self._moto_api("config", _LOCAL_CONFIG)
            self._original_invoke = original_invoke
            backend_class.invoke = _dispatching_invoke
            # One DynamoDB request at a time, as isolated as DynamoDB's (local/moto_dynamodb.py).
            self._dynamodb_patch = patched_dynamodb()
            self._dynamodb_patch.__enter__()
            if self.clock is not None and not self.clock.is_installed:
                self.clock.install()
                self._installed_clock = True
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Shut the server down and undo every process-wide change start() made. Safe to call twice."""
        global _active_cloud
        if self._installed_clock and self.clock is not None:
            self.clock.uninstall()
            self._installed_clock = False
        if self._dynamodb_patch is not None:
            self._dynamodb_patch.__exit__(None, None, None)
            self._dynamodb_patch = None
        if self._original_invoke is not None:
            backend_class, _ = _lambda_simple_invoke(check=False)
            backend_class.invoke = self._original_invoke
            self._original_invoke = None
        if self._server is not None:
            if self._port is not None:
                # moto keeps its configuration in a module-level dict: leave it as we found it for any
                # mock_aws() test that runs later in this process.
                restore = {key: value for key, value in self._previous_config.items() if key in _LOCAL_CONFIG}
                self._moto_api("config", restore)
                if self._previous_moto_port is None:
                    os.environ.pop("MOTO_PORT", None)
                else:
                    os.environ["MOTO_PORT"] = self._previous_moto_port
            self._server.stop()
            self._server = None
            self._port = None
        if self._previous_werkzeug_level is not None:
            logging.getLogger("werkzeug").setLevel(self._previous_werkzeug_level)
            self._previous_werkzeug_level = None
        with _active_lock:
            if _active_cloud is self:
                _active_cloud = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every resource (moto's /moto-api/reset); configuration and handlers stay."""
        self._moto_api("reset", {})

    # ------------------------------------------------------------------------------------ addressing

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("MotoCloud is not started")
        return self._port

    @property
    def endpoint_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` on this cloud, with dummy credentials (never real ones)."""
        return resources.client(service, self.endpoint_url, self.region)

    def _moto_api(self, action: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - our own server on a local http URL
            f"{self.endpoint_url}/moto-api/{action}",
            data=None if body is None else json.dumps(body).encode(),
            method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - see above
            text = response.read().decode() or "{}"
        result: dict[str, Any] = json.loads(text)
        return result

    # -------------------------------------------------------------------------------------- handlers

    def add_handler(self, function_name: str, handler: Handler) -> None:
        """Run ``handler`` for ``function_name`` (overrides the resolver; the function must still exist)."""
        with self._lock:
            self._handlers[function_name] = handler

    def remove_handler(self, function_name: str) -> None:
        with self._lock:
            self._handlers.pop(function_name, None)

    @contextlib.contextmanager
    def handler(self, function_name: str, handler: Handler) -> Iterator[None]:
        """``add_handler`` for the duration of a ``with`` block."""
        self.add_handler(function_name, handler)
        try:
            yield
        finally:
            self.remove_handler(function_name)

    def resolve(self, function_name: str) -> Handler:
        with self._lock:
            handler = self._handlers.get(function_name)
        if handler is None:
            handler = self._resolver(function_name)
        if handler is None:
            raise LambdaRuntimeError(
                "Runtime.HandlerNotFound", f"no in-process handler for function {function_name!r}"
            )
        return handler

    # ----------------------------------------------------------------------------------------- stats

    @property
    def stats(self) -> dict[str, FunctionStats]:
        """A snapshot of the invocation counts and durations, per function name."""
        with self._lock:
            return copy.deepcopy(self._stats)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()

    def _record(self, function_name: str, seconds: float, failed: bool) -> None:
        with self._lock:
            stats = self._stats.setdefault(function_name, FunctionStats())
            stats.invocations += 1
            stats.errors += int(failed)
            stats.durations.append(seconds)

    # ---------------------------------------------------------------------------------------- invoke

    def invoke(self, function: Any, body: bytes | str | None, response_headers: dict[str, Any]) -> bytes:
        """Run the handler of moto's ``function`` on ``body``; return the payload as Lambda would."""
        name: str = function.function_name
        request_id = str(uuid.uuid4())
        context = LambdaContext(
            function_name=name,
            function_version=str(getattr(function, "version", "$LATEST")),
            invoked_function_arn=function.function_arn,
            memory_limit_in_mb=int(function.memory_size),
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{name}",
            log_stream_name=f"local/{request_id}",
            deadline_monotonic=time.monotonic() + float(function.timeout),
        )
        started = time.perf_counter()
        failed = False
        try:
            event = json.loads(body) if body else {}
            result = self.resolve(name)(event, context)
            payload = _marshal(result)
        # The Lambda runtime boundary: every failure of the handler becomes a function error returned to
        # the caller (and Step Functions' Retry/Catch), as on AWS. Nothing is hidden: it is logged with
        # its traceback and its class name and message travel in the payload.
        except Exception as exc:
            failed = True
            LOG.warning("function %s failed (request %s)", name, request_id, exc_info=True)
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps(_error_payload(exc, request_id)).encode()
        finally:
            self._record(name, time.perf_counter() - started, failed)
        return payload


def _marshal(result: Any) -> bytes:
    try:
        return json.dumps(result).encode()
    except (TypeError, ValueError) as exc:
        raise LambdaRuntimeError("Runtime.MarshalError", f"Unable to marshal response: {exc}") from exc


def _error_payload(exc: Exception, request_id: str) -> dict[str, Any]:
    error_type = exc.error_type if isinstance(exc, LambdaRuntimeError) else type(exc).__name__
    return {
        "errorMessage": str(exc),
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)),
    }


# ------------------------------------------------------------------------------- the patched invoke

_active_lock = threading.Lock()
_active_cloud: MotoCloud | None = None
_INVOKE_PARAMETERS = ("self", "function_name", "qualifier", "body", "headers", "response_headers")


def _lambda_simple_invoke(check: bool = True) -> tuple[type[Any], Any]:
    """moto's Docker-free Lambda backend class and its own ``invoke``, checked to be what we replace."""
    pinned = f"(MotoCloud was written for moto {_PINNED_MOTO})"
    try:
        from moto.awslambda_simple.models import LambdaSimpleBackend
    except ImportError as exc:
        raise MotoInternalsChanged(f"moto.awslambda_simple's LambdaSimpleBackend is gone {pinned}") from exc
    original = vars(LambdaSimpleBackend).get("invoke")
    if check:
        if original is None or tuple(inspect.signature(original).parameters) != _INVOKE_PARAMETERS:
            raise MotoInternalsChanged(
                f"LambdaSimpleBackend.invoke no longer takes {_INVOKE_PARAMETERS} {pinned}"
            )
        if original is _dispatching_invoke:
            raise RuntimeError("LambdaSimpleBackend.invoke is already patched by another MotoCloud")
    return LambdaSimpleBackend, original


def _dispatching_invoke(
    backend: Any,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> bytes:
    """Replaces ``LambdaSimpleBackend.invoke`` (same signature) while a MotoCloud runs."""
    cloud = _active_cloud
    if cloud is None:
        raise RuntimeError("Lambda invoke reached the patched backend with no MotoCloud running")
    # Raises moto's UnknownFunctionException (404 ResourceNotFoundException) for a missing function, as
    # AWS does; accepts a name, a full or partial ARN, and a qualifier.
    function = backend.get_function(function_name, qualifier)
    invocation_type = headers.get("X-Amz-Invocation-Type", "RequestResponse")
    if invocation_type == "DryRun":
        return b""
    if invocation_type == "Event":
        # Asynchronous invoke: accepted (202) at once, the handler runs on its own thread.
        threading.Thread(
            target=cloud.invoke, args=(function, body, {}), name=f"lambda-event-{function.function_name}",
            daemon=True,
        ).start()
        return b""
    return cloud.invoke(function, body, response_headers)
