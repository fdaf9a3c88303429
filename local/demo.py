"""``python -m local.demo`` (``make demo``): one booking's whole life, narrated, against the local cloud.

It uses the local cloud running on the default ports (``make dev``: REST http://127.0.0.1:8000/v1,
WebSocket ws://127.0.0.1:8001, fake Stripe :8002, Tesla simulator :8003). When nothing answers at
``/v1/health`` it starts one in this process on ports the OS picks, with a clock running 120 times
faster than real time, so the hour-long booking takes seconds.

The script, all over the public doors (HTTP, WebSocket, the simulators' control routes):

1. a host signs up, onboards with Stripe Connect and lists driveways in Austin, TX;
2. a driver signs up and links the simulated Tesla through Tesla's OAuth page (the simulator consents
   at once and redirects to our callback);
3. the driver searches near their destination, books the nearest driveway with the car, and pays the
   way Stripe.js would (``pm_card_visa`` confirmed with the client secret and the publishable key);
4. every live event both of them receive over WebSocket is printed with its time while the car drives
   there, arrives, is parked by the simulated driver when asked (``parking.requested``), leaves, and the
   booking completes;
5. the money is checked at the fake Stripe: the driver was charged the total, the host's connected
   account got the total less the platform fee, the platform kept the fee; then the host is paid out.

Exit status 0 only when the booking reached COMPLETED and the money adds up, within two minutes;
otherwise the reason is printed and the status is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from aiohttp import ClientSession, WSMsgType

from local.cloud import LOCAL_API_KEY

DEFAULT_URLS = {
    "rest": "http://127.0.0.1:8000/v1",
    "websocket": "ws://127.0.0.1:8001",
    "stripe": "http://127.0.0.1:8002",
    "tesla": "http://127.0.0.1:8003",
}
# The whole run, real seconds: the demo promises to be done within two minutes.
BUDGET_S = 115.0
IN_PROCESS_TIME_SCALE = 120.0
PASSWORD = "Demo-Pass-2024!"  # noqa: S105 - a made-up password for throwaway local accounts
# Where the driver is going (a meeting near W 6th St and Lavaca St), and the simulated car starts
# downtown (local/cloud.py), a few blocks away: the trip takes half a minute even at real speed.
DESTINATION = (30.2689, -97.7440)


@dataclass(frozen=True)
class Listing:
    title: str
    line1: str
    lat: float
    lng: float
    hourly_cents: int
    amenities: tuple[str, ...] = ()


DRIVEWAYS = (
    Listing("Shaded driveway off West 7th", "612 W 7th St", 30.2690, -97.7445, 450, ("covered",)),
    Listing("Wide driveway by the Capitol", "1201 Colorado St", 30.2747, -97.7404, 500, ("ev_charger",)),
    Listing("Rainey Street bungalow driveway", "70 Rainey St", 30.2580, -97.7385, 600),
)
FAILED_STATUSES = frozenset({"PAYMENT_FAILED", "EXPIRED", "REJECTED", "CANCELLED", "NO_SHOW"})
# Frames that reach both sides are printed once: wait this long for the twin before printing.
MERGE_WINDOW_S = 0.15


class DemoFailed(Exception):
    """The reason the demo could not show a completed, correctly paid booking."""


@dataclass(frozen=True)
class Urls:
    rest: str
    websocket: str
    stripe: str
    tesla: str


@dataclass
class User:
    name: str
    user_id: str
    token: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


# ---- narration ------------------------------------------------------------------------------------------


class Narrator:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return BUDGET_S - self.elapsed()

    def say(self, text: str) -> None:
        print(f"[{self.elapsed():6.1f}s] {text}", flush=True)

    def detail(self, text: str) -> None:
        print(f"{'':10}{text}", flush=True)


def money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def clock_time(iso: str | None) -> str:
    if not iso:
        return "--:--:--"
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC).strftime("%H:%M:%S")


def describe(frame: dict[str, Any]) -> str:
    """One line for a live event."""
    kind = frame.get("type", "?")
    if kind == "booking.updated":
        return f"{kind:<18} {frame.get('previous') or '…'} → {frame.get('status')}"
    if kind == "vehicle.position":
        eta = frame.get("minutes_to_arrival")
        eta_text = f", {eta:.1f} min to go" if isinstance(eta, int | float) else ""
        return (f"{kind:<18} {float(frame.get('lat') or 0):.5f},{float(frame.get('lng') or 0):.5f} "
                f"{float(frame.get('speed') or 0):.0f} {frame.get('speed_unit', 'mph')}, "
                f"gear {frame.get('gear') or '?'}{eta_text}")
    if kind == "payment.updated":
        amount = frame.get("amount_cents")
        return f"{kind:<18} {frame.get('status')}" + (f" {money(int(amount))}" if amount is not None else "")
    if kind == "parking.requested":
        return f"{kind:<18} {frame.get('mode')}: {frame.get('instructions') or frame.get('reason')}"
    if kind == "subscribed":
        return f"{kind:<18} to {frame.get('booking_id')} (now {frame.get('status')})"
    if kind == "error":
        return f"{kind:<18} {json.dumps(frame.get('error'))}"
    if kind == "payment.updated" and frame.get("kind"):
        return f"{kind:<18} {frame.get('kind')} {frame.get('status')} {money(int(frame.get('amount_cents') or 0))}"
    extras = {k: v for k, v in frame.items() if k not in ("type", "booking_id", "at")}
    return f"{kind:<18} {json.dumps(extras)[:90] if extras else ''}"


# ---- live events ------------------------------------------------------------------------------------------


class LiveEvents:
    """The driver's and the host's WebSockets on one background event loop; frames land in a queue."""

    def __init__(self, url: str, users: dict[str, User]) -> None:
        self.frames: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="demo-websockets", daemon=True)
        self._thread.start()
        self._sockets: dict[str, Any] = {}
        self._pumps: list[asyncio.Task[None]] = []  # kept referenced: the loop holds tasks only weakly
        self._session: ClientSession | None = None
        future = asyncio.run_coroutine_threadsafe(self._open(url, users), self._loop)
        future.result(timeout=20)

    async def _open(self, url: str, users: dict[str, User]) -> None:
        self._session = ClientSession()
        for side, user in users.items():
            ws = await self._session.ws_connect(f"{url}/?token={user.token}", heartbeat=None)
            self._sockets[side] = ws
            self._pumps.append(asyncio.ensure_future(self._pump(side, ws)))

    async def _pump(self, side: str, ws: Any) -> None:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self.frames.put((side, json.loads(message.data)))

    def send(self, side: str, message: dict[str, Any]) -> None:
        asyncio.run_coroutine_threadsafe(self._sockets[side].send_json(message), self._loop).result(10)

    def close(self) -> None:
        async def shutdown() -> None:
            for ws in self._sockets.values():
                await ws.close()
            if self._session is not None:
                await self._session.close()

        with contextlib.suppress(Exception):  # closing is best effort: the demo's outcome is decided
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@dataclass
class _Pending:
    frame: dict[str, Any]
    sides: list[str]
    seen_at: float


@dataclass
class EventPrinter:
    """Prints each frame once, naming who got it ("driver+host" when both did)."""

    narrator: Narrator
    pending: dict[str, _Pending] = field(default_factory=dict)
    printed: set[str] = field(default_factory=set)

    def add(self, side: str, frame: dict[str, Any]) -> None:
        key = json.dumps(frame, sort_keys=True)
        if key in self.pending:
            self.pending[key].sides.append(side)
        elif key not in self.printed:
            self.pending[key] = _Pending(frame, [side], time.monotonic())

    def flush(self, *, everything: bool = False) -> list[dict[str, Any]]:
        """Print the frames whose merge window has passed; returns them, in order, to react to."""
        now = time.monotonic()
        shown = []
        for key, item in list(self.pending.items()):
            if everything or now - item.seen_at >= MERGE_WINDOW_S:
                del self.pending[key]
                self.printed.add(key)
                who = "+".join(sorted(item.sides, key=lambda s: s != "driver"))
                self.narrator.say(f"{clock_time(item.frame.get('at'))}  {who:<11} {describe(item.frame)}")
                shown.append(item.frame)
        return shown


# ---- HTTP helpers -----------------------------------------------------------------------------------------


def expect(response: requests.Response, *statuses: int, doing: str) -> Any:
    if response.status_code not in statuses:
        raise DemoFailed(f"{doing}: HTTP {response.status_code} {response.text[:300]}")
    return response.json() if "json" in response.headers.get("Content-Type", "") else None


def sign_up(urls: Urls, role: str, name: str) -> User:
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@demo.example.com"
    created = expect(requests.post(f"{urls.rest}/auth/register", timeout=15, json={
        "email": email, "password": PASSWORD, "name": name, "role": role}), 201, doing=f"registering {name}")
    tokens = expect(requests.post(f"{urls.rest}/auth/login", timeout=15, json={
        "email": email, "password": PASSWORD}), 200, doing=f"signing {name} in")
    return User(name, str(created["user_id"]), str(tokens["access_token"]))


def poll(what: str, check: Any, narrator: Narrator, timeout_s: float = 20) -> Any:
    """Call ``check`` until it returns something truthy (short polling, never a long sleep)."""
    deadline = time.monotonic() + min(timeout_s, max(narrator.remaining(), 0.1))
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise DemoFailed(f"timed out: {what}")


def virtual_now(urls: Urls) -> datetime:
    """The local cloud's clock (it may run faster than ours): the Tesla simulator runs on it."""
    state = expect(requests.get(f"{urls.tesla}/_sim/state", timeout=10), 200, doing="reading the simulator")
    return datetime.fromtimestamp(float(state["now"]), UTC)


