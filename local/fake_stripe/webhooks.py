"""Signed webhook delivery to the platform and Connect endpoints, with Stripe's (and worse) manners.

Events are queued when they are created and sent by a background task on the app's event loop, so
an API call answers before its webhooks arrive, as with Stripe. Scheduling (delays, retry back-off,
the reorder window) runs on the fake's clock, which may be virtual; waiting for an endpoint's answer
is real time. The `Stripe-Signature` timestamp comes from `signing_now` (the wall clock by default)
because receivers verify it against their own `time.time()` with a 300 s tolerance.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import hmac
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import aiohttp

from .store import Obj, Store

LOG = logging.getLogger(__name__)

EndpointKind = Literal["platform", "connect"]
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


@dataclass(frozen=True)
class WebhookEndpoint:
    url: str
    secret: str
    enabled_events: tuple[str, ...] = ("*",)

    def accepts(self, event_type: str) -> bool:
        return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in self.enabled_events)


@dataclass
class Chaos:
    """How badly delivery behaves. Stripe itself retries and may reorder or duplicate; the rest is worse
    on purpose, so the backend's webhook handling is tested against it."""

    duplicate: bool = False  # every event is delivered twice (same event id)
    reorder_batch: int = 0  # ≥ 2: hold that many deliveries, then send them newest first
    reorder_window_s: float = 5.0  # a partial batch is sent anyway after this long (fake clock)
    delay_s: float = 0.0  # before the first attempt (fake clock)
    retry: bool = True  # retry after a non-2xx answer, a timeout or a connection error
    max_attempts: int = 5
    retry_base_s: float = 60.0  # back-off before the 2nd attempt, doubling after (fake clock)
    timeout_s: float = 10.0  # real seconds to wait for the endpoint's answer

    def update(self, changes: dict[str, Any]) -> None:
        known = [f.name for f in fields(self)]
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown chaos setting {name!r} (known: {', '.join(known)})")
            current = getattr(self, name)
            if isinstance(current, bool) and not isinstance(value, bool):
                raise ValueError(f"chaos setting {name!r} must be true or false")
            setattr(self, name, type(current)(value))  # JSON may give 5 where 5.0 is meant


@dataclass
class Delivery:
    order: int  # due deliveries go out in this order
    event_id: str
    endpoint: EndpointKind
    due_at: float
    attempts: int = 0
    held_at: float | None = None


@dataclass(frozen=True)
class DeliveryAttempt:
    """One POST to an endpoint, for tests and the dev server's `/_fake/deliveries`."""

    event_id: str
    event_type: str
    endpoint: EndpointKind
    url: str
    attempt: int
    status: int | None
    error: str | None
    at: float
    next_attempt_at: float | None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "succeeded": self.succeeded}


@dataclass(frozen=True)
class _Job:
    delivery: Delivery
    url: str
    secret: str
    payload: str
    event_type: str


