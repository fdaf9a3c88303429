"""moto's DynamoDB made to behave like DynamoDB under concurrency, and fast enough for a city of listings.

``patched_dynamodb()`` (a context manager; ``MotoCloud`` and the search benchmark use it) changes how moto
answers, never what it answers:

* **Isolation.** DynamoDB makes every single-item write and every transaction atomic and isolated. moto is
  not thread-safe: a ``TransactWriteItems`` that fails a condition restores deep copies of whole tables
  taken when it began, erasing whatever other threads wrote meanwhile (found by the 100-client resilience
  test: a cancelled booking came back ``PENDING_PAYMENT``). Requests are therefore answered one at a
  time; each takes about a millisecond, so throughput barely changes.
* **Speed of index Queries.** For every Query moto sorts *all* of a table's items, walks them to find
  the partition, sorts that, sizes every candidate twice (the 1 MB page limit) and serialises the answer
  by walking botocore's shapes: ~6 s per 16-Query search on the 10,000-driveway metro of issue #4. Here
  the table's sorted items, each index partition, its order and each item's size are computed once per
  *generation* of the data (every request other than a read starts a new one), and Query/Scan answers
  are written with ``json.dumps``. Results, ``LastEvaluatedKey``, page limits and counts are moto's own;
  tests compare the answers with and without the patch.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from local.clock import MotoInternalsChanged

_PINNED_MOTO = "5.2.5"
# Requests that change no data; any other DynamoDB action (writes, table changes, PartiQL, restores...)
# starts a new generation, which drops every cache.
READ_ACTIONS = frozenset({
    "GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable", "DescribeTimeToLive",
    "DescribeContinuousBackups", "DescribeEndpoints", "DescribeLimits", "ListTables", "ListTagsOfResource",
    "ListBackups", "DescribeBackup", "DescribeExport", "ListExports", "DescribeKinesisStreamingDestination",
    "DescribeImport", "ListImports", "GetResourcePolicy",
})
# Answers written straight as JSON (DynamoDB's JSON protocol is the result dict itself).
FAST_SERIALISED = ("query", "scan")


class _Caches:
    """Everything derived from the data, valid for one generation."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.local = threading.local()  # .partition = (table, items, key) while a Query of that table runs
        self.generation = 0
        self.sorted_items: dict[int, tuple[Any, list[Any]]] = {}  # id(table) -> (table, all_items())
        self.partitions: dict[tuple[int, str, str], list[Any]] = {}
        self.sizes: dict[int, tuple[Any, int]] = {}  # id(item) -> (item, size)
        self.orders: dict[tuple[Any, ...], list[Any]] = {}

    def invalidate(self) -> None:
        self.generation += 1
        for cache in (self.sorted_items, self.partitions, self.sizes, self.orders):
            cache.clear()

    def current_partition(self, table: Any) -> tuple[Any, list[Any], Any] | None:
        partition = getattr(self.local, "partition", None)
        return partition if partition is not None and partition[0] is table else None


_caches = _Caches()
_users = {"count": 0}
_undo: list[Callable[[], None]] = []


def _moto_classes() -> tuple[type, type, type, type]:
    try:
        from moto.core.responses import ActionResult
        from moto.dynamodb.models.dynamo_type import Item
        from moto.dynamodb.models.table import Table
        from moto.dynamodb.responses import DynamoHandler
    except ImportError as exc:
        raise MotoInternalsChanged(f"moto.dynamodb's internals moved (written for moto {_PINNED_MOTO})") from exc
    return ActionResult, Item, Table, DynamoHandler


def _own(cls: type, name: str) -> Any:
    found = vars(cls).get(name)
    if found is None:
        raise MotoInternalsChanged(f"{cls.__name__}.{name} is gone (written for moto {_PINNED_MOTO})")
    return found


def _has(item: Any, name: str, value: Any) -> bool:
    """moto's own partition test (``if not item_value or item_value != expected_value: skip``)."""
    found = getattr(item, "attrs", {}).get(name)
    return bool(found) and found == value


