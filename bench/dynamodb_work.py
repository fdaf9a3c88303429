"""DynamoDB work per route, counted (not estimated) by hooking botocore's event system, and the counts
everything else a booking costs, from a scripted session through the running local cloud.

Counting
--------
``AwsCallCounter`` adds two handlers to ``botocore.handlers.BUILTIN_HANDLERS`` (the list every new
botocore session copies its built-in handlers from) and to boto3's default session if it already
exists. PynamoDB creates a fresh botocore session per thread (``pynamodb.connection.base.Connection.
session`` calls ``botocore.session.get_session()``), boto3 and Powertools create theirs through
``boto3.Session``: all of them get the handlers, as long as the counter is installed before the first
client is made. ``before-parameter-build`` keeps the call's parameters in the request context, and
``after-call`` (which fires for failed calls too) counts:

- requests, per operation;
- items read: ``ScannedCount`` for Query/Scan (what DynamoDB read and bills, filter or not), the
  ``Item`` of GetItem, every item of BatchGetItem's ``Responses`` and TransactGetItems;
- items written: PutItem/UpdateItem/DeleteItem that succeeded, BatchWriteItem requests minus
  ``UnprocessedItems``, the Put/Update/Delete actions of a TransactWriteItems that succeeded;
- RRU/WRU, computed (moto does not return ConsumedCapacity) from DynamoDB's rules: reads in 4 KB
  blocks (eventually consistent 0.5, strongly consistent 1, transactional 2; a Query or Scan rounds its
  whole page up once), writes in 1 KB blocks (transactional 2), failed conditional writes still pay,
  and each global secondary index an item appears in costs one more write (CDK projects ALL). Sizes come
  from the items seen; an UpdateItem/DeleteItem on an item the counter never saw is taken as <= 1 KB and
  present in every index of its table (an upper bound). A ConditionCheck is charged as a
  transactional read.

Calls to other services (KMS, Secrets Manager, Step Functions, ...) are counted per service.

Attribution: each Lambda handler the local cloud runs is wrapped so that its thread carries the
function's name; a call made on a thread that carries no name (a worker thread a handler started)
belongs to the only function running at that moment, or to "(unattributed)" when several are. The
bench's own reads (waiting for a status) run under ``BENCH`` and are not counted.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.cloud import LOCAL_API_KEY

BENCH = "__bench__"
UNATTRIBUTED = "(unattributed)"
READ_BLOCK = 4096
WRITE_BLOCK = 1024
# An item the counter has not seen (UpdateItem/DeleteItem without ReturnValues, or a Query that returned
# nothing but scanned something): assume one write block.
UNKNOWN_ITEM_BYTES = WRITE_BLOCK


# ---- DynamoDB item sizes and capacity units ------------------------------------------------------------


def attribute_size(value: Mapping[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value in wire format (``{"S": "..."}``), approximately."""
    (kind, inner), = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        digits = str(inner).lstrip("-").replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(inner) if isinstance(inner, bytes | bytearray) else len(str(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: v}) for v in inner)
    if kind == "L":
        return 3 + sum(attribute_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(v) + 1 for k, v in inner.items())
    return len(str(inner))


def item_size(item: Mapping[str, Any] | None) -> int:
    """Attribute names plus values, DynamoDB's item size."""
    if not item:
        return 0
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def read_units(size_bytes: float, *, consistent: bool, transactional: bool = False) -> float:
    """RRU for reading ``size_bytes`` in one request (at least one 4 KB block, even for nothing)."""
    blocks = max(1, math.ceil(size_bytes / READ_BLOCK))
    per_block = 2.0 if transactional else 1.0 if consistent else 0.5
    return blocks * per_block


def write_units(size_bytes: float, *, transactional: bool = False) -> float:
    """WRU for writing an item of ``size_bytes`` (at least one 1 KB block)."""
    blocks = max(1, math.ceil(size_bytes / WRITE_BLOCK))
    return blocks * (2.0 if transactional else 1.0)


@dataclass
class DynamoCounts:
    requests: int = 0
    items_read: int = 0
    items_written: int = 0
    rru: float = 0.0
    wru: float = 0.0
    scans: int = 0
    operations: Counter[str] = field(default_factory=Counter)

    def add(self, other: DynamoCounts) -> None:
        self.requests += other.requests
        self.items_read += other.items_read
        self.items_written += other.items_written
        self.rru += other.rru
        self.wru += other.wru
        self.scans += other.scans
        self.operations.update(other.operations)

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "items_read": self.items_read, "items_written": self.items_written,
                "rru": round(self.rru, 2), "wru": round(self.wru, 2), "scans": self.scans,
                "operations": dict(sorted(self.operations.items()))}


@dataclass(frozen=True)
class TableKeys:
    """What the counter needs to know of a table: its key attributes and its indexes' partition keys."""

    key_attributes: tuple[str, ...]
    index_partitions: tuple[str, ...] = ()


def table_keys_for(stage: str) -> dict[str, TableKeys]:
    """Table name -> keys, for every table of ``stage`` (driveway_hub.data.tables, no AWS import)."""
    from driveway_hub.data.tables import TABLES

    return {
        spec.default_name(stage): TableKeys(
            tuple(k.name for k in (spec.partition, spec.sort) if k is not None),
            tuple(index.partition.name for index in spec.indexes),
        )
        for spec in TABLES
    }


# ---- who is calling ------------------------------------------------------------------------------------


class Attribution:
    """The function each thread is running (``running``), and the phase of the session (``phase``)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._active: Counter[str] = Counter()
        self.phase = "session"

    @contextlib.contextmanager
    def running(self, name: str) -> Iterator[None]:
        previous = getattr(self._local, "name", None)
        self._local.name = name
        if name != BENCH:
            with self._lock:
                self._active[name] += 1
        try:
            yield
        finally:
            if name != BENCH:
                with self._lock:
                    self._active[name] -= 1
            self._local.name = previous

    def current(self) -> str | None:
        """The function to charge a call made on this thread to; None for the bench's own calls."""
        name: str | None = getattr(self._local, "name", None)
        if name == BENCH:
            return None
        if name:
            return name
        with self._lock:
            running = [n for n, count in self._active.items() if count > 0]
        return running[0] if len(running) == 1 else UNATTRIBUTED

    def key(self) -> tuple[str, str] | None:
        name = self.current()
        return None if name is None else (self.phase, name)