# ---- the story --------------------------------------------------------------------------------------------


def seed_host(urls: Urls, narrator: Narrator) -> tuple[User, list[str]]:
    host = sign_up(urls, "host", "Hannah")
    narrator.say(f"Host {host.name} signs up and opens a Stripe Connect account")
    link = expect(requests.post(f"{urls.rest}/payouts/onboarding", headers=host.bearer, timeout=15), 200, 201,
                  doing="starting payout onboarding")
    # The account link is Stripe's hosted onboarding page; the fake completes it when opened.
    expect(requests.get(link["url"], timeout=15, allow_redirects=False), 200, 302, 303, doing="onboarding")

    def payable() -> bool:
        payouts = requests.get(f"{urls.rest}/payouts", headers=host.bearer, timeout=10).json()
        return bool(payouts.get("charges_enabled"))

    poll("the host's account to be enabled (account.updated webhook)", payable, narrator)
    narrator.detail("Stripe says: charges and payouts enabled")
    driveway_ids = []
    for listing in DRIVEWAYS:
        body: dict[str, Any] = {
            "title": listing.title, "description": "Off-street parking, easy to find.",
            "address": {"line1": listing.line1, "city": "Austin", "region": "TX", "postal_code": "78701",
                        "country": "US"},
            "location": {"lat": listing.lat, "lng": listing.lng}, "timezone": "America/Chicago",
            "vehicle_size": "large", "amenities": list(listing.amenities),
            "pricing": {"currency": "usd", "hourly_cents": listing.hourly_cents},
            "instant_book": True,
            "availability": {"weekly": [{"day": day, "start": "00:00", "end": "24:00"} for day in range(7)]},
        }
        created = expect(requests.post(f"{urls.rest}/driveways", json=body, headers=host.bearer, timeout=15), 201,
                         doing=f"listing {listing.title}")
        driveway_ids.append(str(created["driveway_id"]))
    narrator.say(f"{host.name} lists {len(driveway_ids)} driveways in Austin, TX, instant-book, all week")
    return host, driveway_ids