def _patch(cls: type, name: str, make: Callable[[Any], Any]) -> None:
    own = _own(cls, name)
    setattr(cls, name, make(own))
    _undo.append(lambda: setattr(cls, name, own))


def _serialised_call(own: Any) -> Any:
    def call_action(self: Any) -> Any:
        with _caches.lock:
            try:
                writes = self._get_action() not in READ_ACTIONS
            except Exception:  # noqa: BLE001 - an action we cannot name may write
                writes = True
            if writes:
                _caches.invalidate()
            try:
                return own(self)
            finally:
                if writes:
                    _caches.invalidate()  # what it wrote must be seen by the next read
    return call_action


def _cached_all_items(own: Any) -> Any:
    def all_items(self: Any) -> list[Any]:
        partition = _caches.current_partition(self)
        if partition is not None:
            return list(partition[1])
        cached = _caches.sorted_items.get(id(self))
        if cached is None or cached[0] is not self:
            cached = _caches.sorted_items[id(self)] = (self, own(self))
        return list(cached[1])
    return all_items


def _partitioned_query(own: Any) -> Any:
    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[7] if len(args) > 7 else kwargs.get("index_name")  # moto passes it 8th, positionally
        conditions = kwargs.get("hash_key_conditions") or []
        if not index_name or len(conditions) != 1:
            return own(self, *args, **kwargs)
        name, value = conditions[0]
        key = (id(self), index_name, f"{name}={value.type}:{value.value}")
        items = _caches.partitions.get(key)
        if items is None:
            items = _caches.partitions[key] = [item for item in self.all_items() if _has(item, name, value)]
        _caches.local.partition = (self, items, key)
        try:
            return own(self, *args, **kwargs)
        finally:
            _caches.local.partition = None
    return query


def _cached_order(own: Any) -> Any:
    def sorted_items(self: Any, hash_key_attrs: list[str], range_key_attrs: list[Any], items: list[Any]) -> list[Any]:
        partition = _caches.current_partition(self)
        if partition is None:
            return own(self, hash_key_attrs, range_key_attrs, items)
        key = (partition[2], tuple(hash_key_attrs), tuple(range_key_attrs), tuple(map(id, items)))
        order = _caches.orders.get(key)
        if order is None:
            order = _caches.orders[key] = own(self, hash_key_attrs, range_key_attrs, list(items))
        return list(order)
    return sorted_items


def _cached_size(own: Any) -> Any:
    def size(self: Any) -> int:
        cached = _caches.sizes.get(id(self))
        if cached is None or cached[0] is not self:
            cached = _caches.sizes[id(self)] = (self, own(self))
        return int(cached[1])
    return size


def _plain_json(action_result: type) -> Callable[[Any], Any]:
    class PlainJson(action_result):
        """The result dict as the body; what json cannot write (bytes of a B attribute) goes through moto's
        serializer, which base64-encodes it."""

        def execute_result(self, context: Any) -> Any:
            try:
                body = json.dumps(self.result, separators=(",", ":"))
            except TypeError:
                return super().execute_result(context)
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body

    def make(own: Any) -> Any:
        def read(self: Any) -> Any:
            return PlainJson(own(self).result)
        return read
    return make


def _install() -> None:
    action_result, item, table, handler = _moto_classes()
    _patch(handler, "call_action", _serialised_call)
    _patch(table, "all_items", _cached_all_items)
    _patch(table, "query", _partitioned_query)
    _patch(table, "sorted_items", _cached_order)
    _patch(item, "size", _cached_size)
    for name in FAST_SERIALISED:
        _patch(handler, name, _plain_json(action_result))
    _caches.invalidate()


def _uninstall() -> None:
    while _undo:
        _undo.pop()()
    _caches.invalidate()


@contextmanager
def patched_dynamodb() -> Iterator[None]:
    """While active, moto's DynamoDB answers one request at a time and Queries partitions quickly.
    Nestable; process-wide (moto's backends are)."""
    with _caches.lock:
        if _users["count"] == 0:
            _install()
        _users["count"] += 1
    try:
        yield
    finally:
        with _caches.lock:
            _users["count"] -= 1
            if _users["count"] == 0:
                _uninstall()