# ---- the botocore hook ---------------------------------------------------------------------------------

_PARAMS = "bench_params"


class AwsCallCounter:
    """Counts every AWS call made by any botocore client created while installed (module docstring)."""

    def __init__(self, attribution: Attribution | None = None, tables: Mapping[str, TableKeys] | None = None):
        self.attribution = attribution or Attribution()
        self.tables = dict(tables or {})
        self.dynamo: dict[tuple[str, str], DynamoCounts] = {}
        self.services: dict[tuple[str, str], Counter[str]] = {}
        self._lock = threading.Lock()
        self._known: dict[tuple[str, tuple[str, ...]], tuple[int, frozenset[str]]] = {}
        self._handlers: list[tuple[str, Callable[..., Any]]] = [
            ("before-parameter-build", self._remember_params),
            ("after-call", self._after_call),
        ]
        self._enabled = False
        self._registered_sessions: list[Any] = []

    # -- install ------------------------------------------------------------------------------------
    def install(self) -> AwsCallCounter:
        from botocore import handlers

        for spec in self._handlers:
            handlers.BUILTIN_HANDLERS.append(spec)
        # A boto3 default session created before install() did not copy the built-in list: register there too.
        import boto3

        if boto3.DEFAULT_SESSION is not None:
            session = boto3.DEFAULT_SESSION._session
            for event, handler in self._handlers:
                session.register(event, handler)
            self._registered_sessions.append(session)
        self._enabled = True
        return self

    def uninstall(self) -> None:
        from botocore import handlers

        self._enabled = False  # clients made meanwhile keep the handlers; they stop counting
        for spec in self._handlers:
            with contextlib.suppress(ValueError):
                handlers.BUILTIN_HANDLERS.remove(spec)
        for session in self._registered_sessions:
            for event, handler in self._handlers:
                session.unregister(event, handler)
        self._registered_sessions.clear()

    def __enter__(self) -> AwsCallCounter:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    # -- results ------------------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self.dynamo.clear()
            self.services.clear()

    def dynamo_by_function(self, phase: str | None = None) -> dict[str, DynamoCounts]:
        """Counts per function name, over one phase or all of them."""
        out: dict[str, DynamoCounts] = {}
        with self._lock:
            for (p, name), counts in self.dynamo.items():
                if phase is None or p == phase:
                    out.setdefault(name, DynamoCounts()).add(counts)
        return out

    def dynamo_total(self, phase: str | None = None) -> DynamoCounts:
        total = DynamoCounts()
        for counts in self.dynamo_by_function(phase).values():
            total.add(counts)
        return total

    def service_calls(self, phase: str | None = None) -> Counter[str]:
        out: Counter[str] = Counter()
        with self._lock:
            for (p, _), calls in self.services.items():
                if phase is None or p == phase:
                    out.update(calls)
        return out

    # -- handlers -----------------------------------------------------------------------------------
    def _remember_params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if self._enabled and isinstance(context, dict):
            context[_PARAMS] = params

    def _after_call(self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], event_name: str,
                    **_: Any) -> None:
        if not self._enabled:
            return
        key = self.attribution.key()
        if key is None:
            return
        _prefix, service, operation = [*event_name.split(".", 2), "", ""][:3]
        ok = int(getattr(http_response, "status_code", 500)) < 300
        params = context.get(_PARAMS, {}) if isinstance(context, dict) else {}
        with self._lock:
            if service == "dynamodb":
                counts = self.dynamo.setdefault(key, DynamoCounts())
                self._count_dynamodb(counts, operation, params or {}, parsed or {}, ok)
            else:
                self.services.setdefault(key, Counter())[service] += 1

    # -- DynamoDB accounting ------------------------------------------------------------------------
    def _count_dynamodb(self, counts: DynamoCounts, operation: str, params: dict[str, Any],
                        parsed: dict[str, Any], ok: bool) -> None:
        counts.requests += 1
        counts.operations[operation] += 1
        handler = {
            "GetItem": self._get_item, "Query": self._query, "Scan": self._query,
            "BatchGetItem": self._batch_get, "TransactGetItems": self._transact_get,
            "PutItem": self._put_item, "UpdateItem": self._update_or_delete, "DeleteItem": self._update_or_delete,
            "BatchWriteItem": self._batch_write, "TransactWriteItems": self._transact_write,
        }.get(operation)
        if handler is not None:
            handler(counts, operation, params, parsed, ok)

    def _get_item(self, counts: DynamoCounts, _op: str, params: dict[str, Any], parsed: dict[str, Any],
                  _ok: bool) -> None:
        item = parsed.get("Item")
        if item:
            counts.items_read += 1
            self._remember(params.get("TableName", ""), item)
        counts.rru += read_units(item_size(item), consistent=bool(params.get("ConsistentRead")))

    def _query(self, counts: DynamoCounts, operation: str, params: dict[str, Any], parsed: dict[str, Any],
               ok: bool) -> None:
        if operation == "Scan":
            counts.scans += 1
        if not ok:
            return
        items = parsed.get("Items") or []
        scanned = int(parsed.get("ScannedCount", parsed.get("Count", len(items))))
        counts.items_read += scanned
        sizes = [item_size(i) for i in items]
        average = sum(sizes) / len(sizes) if sizes else UNKNOWN_ITEM_BYTES
        total = sum(sizes) + max(0, scanned - len(items)) * average
        consistent = bool(params.get("ConsistentRead")) and not params.get("IndexName")
        counts.rru += read_units(total, consistent=consistent)
        for item in items:
            self._remember(params.get("TableName", ""), item)

    def _batch_get(self, counts: DynamoCounts, _op: str, params: dict[str, Any], parsed: dict[str, Any],
                   _ok: bool) -> None:
        requested = params.get("RequestItems") or {}
        for table, items in (parsed.get("Responses") or {}).items():
            consistent = bool((requested.get(table) or {}).get("ConsistentRead"))
            for item in items:
                counts.items_read += 1
                counts.rru += read_units(item_size(item), consistent=consistent)
                self._remember(table, item)

    def _transact_get(self, counts: DynamoCounts, _op: str, params: dict[str, Any], parsed: dict[str, Any],
                      _ok: bool) -> None:
        for response in parsed.get("Responses") or []:
            item = response.get("Item")
            counts.items_read += 1 if item else 0
            counts.rru += read_units(item_size(item), consistent=True, transactional=True)

    def _put_item(self, counts: DynamoCounts, _op: str, params: dict[str, Any], _parsed: dict[str, Any],
                  ok: bool) -> None:
        table, item = params.get("TableName", ""), params.get("Item") or {}
        counts.wru += write_units(item_size(item)) + self._index_writes(table, frozenset(item))
        if ok:
            counts.items_written += 1
            self._remember(table, item)

    def _update_or_delete(self, counts: DynamoCounts, operation: str, params: dict[str, Any],
                          parsed: dict[str, Any], ok: bool) -> None:
        table = params.get("TableName", "")
        size, attributes = self._known_item(table, params.get("Key") or {})
        returned = parsed.get("Attributes")
        if returned and operation == "UpdateItem" and params.get("ReturnValues") == "ALL_NEW":
            size, attributes = item_size(returned), frozenset(returned)
        counts.wru += write_units(size) + self._index_writes(table, attributes)
        if ok:
            counts.items_written += 1
            if operation == "DeleteItem":
                self._forget(table, params.get("Key") or {})

    def _batch_write(self, counts: DynamoCounts, _op: str, params: dict[str, Any], parsed: dict[str, Any],
                     ok: bool) -> None:
        unprocessed = sum(len(v) for v in (parsed.get("UnprocessedItems") or {}).values())
        written = 0
        for table, requests in (params.get("RequestItems") or {}).items():
            for request in requests:
                if "PutRequest" in request:
                    item = request["PutRequest"].get("Item") or {}
                    counts.wru += write_units(item_size(item)) + self._index_writes(table, frozenset(item))
                    self._remember(table, item)
                else:
                    size, attributes = self._known_item(table, request.get("DeleteRequest", {}).get("Key") or {})
                    counts.wru += write_units(size) + self._index_writes(table, attributes)
                written += 1
        if ok:
            counts.items_written += max(0, written - unprocessed)

    def _transact_write(self, counts: DynamoCounts, _op: str, params: dict[str, Any], _parsed: dict[str, Any],
                        ok: bool) -> None:
        for action in params.get("TransactItems") or []:
            (kind, body), = action.items()
            table = body.get("TableName", "")
            if kind == "ConditionCheck":
                size, _ = self._known_item(table, body.get("Key") or {})
                counts.rru += read_units(size, consistent=True, transactional=True)
                continue
            attributes: frozenset[str] | None
            if kind == "Put":
                size, attributes = item_size(body.get("Item")), frozenset(body.get("Item") or {})
            else:
                size, attributes = self._known_item(table, body.get("Key") or {})
            counts.wru += write_units(size, transactional=True) + 2 * self._index_writes(table, attributes)
            if ok:
                counts.items_written += 1
                if kind == "Put":
                    self._remember(table, body.get("Item") or {})

    # -- what the counter has seen of each item (sizes and index membership) -------------------------
    def _item_key(self, table: str, item_or_key: Mapping[str, Any]) -> tuple[str, ...] | None:
        spec = self.tables.get(table)
        if spec is None or any(k not in item_or_key for k in spec.key_attributes):
            return None
        return tuple(json.dumps(item_or_key[k], sort_keys=True, default=str) for k in spec.key_attributes)

    def _remember(self, table: str, item: Mapping[str, Any]) -> None:
        key = self._item_key(table, item)
        if key is not None:
            self._known[(table, key)] = (item_size(item), frozenset(item))

    def _forget(self, table: str, key_attributes: Mapping[str, Any]) -> None:
        key = self._item_key(table, key_attributes)
        if key is not None:
            self._known.pop((table, key), None)

    def _known_item(self, table: str, key_attributes: Mapping[str, Any]) -> tuple[int, frozenset[str] | None]:
        key = self._item_key(table, key_attributes)
        known = self._known.get((table, key)) if key is not None else None
        return known if known is not None else (UNKNOWN_ITEM_BYTES, None)

    def _index_writes(self, table: str, attributes: frozenset[str] | None) -> int:
        """One more write per index the item is in; unknown item: every index of the table (upper bound)."""
        spec = self.tables.get(table)
        if spec is None:
            return 0
        if attributes is None:
            return len(spec.index_partitions)
        return sum(1 for attribute in spec.index_partitions if attribute in attributes)