def seed_driver(urls: Urls, narrator: Narrator) -> tuple[User, dict[str, Any]]:
    # The simulated car back where it starts, downtown; the simulator's OAuth grants stay valid.
    expect(requests.post(f"{urls.tesla}/_sim/reset", json={"tokens": False}, timeout=10), 200,
           doing="resetting the Tesla simulator")
    driver = sign_up(urls, "driver", "Dev")
    narrator.say(f"Driver {driver.name} signs up and links their Tesla")
    connect = expect(requests.get(f"{urls.rest}/tesla/connect", headers=driver.bearer, timeout=15), 200,
                     doing="starting the Tesla link")
    # Tesla's authorize page (the simulator consents at once) redirects the browser to our callback.
    linked = expect(requests.get(connect["authorize_url"], timeout=15, allow_redirects=True), 200,
                    doing="linking the Tesla account")
    if not linked.get("linked"):
        raise DemoFailed(f"the Tesla account was not linked: {linked}")
    vehicles = expect(requests.get(f"{urls.rest}/vehicles", headers=driver.bearer, timeout=15), 200,
                      doing="listing vehicles")["items"]
    if not vehicles:
        raise DemoFailed("the linked Tesla account shows no vehicle")
    car = dict(vehicles[0])
    narrator.detail(f"linked: {car['display_name']} (VIN {car['vin']}), {car['state']}")
    return driver, car


