"""Rate-based fault injection for the local cloud: a fraction of calls fail the way AWS, Stripe and Tesla fail.

* ``dynamodb_throttling(rate, seed=...)``: a fraction of DynamoDB requests sent by *any* botocore client in
  this process (boto3 clients, and PynamoDB's own per-thread botocore sessions) are answered, without
  reaching moto, with the HTTP 400 that DynamoDB sends when it throttles
  (``ProvisionedThroughputExceededException`` / ``ThrottlingException``). botocore's retry handler sees a
  real throttling response, so its retries (standard/adaptive modes, PynamoDB's ``max_retry_attempts``)
  run exactly as they would against AWS. It patches ``botocore.endpoint.Endpoint._send`` (the one place
  every client's request goes through, whichever session created the client) and only for endpoints
  whose prefix is ``dynamodb``; event-system hooks would have to be registered on every session,
  and PynamoDB creates a fresh session per thread.
* ``stripe_fault_rate(fake, rate, seed=...)``: a fraction of the fake Stripe's API calls answer with an
  injected ``FaultRule`` (500 with ``Stripe-Should-Retry`` by default); rules armed with
  ``inject_fault`` still come first.
* ``tesla_fault_rate(sim, rate, seed=...)``: a fraction of the Tesla simulator's requests answer 503.

Each is a context manager, seeded (reproducible draws for a given call order) and thread-safe, and
counts what it did::

    with dynamodb_throttling(0.05, seed=7) as throttle:
        ...
    print(throttle.stats())   # {"requests": 812, "throttled": 41, "by_operation": {...}}
"""

from __future__ import annotations

import fnmatch
import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.awsrequest import AWSResponse
from botocore.endpoint import Endpoint

if TYPE_CHECKING:
    from local.fake_stripe import FakeStripe
    from local.tesla_sim import TeslaSimulator

THROTTLING_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")
_MESSAGES = {
    "ProvisionedThroughputExceededException": "The level of configured provisioned throughput for the table was "
                                              "exceeded. Consider increasing your provisioning level with the "
                                              "UpdateTable API.",
    "ThrottlingException": "Rate of requests exceeds the allowed throughput.",
}