# ---- Lambda invocations the gateway makes (moto's stats cover the Step Functions tasks) ----------------


class InvocationRecorder:
    """Invocations and real durations per (phase, function), for handlers wrapped with ``call``."""

    def __init__(self, attribution: Attribution) -> None:
        self.attribution = attribution
        self.durations: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    def call(self, name: str, function: Callable[[], Any]) -> Any:
        phase = self.attribution.phase
        started = time.perf_counter()
        try:
            with self.attribution.running(name):
                return function()
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self.durations.setdefault((phase, name), []).append(elapsed)

    def by_function(self, phase: str | None = None) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        with self._lock:
            for (p, name), values in self.durations.items():
                if phase is None or p == phase:
                    out.setdefault(name, []).extend(values)
        return out


# ---- the scripted session through the running local cloud ----------------------------------------------

PASSWORD = "Correct-Horse-42"
VIN = "5YJ3E1EA7KF000001"
# A Portland driveway, as in tests/integration/test_tesla_local_cloud.py (the simulator's city).
DRIVEWAY_AT = (45.5290, -122.6710)
TELEMETRY_INTERVAL_S = 5.0
TESLA_ENV = ("TESLA_API_BASE", "TESLA_AUTH_BASE", "TESLA_REDIRECT_URI", "TESLA_PARTNER_DOMAIN",
             "TESLA_PAIRING_BASE")
HAPPY_PATH = ("PENDING_PAYMENT", "CONFIRMED", "EN_ROUTE", "ARRIVED", "PARKING", "PARKED", "COMPLETED")


@dataclass
class Step:
    """One request of the script: the route it exercised and whether it did what the script expected."""

    route: str
    ok: bool
    status: int | None = None
    note: str = ""