def search_and_book(urls: Urls, narrator: Narrator, driver: User, car: dict[str, Any],
                    ours: list[str]) -> dict[str, Any]:
    start = (virtual_now(urls) + timedelta(minutes=5)).replace(second=0, microsecond=0)
    end = start + timedelta(hours=2)
    narrator.say(f"{driver.name} searches near W 6th St & Lavaca St from {start:%H:%M} to {end:%H:%M} UTC")
    query: dict[str, str | float] = {"lat": DESTINATION[0], "lng": DESTINATION[1], "radius_m": 3000,
                                     "start": start.isoformat(), "end": end.isoformat(), "sort": "distance"}
    found = expect(requests.get(f"{urls.rest}/search/driveways", params=query, timeout=15,
                                headers={"x-api-key": LOCAL_API_KEY}), 200,
                   doing="searching")["items"]
    # A long-running local cloud also holds earlier runs' listings: this story books today's host.
    mine = [item for item in found if item["driveway_id"] in ours]
    for item in mine:
        narrator.detail(f"{item['distance_m']:6.0f} m  {item['title']:<34} {money(item['quote']['total_cents'])}")
    if not mine:
        raise DemoFailed(f"search did not find the host's driveways (found {len(found)})")
    choice = mine[0]
    created = expect(requests.post(f"{urls.rest}/bookings", headers={**driver.bearer,
                                                                     "Idempotency-Key": str(uuid.uuid4())},
                                   timeout=20, json={"driveway_id": choice["driveway_id"], "start": start.isoformat(),
                                                     "end": end.isoformat(), "vehicle_id": car["vehicle_id"]}),
                     201, doing="booking")
    booking = created["booking"]
    narrator.say(f"{driver.name} books \"{choice['title']}\" with {car['display_name']}: "
                 f"{money(booking['price']['total_cents'])} incl. {money(booking['price']['platform_fee_cents'])} "
                 f"platform fee → {booking['status']}")
    return dict(created)


def pay(urls: Urls, narrator: Narrator, created: dict[str, Any]) -> None:
    payment = created["payment"]
    # What Stripe.js does in the driver's app: confirm with the client secret and the publishable key.
    intent = expect(requests.post(
        f"{urls.stripe}/v1/payment_intents/{payment['payment_intent_id']}/confirm",
        data={"payment_method": "pm_card_visa", "client_secret": payment["client_secret"]},
        headers={"Authorization": f"Bearer {payment['publishable_key']}"}, timeout=15), 200, doing="paying")
    narrator.say(f"Paid with pm_card_visa: the card is authorised ({intent['status']}); Stripe's webhook confirms")


@dataclass
class Story:
    """What the event loop has seen, and what the simulated driver has done."""

    booking_id: str
    vin: str
    statuses: list[str] = field(default_factory=list)
    prompted: bool = False
    departed: bool = False
    parked_at: float | None = None