class _Body:
    """What botocore reads an ``AWSResponse`` body from (``raw.stream()``)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


@dataclass
class _Dice:
    """A seeded coin with counters; every draw under one lock (threads share it)."""

    rate: float
    seed: int
    rng: random.Random = field(init=False)
    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: Counter[str] = field(default_factory=Counter)
    hit: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        self.rng = random.Random(self.seed)  # noqa: S311 - fault draws, not secrets

    def roll(self, label: str) -> bool:
        with self.lock:
            self.seen[label] += 1
            fail = self.rng.random() < self.rate
            if fail:
                self.hit[label] += 1
            return fail

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": sum(self.seen.values()), "failed": sum(self.hit.values()),
                    "by_operation": {k: {"requests": v, "failed": self.hit.get(k, 0)} for k, v in self.seen.items()}}


@dataclass
class DynamoThrottle:
    """The running injector (see ``dynamodb_throttling``)."""

    dice: _Dice
    operations: frozenset[str] | None = None  # e.g. {"TransactWriteItems"}; None = every operation
    codes: tuple[str, ...] = THROTTLING_CODES
    tables: frozenset[str] | None = None  # only requests naming one of these tables; None = any

    @property
    def requests(self) -> int:
        return sum(self.dice.seen.values())

    @property
    def throttled(self) -> int:
        return sum(self.dice.hit.values())

    def stats(self) -> dict[str, Any]:
        stats = self.dice.stats()
        stats["throttled"] = stats.pop("failed")
        return stats

    def decide(self, operation: str, request: Any = None) -> str | None:
        """The error code to answer ``operation`` with, or None to send it."""
        if self.operations is not None and operation not in self.operations:
            return None
        if self.tables is not None and _table(request) not in self.tables:
            return None
        if not self.dice.roll(operation):
            return None
        # Alternate the codes (both are retried as throttling by botocore).
        return self.codes[sum(self.dice.hit.values()) % len(self.codes)]

    def response(self, request: Any, code: str) -> AWSResponse:
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": _MESSAGES.get(code, code)})
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "local-throttle",
                   "Content-Length": str(len(body))}
        return AWSResponse(getattr(request, "url", ""), 400, headers, _Body(body.encode()))


_active: list[DynamoThrottle] = []
_patch_lock = threading.Lock()
_original_send: Callable[..., Any] | None = None


def _operation(request: Any) -> str:
    target = str((getattr(request, "headers", None) or {}).get("X-Amz-Target", b"") or "")
    if target.startswith("b'"):  # header values may be bytes
        target = target[2:-1]
    return target.rsplit(".", 1)[-1] if target else "unknown"


def _table(request: Any) -> str | None:
    body = getattr(request, "body", None)
    try:
        name = json.loads(body or b"{}").get("TableName")
    except (ValueError, TypeError, AttributeError):
        return None
    return name if isinstance(name, str) else None


def _patched_send(self: Endpoint, request: Any) -> Any:
    assert _original_send is not None
    if getattr(self, "_endpoint_prefix", None) == "dynamodb" and _active:
        throttle = _active[-1]
        code = throttle.decide(_operation(request), request)
        if code is not None:
            return throttle.response(request, code)
    return _original_send(self, request)


@contextmanager
def dynamodb_throttling(rate: float, *, seed: int = 0, operations: set[str] | frozenset[str] | None = None,
                        tables: set[str] | frozenset[str] | None = None,
                        codes: tuple[str, ...] = THROTTLING_CODES) -> Iterator[DynamoThrottle]:
    """Throttle ``rate`` of the DynamoDB requests of every botocore client in this process while active.

    Retries are new requests and are drawn again, as in AWS. Nested uses: the innermost decides."""
    global _original_send
    throttle = DynamoThrottle(_Dice(rate, seed), None if operations is None else frozenset(operations), codes,
                              None if tables is None else frozenset(tables))
    with _patch_lock:
        if not _active:
            _original_send = Endpoint._send
            Endpoint._send = _patched_send
        _active.append(throttle)
    try:
        yield throttle
    finally:
        with _patch_lock:
            _active.remove(throttle)
            if not _active and _original_send is not None:
                Endpoint._send = _original_send
                _original_send = None


# ---- fake Stripe and the Tesla simulator ---------------------------------------------------------------------


@contextmanager
def stripe_fault_rate(fake: FakeStripe, rate: float, *, seed: int = 0, match: str = "* /v1/*", status: int = 500,
                      should_retry: bool | None = True) -> Iterator[_Dice]:
    """``rate`` of the fake Stripe's API calls matching ``match`` fail with a one-shot ``FaultRule``."""
    from local.fake_stripe.faults import FaultInjector, FaultRule

    dice = _Dice(rate, seed)
    original = fake.faults

    class _RateInjector(FaultInjector):
        def take(self, method: str, path: str) -> FaultRule | None:
            armed = original.take(method, path)
            if armed is not None:
                return armed
            target = f"{method.upper()} {path}"
            parts = path.split("/")
            label = f"{method.upper()} {parts[2] if len(parts) > 2 else path}"
            if fnmatch.fnmatchcase(target, match) and dice.roll(label):
                return FaultRule(match, count=1, status=status, should_retry=should_retry)
            return None

    injector = _RateInjector()
    injector.rules = original.rules  # inject_fault / clear_faults keep working on the same list
    with fake.lock:
        fake.faults = injector
    try:
        yield dice
    finally:
        with fake.lock:
            fake.faults = original


@contextmanager
def tesla_fault_rate(sim: TeslaSimulator, rate: float, *, seed: int = 0) -> Iterator[_Dice]:
    """``rate`` of the Tesla simulator's requests answer 503 (after any fault armed with ``inject_fault``)."""
    from local.tesla_sim.faults import Fault, FaultKind

    dice = _Dice(rate, seed)
    original = sim.take_fault

    def take_fault(path: str) -> Fault | None:
        armed = original(path)
        if armed is not None:
            return armed
        return Fault(FaultKind.UNAVAILABLE, 1) if dice.roll(path.split("/")[1] if "/" in path else path) else None

    sim.take_fault = take_fault  # type: ignore[method-assign]
    try:
        yield dice
    finally:
        del sim.take_fault  # back to the class's method