@dataclass
class BookingRun:
    """Everything counted between ``POST /v1/bookings`` and the execution's end, for one booking."""

    completed: bool = False
    booking_id: str | None = None
    history: list[str] = field(default_factory=list)
    tesla_linked: bool = False
    arrival: str = ""
    parked: str = ""
    telemetry_batches: int = 0
    transitions: int | None = None
    gateway_functions: dict[str, list[float]] = field(default_factory=dict)
    task_functions: dict[str, list[float]] = field(default_factory=dict)
    dynamo: DynamoCounts = field(default_factory=DynamoCounts)
    dynamo_by_function: dict[str, DynamoCounts] = field(default_factory=dict)
    service_calls: Counter[str] = field(default_factory=Counter)
    rest_requests: int = 0
    ws_messages: int = 0
    ws_connect_seconds: float = 0.0
    tesla: dict[str, float] | None = None
    stripe_calls: Counter[str] | None = None
    stripe_webhooks: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "completed": self.completed, "booking_id": self.booking_id, "history": self.history,
            "tesla_linked": self.tesla_linked, "arrival_by": self.arrival, "parked_by": self.parked,
            "telemetry_batches": self.telemetry_batches, "state_transitions": self.transitions,
            "lambda": {name: {"invocations": len(d), "seconds": round(sum(d), 4)}
                       for name, d in sorted({**self.gateway_functions, **self.task_functions}.items())},
            "dynamodb": self.dynamo.to_dict(),
            "dynamodb_by_function": {k: v.to_dict() for k, v in sorted(self.dynamo_by_function.items())},
            "other_aws_calls": dict(sorted(self.service_calls.items())),
            "rest_requests": self.rest_requests, "websocket_messages": self.ws_messages,
            "websocket_connect_seconds_real": round(self.ws_connect_seconds, 3),
            "tesla_counters": self.tesla,
            "stripe_calls": None if self.stripe_calls is None else dict(sorted(self.stripe_calls.items())),
            "stripe_webhooks_delivered": self.stripe_webhooks, "notes": self.notes,
        }


@dataclass
class SessionResult:
    steps: list[Step] = field(default_factory=list)
    durations: dict[str, list[float]] = field(default_factory=dict)
    dynamo: dict[str, DynamoCounts] = field(default_factory=dict)
    booking: BookingRun | None = None
    warm_up: BookingRun | None = None
    error: str | None = None
    seconds: float = 0.0
    log_path: str | None = None

    @property
    def calls(self) -> dict[str, int]:
        return {name: len(d) for name, d in self.durations.items()}

    def failed_routes(self) -> dict[str, str]:
        """Routes the script tried that never did what it expected: route -> why."""
        worked = {s.route for s in self.steps if s.ok}
        failed: dict[str, str] = {}
        for step in self.steps:
            if not step.ok and step.route not in worked:
                failed.setdefault(step.route, f"HTTP {step.status} {step.note}".strip() if step.status
                                  else step.note or "failed")
        return failed


@dataclass
class _User:
    user_id: str
    token: str


class SessionAborted(RuntimeError):
    """A step everything after it depends on did not work."""


class _Api:
    """``requests`` against the local REST API, recording each call as a Step of the route it targets."""

    def __init__(self, base: str, steps: list[Step]) -> None:
        import requests

        self.base = base
        self.http = requests.Session()
        self.steps = steps

    def call(self, route: str, method: str, path: str, user: _User | None = None,
             expect: tuple[int, ...] = (200, 201, 202), **kwargs: Any) -> Any:
        import requests

        headers = dict(kwargs.pop("headers", {}))
        if user is not None:
            headers["Authorization"] = f"Bearer {user.token}"
        try:
            response = self.http.request(method, self.base + path, headers=headers, timeout=30, **kwargs)
        except requests.RequestException as exc:
            self.steps.append(Step(route, False, None, type(exc).__name__))
            return None
        ok = response.status_code in expect
        note = ""
        if not ok:
            with contextlib.suppress(ValueError, AttributeError, TypeError):
                note = str(response.json()["error"]["code"])
        self.steps.append(Step(route, ok, response.status_code, note))
        return response if ok else None


class _LiveSocket:
    """A WebSocket client on its own thread (the app listening for live events)."""

    def __init__(self, url: str) -> None:
        import asyncio

        self.frames: list[str] = []
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._outbox: asyncio.Queue[str | None] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(url),), daemon=True)
        self._thread.start()
        if not self._ready.wait(20) or self._error is not None:
            raise RuntimeError(f"WebSocket did not connect: {self._error!r}")

    async def _run(self, url: str) -> None:
        import asyncio

        from aiohttp import ClientSession

        self._outbox = asyncio.Queue()
        try:
            async with ClientSession() as session, session.ws_connect(url) as ws:
                self._ready.set()
                receiver = asyncio.ensure_future(self._receive(ws))
                while (message := await self._outbox.get()) is not None:
                    await ws.send_str(message)
                receiver.cancel()
        except Exception as exc:  # noqa: BLE001 - reported by the constructor
            self._error = exc
            self._ready.set()

    async def _receive(self, ws: Any) -> None:
        async for message in ws:
            self.frames.append(str(message.data))

    def send(self, text: str) -> None:
        if self._outbox is not None:
            self._loop.call_soon_threadsafe(self._outbox.put_nowait, text)

    def close(self) -> None:
        if self._outbox is not None:
            self._loop.call_soon_threadsafe(self._outbox.put_nowait, None)
        self._thread.join(10)


def _offset(origin: tuple[float, float], grid_km: float) -> tuple[float, float]:
    """A point ``grid_km`` away from ``origin`` by city blocks (half north, half east)."""
    lat, lng = origin
    half_m = grid_km * 500.0
    return lat - half_m / 111_195.0, lng - half_m / (111_195.0 * math.cos(math.radians(lat)))


@contextlib.contextmanager
def _counting_gateway(recorder: InvocationRecorder) -> Iterator[None]:
    """Time and attribute every handler the local API Gateway invokes (REST and WebSocket routes)."""
    import local.gateway as gateway
    from driveway_hub.routes import Route

    original = gateway.invoke

    def invoke(route: Route, event: dict[str, Any], stage: str = "local") -> Any:
        return recorder.call(route.name, lambda: original(route, event, stage))

    gateway.invoke = invoke
    try:
        yield
    finally:
        gateway.invoke = original