def react(urls: Urls, narrator: Narrator, story: Story, frame: dict[str, Any]) -> None:
    """The simulated driver follows what their app tells them."""
    kind = frame.get("type")
    if kind == "parking.requested" and not story.prompted:
        story.prompted = True
        expect(requests.post(f"{urls.tesla}/_sim/vehicles/{story.vin}/prompt_park", timeout=10), 200,
               doing="prompting the simulated driver to park")
        narrator.detail("(the simulated driver reads the prompt and parks in the driveway)")
    if kind == "booking.updated":
        story.statuses.append(str(frame.get("status")))
        if frame.get("status") == "PARKED":
            story.parked_at = time.monotonic()


def depart_when_done(urls: Urls, narrator: Narrator, story: Story) -> None:
    # Errand run: a moment after parking (and after the capture), the driver drives off.
    if story.parked_at is not None and not story.departed and time.monotonic() - story.parked_at >= 2.0:
        story.departed = True
        expect(requests.post(f"{urls.tesla}/_sim/vehicles/{story.vin}/depart", timeout=10), 200,
               doing="driving off")
        narrator.detail("(errand done: the driver drives off)")


def live(urls: Urls, narrator: Narrator, events: LiveEvents, story: Story) -> None:
    printer = EventPrinter(narrator)
    while True:
        if narrator.remaining() <= 0:
            printer.flush(everything=True)
            raise DemoFailed(f"out of time; statuses seen: {story.statuses}")
        try:
            side, frame = events.frames.get(timeout=0.05)
        except queue.Empty:
            pass
        else:
            if frame.get("booking_id") in (None, story.booking_id):
                printer.add(side, frame)
        for shown in printer.flush():
            react(urls, narrator, story, shown)
        depart_when_done(urls, narrator, story)
        if "COMPLETED" in story.statuses and not printer.pending:
            return
        failed = FAILED_STATUSES.intersection(story.statuses)
        if failed and not printer.pending:
            raise DemoFailed(f"the booking ended {sorted(failed)[0]}, not COMPLETED")


def check_money(urls: Urls, narrator: Narrator, created: dict[str, Any], platform_before: int) -> None:
    booking, payment = created["booking"], created["payment"]
    total, fee = int(booking["price"]["total_cents"]), int(booking["price"]["platform_fee_cents"])
    intent = expect(requests.get(
        f"{urls.stripe}/v1/payment_intents/{payment['payment_intent_id']}",
        params={"client_secret": payment["client_secret"]},
        headers={"Authorization": f"Bearer {payment['publishable_key']}"}, timeout=15), 200,
        doing="reading the payment")
    balances = expect(requests.get(f"{urls.stripe}/_fake/balances", timeout=10), 200, doing="reading balances")
    account = str(intent["transfer_data"]["destination"])
    host_got = int(balances["accounts"].get(account, {}).get("usd", 0))
    platform_kept = int(balances["platform"].get("usd", 0)) - platform_before
    narrator.say("The money, at Stripe:")
    narrator.detail(f"driver charged   {money(int(intent['amount_received']))}  (expected {money(total)}, "
                    f"{intent['status']})")
    narrator.detail(f"host {account} {money(host_got)}  (expected {money(total - fee)})")
    narrator.detail(f"platform kept    {money(platform_kept)}  (expected {money(fee)})")
    problems = []
    if intent["status"] != "succeeded" or int(intent["amount_received"]) != total:
        problems.append(f"driver charged {intent['amount_received']} ({intent['status']}), expected {total}")
    if host_got != total - fee:
        problems.append(f"host received {host_got}, expected {total - fee}")
    if platform_kept != fee:
        problems.append(f"platform kept {platform_kept}, expected {fee}")
    if problems:
        raise DemoFailed("the money does not add up: " + "; ".join(problems))
    payouts = expect(requests.post(f"{urls.stripe}/_fake/accounts/{account}/payouts", json={}, timeout=10), 200,
                     doing="running the host's payout")
    paid_out = sum(int(p["amount"]) for p in payouts) if isinstance(payouts, list) else host_got
    narrator.say(f"Stripe's payout run: {money(paid_out)} on its way to the host's bank")