def signature_header(payload: str, secret: str, timestamp: int) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{payload}">`, exactly what Stripe sends."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookDispatcher:
    def __init__(self, store: Store, signing_now: Callable[[], float]) -> None:
        self.store = store
        self.signing_now = signing_now
        self.cond = threading.Condition(store.lock)
        self.endpoints: dict[EndpointKind, WebhookEndpoint | None] = {"platform": None, "connect": None}
        self.chaos = Chaos()
        self.attempts: list[DeliveryAttempt] = []
        self._queue: list[Delivery] = []
        self._held: list[Delivery] = []
        self._in_flight = 0
        self._order = itertools.count()

    def reset(self) -> None:
        with self.cond:
            self._queue.clear()
            self._held.clear()
            self.attempts.clear()
            self.cond.notify_all()

    # ---- producer side (under the store lock) -------------------------------------------------

    def dispatch(self, event: Obj) -> int:
        """Queue `event` for its endpoint; answers how many endpoints will get it (`pending_webhooks`)."""
        kind: EndpointKind = "connect" if event.get("account") else "platform"
        endpoint = self.endpoints[kind]
        if endpoint is None or not endpoint.accepts(event["type"]):
            return 0
        now = self.store.now()
        with self.cond:
            for _ in range(2 if self.chaos.duplicate else 1):
                delivery = Delivery(next(self._order), event["id"], kind, due_at=now + self.chaos.delay_s)
                if self.chaos.reorder_batch >= 2:
                    delivery.held_at = now
                    self._held.append(delivery)
                    if len(self._held) >= self.chaos.reorder_batch:
                        self._release_held()
                else:
                    self._queue.append(delivery)
            self.cond.notify_all()
        return 1

    def _release_held(self) -> None:
        for delivery in reversed(self._held):
            delivery.order = next(self._order)
            delivery.held_at = None
            self._queue.append(delivery)
        self._held.clear()

    # ---- consumer side (the worker) -----------------------------------------------------------

    def take_due(self) -> list[_Job]:
        with self.cond:
            now = self.store.now()
            if self._held and now - (self._held[0].held_at or now) >= self.chaos.reorder_window_s:
                self._release_held()
            due = sorted((d for d in self._queue if d.due_at <= now), key=lambda d: d.order)
            jobs = []
            for delivery in due:
                self._queue.remove(delivery)
                endpoint = self.endpoints[delivery.endpoint]
                event = self.store.find(delivery.event_id)
                if endpoint is None or event is None:
                    continue  # the endpoint was removed or the fake reset since the event was queued
                self._in_flight += 1
                jobs.append(_Job(delivery, endpoint.url, endpoint.secret, json.dumps(event, indent=2),
                                 event["type"]))
            return jobs

    def record(self, job: _Job, status: int | None, error: str | None) -> None:
        with self.cond:
            self._in_flight -= 1
            delivery = job.delivery
            delivery.attempts += 1
            now = self.store.now()
            ok = status is not None and 200 <= status < 300
            next_at = None
            event = self.store.find(delivery.event_id)
            if ok and event is not None:
                event["pending_webhooks"] = 0
            elif not ok and self.chaos.retry and delivery.attempts < self.chaos.max_attempts:
                next_at = now + self.chaos.retry_base_s * 2 ** (delivery.attempts - 1)
                delivery.due_at = next_at
                delivery.order = next(self._order)
                self._queue.append(delivery)
            self.attempts.append(DeliveryAttempt(
                delivery.event_id, job.event_type, delivery.endpoint, job.url, delivery.attempts, status, error,
                now, next_at,
            ))
            self.cond.notify_all()

    # ---- waiting (any thread) -----------------------------------------------------------------

    def _busy(self, include_scheduled: bool) -> bool:
        if self._in_flight or self._held:
            return True
        now = self.store.now()
        return any(include_scheduled or delivery.due_at <= now for delivery in self._queue)

    def wait_idle(self, timeout: float, *, include_scheduled: bool) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            self._release_held()
            while self._busy(include_scheduled):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                # Re-check now and then: a virtual clock can make deliveries due without notifying us.
                self.cond.wait(min(remaining, 0.02))
            return True


async def deliver_forever(
    dispatcher: WebhookDispatcher, session: aiohttp.ClientSession, tick: Callable[[], None],
    poll_s: float = 0.01,
) -> None:
    """The background task: send due deliveries one at a time (in order), then look again."""
    while True:
        try:
            tick()
        except Exception:
            # A failing housekeeping step (e.g. hold expiry) must not stop webhook delivery.
            LOG.exception("fake stripe: periodic tick failed")
        jobs = dispatcher.take_due()
        for job in jobs:
            status, error = await _post(session, job, dispatcher)
            dispatcher.record(job, status, error)
        if not jobs:
            await asyncio.sleep(poll_s)


async def _post(
    session: aiohttp.ClientSession, job: _Job, dispatcher: WebhookDispatcher
) -> tuple[int | None, str | None]:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "Stripe-Signature": signature_header(job.payload, job.secret, int(dispatcher.signing_now())),
    }
    timeout = aiohttp.ClientTimeout(total=dispatcher.chaos.timeout_s)
    try:
        async with session.post(
            job.url, data=job.payload.encode(), headers=headers, timeout=timeout, allow_redirects=False
        ) as response:
            await response.read()
            return response.status, None
    except (aiohttp.ClientError, TimeoutError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
