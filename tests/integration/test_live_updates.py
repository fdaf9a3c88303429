"""Live updates over the local cloud's WebSocket API (issue #7), for real: a driver and a host each
connect with ``?token=``, subscribe to the booking, and while it lives its whole life over HTTP
(the real state machine in moto, the fake Stripe's signed webhooks, the instant clock) both sockets
receive every ``booking.updated`` in order. Subscribing is refused to anyone but the booking's driver
or host, with an error frame in the contract's envelope.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import pytest
import requests
from aiohttp import ClientSession, ClientWebSocketResponse, WSMsgType

from driveway_hub.config import get_settings
from driveway_hub.data.base import bind_models
from driveway_hub.data.subscriptions import SubscriptionRepository
from local.cloud import LocalCloud
from tests.integration.conftest import register_and_login
from tests.integration.test_booking_lifecycle import (
    HAPPY_PATH,
    _auth,
    _book,
    _driveway,
    _onboard,
    _pay,
    _step,
    _wait_for,
)

pytestmark = pytest.mark.integration

# Routes these tests exercise end to end (tests/unit/test_route_table.py checks every route is covered).
COVERS = ("ws_subscribe", "ws_connect", "ws_disconnect")

Frame = dict[str, Any]


class LiveSocket:
    """A WebSocket client on its own event-loop thread: collects every frame, can send frames.

    Tests are synchronous (requests); aiohttp's client needs a loop, so it runs on a daemon thread and
    the test waits on a condition instead of sleeping.
    """

    def __init__(self, url: str, *, timeout: float = 30) -> None:
        self.frames: list[Frame] = []
        self._changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="live-socket", daemon=True)
        self._thread.start()
        self._session: ClientSession | None = None
        self._ws: ClientWebSocketResponse | None = None
        asyncio.run_coroutine_threadsafe(self._connect(url), self._loop).result(timeout)
        self._receiver = asyncio.run_coroutine_threadsafe(self._receive(), self._loop)

    @classmethod
    def for_user(cls, local_cloud: LocalCloud, user: dict[str, str]) -> LiveSocket:
        return cls(f"{local_cloud.urls['websocket']}/?token={user['access_token']}")

    async def _connect(self, url: str) -> None:
        self._session = ClientSession()
        self._ws = await self._session.ws_connect(url, heartbeat=None)

    async def _receive(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type != WSMsgType.TEXT:
                continue
            with self._changed:
                self.frames.append(json.loads(message.data))
                self._changed.notify_all()

    def send(self, message: Frame) -> None:
        assert self._ws is not None
        asyncio.run_coroutine_threadsafe(self._ws.send_json(message), self._loop).result(10)

    def snapshot(self) -> list[Frame]:
        with self._changed:
            return list(self.frames)

    def wait_for(self, predicate: Callable[[Frame], bool], timeout: float = 30, what: str = "frame") -> Frame:
        """The first frame (received so far or later) that satisfies ``predicate``."""
        with self._changed:
            found = self._changed.wait_for(lambda: any(predicate(f) for f in self.frames), timeout)
            assert found, f"no {what}; got {[(f.get('type'), f.get('status')) for f in self.frames]}"
            return next(f for f in self.frames if predicate(f))

    def close(self) -> None:
        async def shutdown() -> None:
            if self._ws is not None:
                await self._ws.close()
            if self._session is not None:
                await self._session.close()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> LiveSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def status_updates(socket: LiveSocket, booking_id: str) -> list[tuple[str | None, str]]:
    """``(previous, status)`` of every booking.updated frame for the booking, in arrival order."""
    return [(f.get("previous"), f["status"]) for f in socket.snapshot()
            if f.get("type") == "booking.updated" and f.get("booking_id") == booking_id]


def has_status(booking_id: str, status: str) -> Callable[[Frame], bool]:
    return lambda f: (f.get("type") == "booking.updated" and f.get("booking_id") == booking_id
                      and f.get("status") == status)


def subscribe(socket: LiveSocket, booking_id: str) -> Frame:
    """Send a subscribe action and return its answer (the next subscribed or error frame)."""

    def answers() -> list[Frame]:
        return [f for f in socket.snapshot() if f.get("type") in ("subscribed", "error")]

    before = len(answers())
    socket.send({"action": "subscribe", "booking_id": booking_id})
    socket.wait_for(lambda _f: len(answers()) > before, what=f"answer to subscribe {booking_id}", timeout=20)
    return answers()[before]


@pytest.fixture(scope="module")
def listing(api: str, host: dict[str, str]) -> str:
    _onboard(api, host)
    return _driveway(api, host)


def test_driver_and_host_receive_every_status_change_in_order(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], host: dict[str, str], listing: str
) -> None:
    with LiveSocket.for_user(local_cloud, driver) as driver_ws, LiveSocket.for_user(local_cloud, host) as host_ws:
        created = _book(local_cloud, api, driver, listing, hours_ahead=2)
        booking_id = created["booking"]["booking_id"]
        for socket in (driver_ws, host_ws):
            answer = subscribe(socket, booking_id)
            assert answer["type"] == "subscribed", answer
            assert answer["booking_id"] == booking_id and answer["status"] == "PENDING_PAYMENT"

        assert _pay(local_cloud, created).status_code == 200
        _wait_for(api, driver, booking_id, "EN_ROUTE")  # no linked Tesla: "drive there yourself"
        _step(api, driver, booking_id, "check-in", "PARKING")
        _step(api, host, booking_id, "confirm-parked", "PARKED")
        _step(api, driver, booking_id, "checkout", "COMPLETED")

        expected = list(pairwise(HAPPY_PATH))
        for side, socket in (("driver", driver_ws), ("host", host_ws)):
            socket.wait_for(has_status(booking_id, "COMPLETED"), what=f"COMPLETED on the {side}'s socket")
            assert status_updates(socket, booking_id) == expected, side
            updates = [f for f in socket.snapshot() if f.get("type") == "booking.updated"]
            stamps = [f["at"] for f in updates]
            assert stamps == sorted(stamps), f"{side}: events out of time order"
        # Money moved too, and both sides heard about it.
        assert any(f.get("type") == "payment.updated" for f in driver_ws.snapshot())
        assert any(f.get("type") == "payment.updated" for f in host_ws.snapshot())

        bind_models(get_settings())
        subscribers = SubscriptionRepository().for_booking(booking_id, local_cloud.clock.now())
        assert {s.user_id for s in subscribers} == {driver["user_id"], host["user_id"]}


def test_only_the_bookings_driver_or_host_may_subscribe(
    local_cloud: LocalCloud, api: str, driver: dict[str, str], listing: str
) -> None:
    created = _book(local_cloud, api, driver, listing, hours_ahead=60)
    booking_id = created["booking"]["booking_id"]
    stranger = register_and_login(api, "driver")
    try:
        with LiveSocket.for_user(local_cloud, stranger) as socket:
            refused = subscribe(socket, booking_id)
            assert refused == {"type": "error", "error": {
                "code": "not_owner", "message": refused["error"]["message"], "details": []}}, refused

            unknown = f"bk_{uuid.uuid4().hex}"
            missing = subscribe(socket, unknown)
            assert missing["type"] == "error" and missing["error"]["code"] == "not_found", missing

            socket.send({"action": "subscribe"})
            malformed = socket.wait_for(lambda f: f.get("type") == "error"
                                        and f["error"]["code"] == "invalid_request", what="invalid_request")
            assert malformed["error"]["details"] == [{"field": "booking_id", "message": malformed["error"]["message"]}]

        bind_models(get_settings())
        assert SubscriptionRepository().for_booking(booking_id, local_cloud.clock.now()) == []
    finally:
        requests.post(f"{api}/bookings/{booking_id}/cancel", headers=_auth(driver), timeout=10)