@contextlib.contextmanager
def _counting_trigger(recorder: InvocationRecorder) -> Iterator[None]:
    """The Cognito pre-token-generation trigger runs inside moto's token minting (local/cognito.py imports
    ``functions.auth.pre_token_generation.handler`` at each call): time and attribute it too."""
    import importlib

    module: Any = importlib.import_module("functions.auth.pre_token_generation")
    original = module.handler

    def handler(event: Any, context: Any) -> Any:
        return recorder.call("pre_token_generation", lambda: original(event, context))

    module.handler = handler
    try:
        yield
    finally:
        module.handler = original


def _counting_authorizer(recorder: InvocationRecorder, module: str, name: str) -> Callable[[dict[str, Any]], Any]:
    from local.cloud import lambda_authorizer

    inner = lambda_authorizer(module)
    return lambda event: recorder.call(name, lambda: inner(event))


@contextlib.contextmanager
def _tesla(cloud: Any, drive_km: float) -> Iterator[Any]:
    """A Tesla simulator registered with the local cloud's Tesla app and our callback, with one car
    ``drive_km`` (by city blocks) from the bench's driveway; telemetry is delivered by the bench itself
    (``_Script.step``), one batch per 5 virtual seconds, as the simulator's pump would."""
    import os

    from driveway_hub.config import get_settings
    from local.resources import TELEMETRY_SECRET, TESLA_SECRET
    from local.tesla_sim import SimConfig, SimUser, TeslaSimulator, VehicleSpec, run_in_thread

    api = str(cloud.urls["rest"])
    config = SimConfig(
        client_id=TESLA_SECRET["client_id"], client_secret=TESLA_SECRET["client_secret"],
        redirect_uris=(f"{api}/tesla/callback",),
        users=(SimUser(email="driver@example.com", user_id="tesla-user-bench"),),
        vehicles=(VehicleSpec(VIN, "Bench car", *_offset(DRIVEWAY_AT, drive_km)),),
    )
    sim = TeslaSimulator(config, now=lambda: cloud.clock.now().timestamp())
    url, stop = run_in_thread(sim, tick_interval_s=3600)
    saved = {name: os.environ.get(name) for name in TESLA_ENV}
    try:
        os.environ.update({"TESLA_API_BASE": url, "TESLA_AUTH_BASE": url, "TESLA_REDIRECT_URI": f"{api}/tesla/callback",
                           "TESLA_PARTNER_DOMAIN": "driveway-hub.local", "TESLA_PAIRING_BASE": f"{url}/_ak"})
        get_settings.cache_clear()
        sim.stream_telemetry_to(f"{api}/webhooks/tesla/telemetry", TELEMETRY_SECRET["hmac_secret"].encode(),
                                interval_s=TELEMETRY_INTERVAL_S)
        yield sim
    finally:
        stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


def _path_template(path: str) -> str:
    """``/v1/payment_intents/pi_123/confirm`` -> ``/v1/payment_intents/{id}/confirm``."""
    import re

    object_id = re.compile(r"[a-z]+_[A-Za-z0-9]*[A-Z0-9][A-Za-z0-9]*")  # pi_3Kx..., acct_1..., not payment_intents
    return "/".join("{id}" if object_id.fullmatch(part) else part for part in path.split("/"))