def run(urls: Urls, narrator: Narrator) -> None:
    host, driveways = seed_host(urls, narrator)
    driver, car = seed_driver(urls, narrator)
    balances = expect(requests.get(f"{urls.stripe}/_fake/balances", timeout=10), 200, doing="reading balances")
    platform_before = int(balances["platform"].get("usd", 0))
    events = LiveEvents(urls.websocket, {"driver": driver, "host": host})
    try:
        created = search_and_book(urls, narrator, driver, car, driveways)
        booking_id = str(created["booking"]["booking_id"])
        for side in ("driver", "host"):
            events.send(side, {"action": "subscribe", "booking_id": booking_id})
        pay(urls, narrator, created)
        narrator.say("Live events (clock time of the local cloud, who received it):")
        live(urls, narrator, events, Story(booking_id, str(car["vin"])))
    finally:
        events.close()
    history = expect(requests.get(f"{urls.rest}/bookings/{booking_id}/status", headers=driver.bearer, timeout=15),
                     200, doing="reading the booking's history")
    narrator.say("History: " + " → ".join(h["status"] for h in history["history"]))
    check_money(urls, narrator, created, platform_before)


# ---- the local cloud: the running one, or one of our own ----------------------------------------------------


def answers(health_url: str) -> bool:
    try:
        return requests.get(health_url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


@contextlib.contextmanager
def local_cloud(args: argparse.Namespace, narrator: Narrator) -> Iterator[Urls]:
    urls = Urls(args.api.rstrip("/"), args.ws.rstrip("/"), args.stripe.rstrip("/"), args.tesla.rstrip("/"))
    if not args.in_process and answers(f"{urls.rest}/health"):
        narrator.say(f"Using the local cloud running at {urls.rest}")
        yield urls
        return
    # Handlers log every request at INFO; the narration is the point here.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from driveway_hub.observability import logger as handler_logger
    from local.clock import VirtualClock
    from local.cloud import LocalCloud, Ports

    handler_logger.setLevel(logging.WARNING)
    narrator.say(f"No local cloud at {urls.rest}: starting one in this process (clock x{args.time_scale:g})")
    with LocalCloud(clock=VirtualClock.scaled(args.time_scale), ports=Ports.ephemeral()) as cloud:
        started = cloud.urls
        narrator.detail(f"REST {started['rest']}  WebSocket {started['websocket']}  "
                        f"Stripe {started['stripe']}  Tesla {started['tesla']}")
        yield Urls(str(started["rest"]), str(started["websocket"]), str(started["stripe"]), str(started["tesla"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", default=DEFAULT_URLS["rest"], help="REST base URL, stage included")
    parser.add_argument("--ws", default=DEFAULT_URLS["websocket"], help="WebSocket URL")
    parser.add_argument("--stripe", default=DEFAULT_URLS["stripe"], help="fake Stripe base URL")
    parser.add_argument("--tesla", default=DEFAULT_URLS["tesla"], help="Tesla simulator base URL")
    parser.add_argument("--in-process", action="store_true", help="always start a local cloud in this process")
    parser.add_argument("--time-scale", type=float, default=IN_PROCESS_TIME_SCALE,
                        help="clock speed of an in-process local cloud (virtual seconds per real second)")
    args = parser.parse_args(argv)
    narrator = Narrator()
    print("Driveway-Hub demo: a booking's whole life, from search to payout", flush=True)
    try:
        with local_cloud(args, narrator) as urls:
            run(urls, narrator)
    except DemoFailed as exc:
        print(f"\nDEMO FAILED after {narrator.elapsed():.1f}s: {exc}", flush=True)
        return 1
    except Exception as exc:  # noqa: BLE001 - any crash is a failed demo, reported plainly
        print(f"\nDEMO FAILED after {narrator.elapsed():.1f}s: {type(exc).__name__}: {exc}", flush=True)
        return 1
    if narrator.elapsed() > BUDGET_S:
        print(f"\nDEMO FAILED: it took {narrator.elapsed():.1f}s, more than {BUDGET_S:.0f}s", flush=True)
        return 1
    print(f"\nDEMO OK in {narrator.elapsed():.1f}s: the booking COMPLETED and the money adds up.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