@contextlib.contextmanager
def output_to(path: str) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2: the handlers' JSON logs, moto's and
    the SDKs' warnings) to ``path`` while the session runs; the report stays readable."""
    import os
    import sys
    import warnings

    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(target, 1)
    os.dup2(target, 2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")  # each distinct warning once, into the log
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (target, *saved):
            os.close(fd)


def run_session(*, drive_km: float = 5.0, log_path: str | None = None) -> SessionResult:
    """Start the local cloud (ephemeral ports, instant clock), run the script, return the counts.

    ``drive_km``: how far (by city blocks) the simulated car starts from the driveway; the telemetry a
    booking streams grows with it. Handler logs go to ``log_path`` (a temporary file by default).
    """
    import tempfile

    started = time.perf_counter()
    log_path = log_path or str(Path(tempfile.gettempdir()) / "driveway-hub-bench-session.log")
    result = SessionResult(log_path=log_path)
    attribution = Attribution()
    counter = AwsCallCounter(attribution, table_keys_for("local"))
    recorder = InvocationRecorder(attribution)
    counter.install()  # before any client exists: every session made from now on carries the hooks
    try:
        from local.clock import VirtualClock
        from local.cloud import LocalCloud, Ports

        cloud = LocalCloud(
            clock=VirtualClock.instant(), ports=Ports.ephemeral(),
            rest_authorizer=_counting_authorizer(recorder, "functions.auth.authorizer", "authorizer"),
            websocket_authorizer=_counting_authorizer(recorder, "functions.auth.ws_authorizer", "ws_authorizer"),
        )
        with output_to(log_path), attribution.running(BENCH), _counting_gateway(recorder), cloud, \
                _counting_trigger(recorder), _tesla(cloud, drive_km) as sim:
            _Script(cloud, sim, attribution, counter, recorder, result).run()
    except Exception as exc:  # noqa: BLE001 - the bench reports what it could not measure, it does not stop
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        counter.uninstall()
    result.dynamo = counter.dynamo_by_function()
    result.durations = recorder.by_function()
    result.seconds = time.perf_counter() - started
    return result


class _Script:
    """The requests a host and a driver make, then two bookings' whole lives (the first warms every function
    up, the second is measured: warm containers), then a cancelled booking."""

    def __init__(self, cloud: Any, sim: Any, attribution: Attribution, counter: AwsCallCounter,
                 recorder: InvocationRecorder, result: SessionResult) -> None:
        self.cloud, self.sim, self.attribution = cloud, sim, attribution
        self.counter, self.recorder, self.result = counter, recorder, result
        self.api = _Api(str(cloud.urls["rest"]), result.steps)
        self.stripe_calls: dict[str, Counter[str]] = {}
        self.telemetry_batches = 0

    # -- wiring ---------------------------------------------------------------------------------------
    def _wrap_tasks(self) -> None:
        """Step Functions tasks run through MotoCloud, which keeps their invocation stats (the cost model
        uses those); the wrapper only tags their thread for the DynamoDB counts."""
        from driveway_hub.routes import TASKS
        from local.moto_backend import import_handler

        for route in TASKS:
            def handler(event: Any, context: Any, _route: Any = route) -> Any:
                return self.recorder.call(_route.name, lambda: import_handler(_route.handler)(event, context))

            self.cloud.moto.add_handler(route.function_name(self.cloud.stage), handler)

    def _import_handlers(self) -> None:
        """Import every handler first, as Lambda's INIT does before the first event: the measured durations
        are then the handlers' work, not their imports (cold_start measures those)."""
        import importlib

        from driveway_hub.routes import ROUTES

        for module in [r.module for r in ROUTES] + ["functions.auth.authorizer", "functions.auth.ws_authorizer"]:
            with contextlib.suppress(Exception):
                importlib.import_module(module)

    def _count_stripe(self) -> None:
        """Count every Stripe API call the fake answers (it checks its fault rules once per call)."""
        faults = self.cloud.stripe.faults
        original = faults.take

        def take(method: str, path: str) -> Any:
            phase = self.attribution.phase
            self.stripe_calls.setdefault(phase, Counter())[f"{method} {_path_template(path)}"] += 1
            return original(method, path)

        setattr(faults, "take", take)  # noqa: B010 - an instance override, the fake's code is not ours

    # -- the script -----------------------------------------------------------------------------------
    def run(self) -> None:
        from driveway_hub.config import get_settings
        from driveway_hub.data.base import bind_models

        self._wrap_tasks()
        self._count_stripe()
        self._import_handlers()
        bind_models(get_settings())
        self.attribution.phase = "setup"
        self.api.call("get_health", "GET", "/health")
        host, driver = self._sign_up("host"), self._sign_up("driver")
        self.api.call("auth_me", "GET", "/auth/me", driver)
        self._onboard(host)
        driveway_id = self._driveway(host, driver)
        vehicle_id = self._link_tesla(driver)
        sockets = self._listen(driver, host)
        try:
            self.attribution.phase = "warm-up"
            self.result.warm_up = self._book_and_live(driveway_id, driver, host, vehicle_id)
            with contextlib.suppress(Exception):
                self.sim.reset()  # the car back where it started: the measured booking drives the same way
            self.attribution.phase = "booking"
            self.result.booking = self._book_and_live(driveway_id, driver, host, vehicle_id,
                                                      not_before=self._end_of(self.result.warm_up))
            self.attribution.phase = "after"
            self._after(driveway_id, driver)
        finally:
            for socket in sockets:
                socket.close()
            time.sleep(0.3)  # $disconnect runs after the socket closes

    def _sign_up(self, role: str) -> _User:
        email = f"bench-{role}-{int(time.time() * 1000) % 10**9}@example.com"
        created = self.api.call("auth_register", "POST", "/auth/register", expect=(201,),
                                json={"email": email, "password": PASSWORD, "name": f"Bench {role}", "role": role})
        tokens = self.api.call("auth_login", "POST", "/auth/login", json={"email": email, "password": PASSWORD})
        if created is None or tokens is None:
            raise SessionAborted(f"could not register and sign in a {role}")
        return _User(str(created.json()["user_id"]), str(tokens.json()["access_token"]))

    def _onboard(self, host: _User) -> None:
        import requests

        link = self.api.call("payouts_onboarding", "POST", "/payouts/onboarding", host)
        if link is None:
            return
        requests.get(link.json()["url"], timeout=10, allow_redirects=False)  # the host completes Stripe's page
        for _ in range(100):  # account.updated reaches the Connect webhook asynchronously
            payouts = self.api.call("get_payouts", "GET", "/payouts", host)
            if payouts is not None and payouts.json().get("charges_enabled"):
                return
            time.sleep(0.05)
        self.result.steps.append(Step("stripe_connect_webhook", False, None, "host never became payable"))

    def _driveway(self, host: _User, driver: _User) -> str:
        from datetime import timedelta

        lat, lng = DRIVEWAY_AT
        body = {
            "title": "Bench driveway", "description": "Fits an SUV.",
            "address": {"line1": "1234 NE Example St", "city": "Portland", "region": "OR", "postal_code": "97212",
                        "country": "US"},
            "location": {"lat": lat, "lng": lng}, "timezone": "America/Los_Angeles", "vehicle_size": "large",
            "amenities": ["ev_charger"], "pricing": {"currency": "usd", "hourly_cents": 500, "daily_cents": 3000},
            "instant_book": True,
            "availability": {"weekly": [{"day": d, "start": "00:00", "end": "24:00"} for d in range(7)]},
        }
        created = self.api.call("create_driveway", "POST", "/driveways", host, expect=(201,), json=body)
        if created is None:
            raise SessionAborted("could not create a driveway")
        driveway_id = str(created.json()["driveway_id"])
        now = self.cloud.clock.now()
        path = f"/driveways/{driveway_id}"
        self.api.call("list_my_driveways", "GET", "/driveways", host, params={"mine": "true"})
        self.api.call("get_driveway", "GET", path, driver)
        self.api.call("update_driveway", "PATCH", path, host, json={"description": "Fits an SUV. Gate code inside."})
        self.api.call("add_blackout", "POST", f"{path}/blackouts", host, json={
            "start": (now + timedelta(days=60)).isoformat(), "end": (now + timedelta(days=61)).isoformat(),
            "reason": "resurfacing"})
        self.api.call("create_photo_upload", "POST", f"{path}/photos", host, json={"content_type": "image/jpeg"})
        self.api.call("search_driveways", "GET", "/search/driveways", headers={"x-api-key": LOCAL_API_KEY},
                      params={"lat": lat + 0.004, "lng": lng, "radius_m": 2000})
        start = now + timedelta(hours=2)
        self.api.call("quote_booking", "POST", "/bookings/quote", json={
            "driveway_id": driveway_id, "start": start.isoformat(), "end": (start + timedelta(hours=3)).isoformat()})
        return driveway_id

    def _link_tesla(self, driver: _User) -> str | None:
        import requests

        connect = self.api.call("tesla_connect", "GET", "/tesla/connect", driver)
        if connect is None:
            return None
        # The browser follows Tesla's authorize page (auto-consent in the simulator) back to our callback.
        callback = requests.get(connect.json()["authorize_url"], timeout=30, allow_redirects=True)
        self.result.steps.append(Step("tesla_callback", callback.status_code == 200, callback.status_code))
        vehicles = self.api.call("list_vehicles", "GET", "/vehicles", driver)
        items = vehicles.json().get("items", []) if vehicles is not None else []
        if not items:
            return None
        vehicle_id = str(items[0]["vehicle_id"])
        self.api.call("vehicle_status", "GET", f"/vehicles/{vehicle_id}/status", driver)
        return vehicle_id

    def _listen(self, driver: _User, host: _User) -> list[_LiveSocket]:
        sockets = []
        for user in (driver, host):
            try:
                sockets.append(_LiveSocket(f"{self.cloud.urls['websocket']}/?token={user.token}"))
            except RuntimeError as exc:
                self.result.steps.append(Step("ws_connect", False, None, str(exc)[:60]))
        if sockets:
            self.result.steps.append(Step("ws_connect", True, 101))
            sockets[0].send(json.dumps({"action": "ping"}))
            self.result.steps.append(Step("ws_ping", True))
            time.sleep(0.2)
        return sockets

    # -- one booking's life ---------------------------------------------------------------------------
    def _book_and_live(self, driveway_id: str, driver: _User, host: _User, vehicle_id: str | None,
                       not_before: Any = None) -> BookingRun:
        phase = self.attribution.phase
        run = BookingRun(tesla_linked=vehicle_id is not None)
        before = self._snapshot()
        try:
            self._live(run, driveway_id, driver, host, vehicle_id, not_before)
        except SessionAborted as exc:
            run.notes.append(str(exc))
        self._settle(run)
        self.attribution.phase = phase
        after = self._snapshot()
        self._fill(run, before, after, phase)
        return run

    def _live(self, run: BookingRun, driveway_id: str, driver: _User, host: _User, vehicle_id: str | None,
              not_before: Any = None) -> None:
        import requests

        created = self._create_booking(driveway_id, driver, vehicle_id, hours_ahead=2, not_before=not_before)
        booking = created["booking"]
        run.booking_id = booking_id = str(booking["booking_id"])
        payment = created["payment"]
        # What Stripe.js does in the driver's app (a client call, not counted as ours).
        phase, self.attribution.phase = self.attribution.phase, "client"
        requests.post(f"{self.cloud.urls['stripe']}/v1/payment_intents/{payment['payment_intent_id']}/confirm",
                      data={"payment_method": "pm_card_visa", "client_secret": payment["client_secret"]},
                      headers={"Authorization": f"Bearer {payment['publishable_key']}"}, timeout=10)
        self.attribution.phase = phase
        self._wait(booking_id, lambda b: b.status == "EN_ROUTE" or b.waiting_for == "arrival", "EN_ROUTE")
        self._quiesce()
        run.arrival = self._arrive(booking_id, driver, run)
        run.parked = self._park(booking_id, host, run)
        self._wait(booking_id, lambda b: b.waiting_for == "departure", "waiting for departure")
        self._quiesce()  # the capture's webhooks first (see _quiesce)
        path = f"/bookings/{booking_id}"
        # The driver's app shows the booking, the list and the timeline once each while parked.
        self.api.call("get_booking", "GET", path, driver)
        self.api.call("list_bookings", "GET", "/bookings", driver)
        self.api.call("booking_status", "GET", f"{path}/status", driver)
        if self.api.call("checkout", "POST", f"{path}/checkout", driver, expect=(202,)) is None:
            raise SessionAborted("checkout was refused")
        self._wait(booking_id, lambda b: b.status == "COMPLETED", "COMPLETED")
        run.completed = True

    def _quiesce(self) -> None:
        """Let Stripe's webhooks land before the next request. All handlers share this process, so a webhook
        handled at the same moment as a user's request would mix their DynamoDB counts; one event at a time
        keeps each request attributed to its route. (Powertools' per-request router state is made per-thread
        by ``local/lambda_runtime.py``, so concurrent requests no longer see each other's events.)"""
        with contextlib.suppress(Exception):
            self.cloud.stripe.wait_for_deliveries(timeout=10)
        time.sleep(0.2)

    def _end_of(self, run: BookingRun | None) -> Any:
        from datetime import datetime

        with contextlib.suppress(Exception):
            if run is not None and run.booking_id is not None:
                return datetime.fromisoformat(str(self._booking(run.booking_id).end_at))
        return None

    def _create_booking(self, driveway_id: str, driver: _User, vehicle_id: str | None, *,
                        hours_ahead: float, not_before: Any = None) -> dict[str, Any]:
        from datetime import timedelta

        start = self.cloud.clock.now() + timedelta(hours=hours_ahead)
        if not_before is not None and start < not_before + timedelta(hours=1):
            start = not_before + timedelta(hours=1)  # clear of the previous booking's slot
        body: dict[str, Any] = {"driveway_id": driveway_id, "start": start.isoformat(),
                                "end": (start + timedelta(hours=3)).isoformat()}
        if vehicle_id is not None:
            body["vehicle_id"] = vehicle_id
        key = f"bench-{time.time_ns()}"
        created = self.api.call("create_booking", "POST", "/bookings", driver, expect=(201,), json=body,
                                headers={"Idempotency-Key": key})
        if created is None:
            raise SessionAborted("POST /v1/bookings did not create a booking")
        answer: dict[str, Any] = created.json()
        return answer

    def _arrive(self, booking_id: str, driver: _User, run: BookingRun) -> str:
        """The car drives there, streaming telemetry; its arrival resumes the workflow. Else: check-in."""
        if run.tesla_linked and self.sim.vehicle(VIN).phase == "driving":
            for _ in range(600):
                self.step()
                if self._booking(booking_id).waiting_for != "arrival":
                    self._wait(booking_id, lambda b: b.status in ("PARKING", "PARKED") or b.waiting_for == "parked",
                               "PARKING")
                    return "telemetry"
            run.notes.append("the car never reported its arrival: the driver checked in")
        self._wait(booking_id, lambda b: b.waiting_for == "arrival", "waiting for arrival")
        if self.api.call("check_in", "POST", f"/bookings/{booking_id}/check-in", driver, expect=(202,)) is None:
            raise SessionAborted("check-in was refused")
        return "driver check-in"

    def _park(self, booking_id: str, host: _User, run: BookingRun) -> str:
        """The driver parks as prompted; telemetry (gear P in the geofence) resumes. Else: host confirms."""
        self._wait(booking_id, lambda b: b.waiting_for == "parked", "waiting for parked")
        if run.tesla_linked:
            with contextlib.suppress(Exception):
                self.sim.prompt_driver_to_park(VIN)
                for _ in range(120):
                    self.step()
                    if self._booking(booking_id).waiting_for != "parked":
                        return "telemetry"
            run.notes.append("the car never reported itself parked: the host confirmed")
        if self.api.call("confirm_parked", "POST", f"/bookings/{booking_id}/confirm-parked", host,
                         expect=(202,)) is None:
            raise SessionAborted("confirm-parked was refused")
        return "host confirmed"

    def step(self) -> None:
        """Five virtual seconds pass; deliver the telemetry that became due (what the sim's pump does)."""
        import requests

        self.cloud.clock.advance(TELEMETRY_INTERVAL_S)
        for batch in self.sim.telemetry_batches():
            response = requests.post(batch.target.url, data=batch.body, headers=batch.headers, timeout=30)
            self.sim.telemetry_delivered(batch, response.status_code)
            self.telemetry_batches += 1

    def _booking(self, booking_id: str) -> Any:
        from driveway_hub.data.bookings import Booking

        return Booking.get(booking_id, consistent_read=True)

    def _wait(self, booking_id: str, predicate: Callable[[Any], bool], what: str, timeout_s: float = 30) -> Any:
        deadline = time.monotonic() + timeout_s
        booking = None
        while time.monotonic() < deadline:
            booking = self._booking(booking_id)
            if predicate(booking):
                return booking
            time.sleep(0.05)
        status = getattr(booking, "status", "?")
        raise SessionAborted(f"booking never reached {what} (status {status}, "
                             f"waiting for {getattr(booking, 'waiting_for', None)})")

    def _settle(self, run: BookingRun) -> None:
        """Let the execution finish and Stripe's webhooks land before the counters are read."""
        if run.booking_id is None:
            return
        sfn = self.cloud.client("stepfunctions")
        machine = self.cloud.resources.state_machine_arns.get("booking_lifecycle")
        arn = next((e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]
                    if e["name"] == run.booking_id), None) if machine else None
        deadline = time.monotonic() + 20
        while arn is not None and time.monotonic() < deadline:
            if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING":
                break
            time.sleep(0.05)
        with contextlib.suppress(Exception):
            self.cloud.stripe.wait_for_deliveries(timeout=10)
        time.sleep(0.5)  # webhook handlers and live-event pushes still in flight
        if arn is not None:
            run.transitions, entered = _states_entered(sfn, arn)
            run.notes.append("states entered: " + " > ".join(entered))
        with contextlib.suppress(Exception):
            view = self._booking(run.booking_id)
            run.history = [str(view.status)]

    # -- counters -------------------------------------------------------------------------------------
    def _snapshot(self) -> dict[str, Any]:
        stats = self.cloud.moto.stats
        gateway = self.cloud.gateway.stats
        return {
            "tasks": {name: list(s.durations) for name, s in stats.items()},
            "rest": gateway.rest_requests, "ws": gateway.websocket_messages,
            "ws_seconds": gateway.websocket_connect_seconds,
            "tesla": dict(self.sim.counter_values()),
            "webhooks": len(self.cloud.stripe.deliveries),
            "telemetry": self.telemetry_batches,
        }

    def _fill(self, run: BookingRun, before: dict[str, Any], after: dict[str, Any], phase: str) -> None:
        from driveway_hub.routes import function_name_to_route

        for name, durations in after["tasks"].items():
            new = durations[len(before["tasks"].get(name, [])):]
            route = function_name_to_route(name, self.cloud.stage)
            if new:
                run.task_functions[route.name if route else name] = new
        run.gateway_functions = {name: durations for name, durations in self.recorder.by_function(phase).items()
                                 if name not in run.task_functions and name not in _task_names()}
        run.dynamo_by_function = self.counter.dynamo_by_function(phase)
        run.dynamo = self.counter.dynamo_total(phase)
        run.service_calls = self.counter.service_calls(phase)
        run.rest_requests = after["rest"] - before["rest"]
        run.ws_messages = after["ws"] - before["ws"]
        run.ws_connect_seconds = after["ws_seconds"] - before["ws_seconds"]
        run.tesla = {k: round(v - before["tesla"].get(k, 0), 6) for k, v in after["tesla"].items()}
        run.stripe_calls = Counter(self.stripe_calls.get(phase, Counter()))
        run.stripe_webhooks = after["webhooks"] - before["webhooks"]
        run.telemetry_batches = after["telemetry"] - before["telemetry"]

    # -- after the booking: routes the happy path does not use ----------------------------------------
    def _after(self, driveway_id: str, driver: _User) -> None:
        self.api.call("list_payments", "GET", "/payments", driver)
        try:
            created = self._create_booking(driveway_id, driver, None, hours_ahead=30)
            booking_id = created["booking"]["booking_id"]
            self.api.call("cancel_booking", "POST", f"/bookings/{booking_id}/cancel", driver)
        except SessionAborted as exc:
            self.result.steps.append(Step("cancel_booking", False, None, str(exc)))
        self.api.call("me_export", "GET", "/me/export", driver)
        time.sleep(0.3)


def _task_names() -> set[str]:
    from driveway_hub.routes import TASKS

    return {route.name for route in TASKS}


def _states_entered(sfn: Any, execution_arn: str) -> tuple[int, list[str]]:
    """Step Functions Standard bills state transitions: one per state entered (retries add more)."""
    entered: list[str] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        entered += [e["stateEnteredEventDetails"]["name"] for e in page["events"] if "stateEnteredEventDetails" in e]
        if not page.get("nextToken"):
            return len(entered), entered
        kwargs["nextToken"] = page["nextToken"]
