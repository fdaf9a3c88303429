"""Concurrency and injected faults through the running local cloud (issue #8).

N drivers loop search → book → pay (as Stripe.js does) → cancel for a fixed time against one host's
driveways, with windows drawn from a small set so bookings really contend for slots. Then a consistency
sweep over the bookings table and the fake Stripe's PaymentIntents (a Scan: fine in a test):

* no 5xx from our API (with faults: only the documented upstream 502/503 in the error envelope);
* no double booking: a sampler scans the bookings table during the run and, per driveway, live
  bookings never overlap; the calendars table agrees at the end;
* every PaymentIntent ends in a state consistent with its booking, and no hold or unpaid intent is left
  behind for a booking that is over (no orphan holds).

The clock runs at real speed (as in test_booking_cancellation.py): bookings are days ahead, so nothing
of the lifecycle but payment happens while the test runs.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
import requests

from driveway_hub.config import get_settings
from driveway_hub.domain.booking_status import LIVE
from driveway_hub.payments.runtime import run_reconciler
from local.clock import VirtualClock
from local.cloud import LOCAL_API_KEY, SIM_VIN, LocalCloud, Ports
from local.fault_injection import dynamodb_throttling, stripe_fault_rate, tesla_fault_rate
from tests.integration.conftest import register_and_login

pytestmark = pytest.mark.integration

CLIENTS = 100
RUN_SECONDS = 30.0
DRIVEWAYS = 4
SLOTS = 6  # windows per driveway: 100 clients on 4 x 6 slots collide often
CENTRE = (30.2747, -97.7404)
UPSTREAM_CODES = frozenset({"upstream_unavailable", "payments_unavailable", "tesla_unavailable",
                            "vehicle_asleep", "vehicle_unavailable", "tesla_rate_limited"})
LIVE_NAMES = frozenset(s.value for s in LIVE)
# 100 clients share 2 cores and one moto (about 15 requests/s in all), so a request can queue for tens of
# seconds behind the others. The client waits long enough that only a hang fails it, and a client whose
# request raises is recorded (before, its thread died and the run passed without it).
REQUEST_TIMEOUT_S = 120


def _auth(user: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['access_token']}"}


def _onboard(api: str, host: dict[str, str]) -> None:
    """As test_booking_lifecycle._onboard: a Connect account, onboarding completed, charges enabled."""
    link = requests.post(f"{api}/payouts/onboarding", headers=_auth(host), timeout=10)
    assert link.status_code in (200, 201), link.text
    assert requests.get(link.json()["url"], timeout=10, allow_redirects=False).status_code in (200, 302, 303)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if requests.get(f"{api}/payouts", headers=_auth(host), timeout=10).json().get("charges_enabled"):
            return
        time.sleep(0.05)
    raise AssertionError("host never became payable")


@pytest.fixture(scope="module")
def local_cloud() -> Iterator[LocalCloud]:
    with LocalCloud(clock=VirtualClock.real(), ports=Ports.ephemeral()) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def listings(api: str, host: dict[str, str]) -> list[str]:
    _onboard(api, host)
    ids = []
    for i in range(DRIVEWAYS):
        body: dict[str, Any] = {
            "title": f"Resilience driveway {i}", "description": "Load and fault tests.",
            "address": {"line1": f"{1100 + i} Congress Ave", "city": "Austin", "region": "TX",
                        "postal_code": "78701", "country": "US"},
            "location": {"lat": CENTRE[0] + 0.001 * i, "lng": CENTRE[1]}, "timezone": "America/Chicago",
            "vehicle_size": "large", "amenities": [], "pricing": {"currency": "usd", "hourly_cents": 500},
            "instant_book": True,
            "availability": {"weekly": [{"day": d, "start": "00:00", "end": "24:00"} for d in range(7)]},
        }
        created = requests.post(f"{api}/driveways", json=body, headers=_auth(host), timeout=10)
        assert created.status_code == 201, created.text
        ids.append(str(created.json()["driveway_id"]))
    return ids


@pytest.fixture(scope="module")
def drivers(api: str) -> list[dict[str, str]]:
    return [register_and_login(api, "driver") for _ in range(CLIENTS)]


@pytest.fixture(scope="module")
def tesla_driver(api: str, drivers: list[dict[str, str]]) -> dict[str, str]:
    """The first driver links the local cloud's simulated Tesla; the clients poll its car's status."""
    driver = drivers[0]
    connect = requests.get(f"{api}/tesla/connect", headers=_auth(driver), timeout=30)
    assert connect.status_code == 200, connect.text
    callback = requests.get(connect.json()["authorize_url"], timeout=30, allow_redirects=True)
    assert callback.status_code == 200 and callback.json()["linked"], callback.text
    vehicles = requests.get(f"{api}/vehicles", headers=_auth(driver), timeout=30).json()["items"]
    return {**driver, "vehicle_id": str(next(v["vehicle_id"] for v in vehicles if v["vin"] == SIM_VIN))}


# ---- the load -----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    statuses: Counter[str] = field(default_factory=Counter)  # "create_booking 201", ...
    server_errors: list[tuple[str, int, str]] = field(default_factory=list)
    booking_ids: list[str] = field(default_factory=list)
    uncancelled: list[str] = field(default_factory=list)
    client_errors: list[str] = field(default_factory=list)
    slowest_s: float = 0.0
    overlaps: list[Any] = field(default_factory=list)
    samples: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, label: str, response: requests.Response) -> None:
        with self.lock:
            self.statuses[f"{label} {response.status_code}"] += 1
            if response.status_code >= 500:
                self.server_errors.append((label, response.status_code, response.text[:300]))


def _call(outcome: Outcome, label: str, method: str, url: str, **kwargs: Any) -> requests.Response:
    started = time.monotonic()
    response = requests.request(method, url, timeout=REQUEST_TIMEOUT_S, **kwargs)
    with outcome.lock:
        outcome.slowest_s = max(outcome.slowest_s, time.monotonic() - started)
    outcome.note(label, response)
    return response


def _cancel(outcome: Outcome, api: str, driver: dict[str, str], booking_id: str) -> bool:
    """Cancel until our API says it is done (an upstream 503 is retried, as the app would)."""
    for _ in range(8):
        response = _call(outcome, "cancel_booking", "POST", f"{api}/bookings/{booking_id}/cancel",
                         headers=_auth(driver), json={"reason": "resilience test"})
        if response.status_code == 200:
            return True
        if response.status_code == 409 and response.json().get("error", {}).get("code") == "invalid_state":
            return True  # already over (expired, failed): nothing to cancel
        time.sleep(0.2)
    return False


def _client(outcome: Outcome, *args: Any) -> None:
    """One driver's loop; whatever it raises (a request that timed out) is an error of the run."""
    try:
        _drive(outcome, *args)
    except Exception as exc:  # noqa: BLE001 - recorded and asserted on in check()
        with outcome.lock:
            outcome.client_errors.append(f"{type(exc).__name__}: {exc}"[:300])


def _drive(outcome: Outcome, local_cloud: LocalCloud, api: str, driver: dict[str, str], listings: list[str],
           base: datetime, seed: int, stop_at: float, tesla: dict[str, str]) -> None:
    rng = random.Random(seed)
    stripe_url = local_cloud.urls["stripe"]
    while time.monotonic() < stop_at:
        if rng.random() < 0.5:  # the linked driver's app shows where the car is (Tesla Fleet API behind it)
            _call(outcome, "vehicle_status", "GET", f"{api}/vehicles/{tesla['vehicle_id']}/status",
                  headers=_auth(tesla))
        _call(outcome, "search", "GET", f"{api}/search/driveways", headers={"x-api-key": LOCAL_API_KEY},
              params={"lat": CENTRE[0], "lng": CENTRE[1], "radius_m": 2000})
        driveway = rng.choice(listings)
        # Near (a hold: manual capture) or far (charged now: automatic capture) windows.
        day = base + timedelta(days=rng.choice((2, 8)))
        start = day + timedelta(hours=3 * rng.randrange(SLOTS), minutes=rng.choice((0, 30, 60, 90)))
        created = _call(outcome, "create_booking", "POST", f"{api}/bookings", headers=_auth(driver), json={
            "driveway_id": driveway, "start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()})
        if created.status_code != 201:
            continue
        body = created.json()
        booking_id = body["booking"]["booking_id"]
        with outcome.lock:
            outcome.booking_ids.append(booking_id)
        plan = rng.random()
        if plan < 0.8:  # pay the way Stripe.js does; the fake Stripe may fail it (its own 5xx: not ours)
            payment = body["payment"]
            requests.post(f"{stripe_url}/v1/payment_intents/{payment['payment_intent_id']}/confirm",
                          timeout=REQUEST_TIMEOUT_S,
                          data={"payment_method": "pm_card_visa", "client_secret": payment["client_secret"]},
                          headers={"Authorization": f"Bearer {payment['publishable_key']}"})
        if plan < 0.5:  # wait a little for the webhook; otherwise cancel at once (races the webhook)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                status = _call(outcome, "booking_status", "GET", f"{api}/bookings/{booking_id}/status",
                               headers=_auth(driver))
                if status.status_code == 200 and status.json().get("status") != "PENDING_PAYMENT":
                    break
                time.sleep(0.1)
        if not _cancel(outcome, api, driver, booking_id):
            with outcome.lock:
                outcome.uncancelled.append(booking_id)


def _scan(local_cloud: LocalCloud, table: str) -> list[dict[str, Any]]:
    dynamodb = local_cloud.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _bookings(local_cloud: LocalCloud) -> list[dict[str, str]]:
    rows = []
    for item in _scan(local_cloud, get_settings().tables.bookings):
        refund = item.get("details", {}).get("M", {}).get("refund", {}).get("M", {})
        rows.append({k: item[k]["S"] for k in ("booking_id", "driveway_id", "start_at", "end_at", "status")}
                    | {"payment_intent_id": item.get("payment_intent_id", {}).get("S", ""),
                       "refund_cents": refund.get("amount_cents", {}).get("N", ""),
                       "refund_status": refund.get("status", {}).get("S", "")})
    return rows


def _history(local_cloud: LocalCloud, booking_id: str) -> list[str]:
    """The booking's status changes, for a failure message."""
    items = local_cloud.client("dynamodb").query(
        TableName=get_settings().tables.booking_history, KeyConditionExpression="booking_id = :b",
        ExpressionAttributeValues={":b": {"S": booking_id}}, ConsistentRead=True)["Items"]
    return [" ".join(str(next(iter(value.values()))) for name, value in sorted(item.items()) if name != "booking_id")
            for item in items]


def _live_overlaps(rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    by_driveway: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        if row["status"] in LIVE_NAMES:
            by_driveway.setdefault(row["driveway_id"], []).append(row)
    clashes = []
    for live in by_driveway.values():
        live.sort(key=lambda r: datetime.fromisoformat(r["start_at"]))
        for a, b in pairwise(live):
            if datetime.fromisoformat(b["start_at"]) < datetime.fromisoformat(a["end_at"]):
                clashes.append((a["booking_id"], b["booking_id"]))
    return clashes


def _sampler(local_cloud: LocalCloud, stop: threading.Event, outcome: Outcome) -> None:
    """While the clients run: the live bookings of a driveway never overlap (each Scan is one page here)."""
    while not stop.wait(0.3):
        try:
            clashes = _live_overlaps(_bookings(local_cloud))
        except Exception:  # noqa: BLE001 - a throttled sampler Scan is not the system's fault
            continue
        with outcome.lock:
            outcome.samples += 1
            outcome.overlaps += clashes


def run_load(local_cloud: LocalCloud, api: str, drivers: list[dict[str, str]], listings: list[str],
             tesla: dict[str, str], seconds: float, seed: int) -> Outcome:
    outcome = Outcome()
    base = (local_cloud.clock.now() + timedelta(days=1)).replace(hour=6, minute=0, second=0, microsecond=0)
    base += timedelta(days=seed % 3 * 10)  # each run books its own days
    stop_at = time.monotonic() + seconds
    stop = threading.Event()
    sampler = threading.Thread(target=_sampler, args=(local_cloud, stop, outcome), daemon=True)
    sampler.start()
    threads = [threading.Thread(target=_client, args=(outcome, local_cloud, api, d, listings, base, seed * 1000 + i,
                                                      stop_at, tesla), daemon=True)
               for i, d in enumerate(drivers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 2 * REQUEST_TIMEOUT_S)
    stop.set()
    sampler.join(timeout=10)
    assert not any(t.is_alive() for t in threads), "a client is stuck"
    return outcome


# ---- the sweep ----------------------------------------------------------------------------------------

EXPECTED_INTENT = {
    "CANCELLED": {"canceled", "succeeded"},  # released, or captured then refunded per the policy
    "EXPIRED": {"canceled"},
    "PAYMENT_FAILED": {"canceled"},
    "REJECTED": {"canceled"},
}
OPEN_INTENT = {"requires_payment_method", "requires_confirmation", "requires_action", "processing",
               "requires_capture"}


def settle(local_cloud: LocalCloud, ids: list[str], seconds: float = 90) -> list[str]:
    """Webhooks delivered and the reconciler run until money and bookings agree; answers the bookings
    still inconsistent after the last run. A run checks up to 200 due PaymentIntents one by one (every
    cancel and every final webhook puts one on the list), several seconds' work in this saturated local
    cloud, where production runs it every 15 minutes."""
    fake = local_cloud.stripe
    assert fake is not None
    deadline = time.monotonic() + seconds
    while True:
        fake.wait_for_deliveries(timeout=5)
        bad = inconsistencies(local_cloud, ids)
        if not bad or time.monotonic() > deadline:
            return bad
        started = time.monotonic()
        report = run_reconciler(get_settings(), local_cloud.clock.now())
        print(f"reconciler run: {report.to_dict()} in {time.monotonic() - started:.1f} s; before it: {bad}")


def returned_to_driver(fake: Any, intent: dict[str, Any]) -> int:
    """What the driver got back of a PaymentIntent: a released hold, the uncaptured rest, refunds."""
    if not intent.get("latest_charge"):
        return 0  # never charged nor held: nothing was taken
    if intent["status"] == "canceled":
        return int(intent["amount"])  # the hold was released
    return int(intent["amount"] - intent["amount_received"] + fake.get(intent["latest_charge"])["amount_refunded"])


def inconsistencies(local_cloud: LocalCloud, ids: list[str]) -> list[str]:
    fake = local_cloud.stripe
    assert fake is not None
    rows = {r["booking_id"]: r for r in _bookings(local_cloud)}
    problems = []
    for booking_id in ids:
        row = rows.get(booking_id)
        if row is None:
            problems.append(f"{booking_id}: booking missing")
            continue
        if row["status"] in LIVE_NAMES:
            history = _history(local_cloud, booking_id)
            problems.append(f"{booking_id}: still {row['status']} after cancel; history {history}")
            continue
        if not row["payment_intent_id"]:
            continue  # no PaymentIntent was made (Stripe down at booking time)
        intent = fake.get(row["payment_intent_id"])
        allowed = EXPECTED_INTENT.get(row["status"], {"canceled", "succeeded"})
        if intent["status"] not in allowed:
            problems.append(f"{booking_id}: {row['status']} but {intent['id']} is {intent['status']}")
        elif row["status"] == "CANCELLED" and row["refund_cents"]:
            # The driver gets back exactly the refund on record (0 included), and it is no longer pending.
            returned = returned_to_driver(fake, intent)
            if row["refund_status"] == "pending" or returned != int(row["refund_cents"]):
                problems.append(f"{booking_id}: refund {row['refund_cents']} ({row['refund_status']}) "
                                f"but {returned} of {intent['amount']} returned ({intent['status']})")
    # Orphans: every PaymentIntent of a booking of ours that is over must be released or settled.
    ours = set(ids)
    for event in fake.events("payment_intent.created"):
        pi = event["data"]["object"]
        owner = str((pi.get("metadata") or {}).get("booking_id"))
        if owner not in ours:
            continue
        current = fake.get(pi["id"])
        row = rows.get(owner)
        if current["status"] in OPEN_INTENT and (row is None or row["status"] not in LIVE_NAMES):
            problems.append(f"orphan {current['id']} {current['status']} for {owner} "
                            f"({row['status'] if row else 'no booking'})")
    return problems


def calendar_overlaps(local_cloud: LocalCloud) -> list[str]:
    """The calendars table: per driveway, the held intervals never overlap and name only live bookings."""
    rows = {r["booking_id"]: r for r in _bookings(local_cloud)}
    problems = []
    for item in _scan(local_cloud, get_settings().tables.calendars):
        spans = sorted((v["M"]["start"]["S"], v["M"]["end"]["S"], k) for k, v in item["intervals"]["M"].items())
        for (_, end_a, a), (start_b, _, b) in pairwise(spans):
            if datetime.fromisoformat(start_b) < datetime.fromisoformat(end_a):
                problems.append(f"{item['driveway_id']['S']}: {a} and {b} overlap")
        for _, _, booking_id in spans:
            if booking_id in rows and rows[booking_id]["status"] not in LIVE_NAMES:
                problems.append(f"{item['driveway_id']['S']}: {booking_id} is {rows[booking_id]['status']}")
    return problems


def check(local_cloud: LocalCloud, outcome: Outcome, *, faults: bool) -> None:
    print(f"\n{len(outcome.booking_ids)} bookings, {outcome.samples} overlap samples, "
          f"slowest request {outcome.slowest_s:.1f} s, {dict(outcome.statuses)}")
    assert not outcome.client_errors, outcome.client_errors
    assert outcome.statuses["create_booking 201"] >= 10, outcome.statuses  # the load really booked
    assert outcome.statuses["create_booking 409"] >= 1, outcome.statuses  # ... and really contended
    if faults:
        unexplained = []
        for label, status, text in outcome.server_errors:
            try:
                code = requests.models.complexjson.loads(text)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = None
            if status not in (502, 503) or code not in UPSTREAM_CODES:
                unexplained.append((label, status, text))
        assert not unexplained, unexplained
    else:
        assert not outcome.server_errors, outcome.server_errors
    assert not outcome.uncancelled, outcome.uncancelled
    assert outcome.samples >= 3
    assert not outcome.overlaps, outcome.overlaps
    assert not settle(local_cloud, outcome.booking_ids)
    assert not calendar_overlaps(local_cloud)


# ---- tests --------------------------------------------------------------------------------------------


def test_the_dynamodb_throttle_fails_a_fraction_of_calls_and_botocore_and_pynamodb_retry_them(
    local_cloud: LocalCloud,
) -> None:
    import boto3
    from botocore.config import Config

    from driveway_hub.data.base import bind_models
    from driveway_hub.data.bookings import Calendar

    settings = get_settings()
    table = settings.tables.calendars
    client = boto3.session.Session().client(
        "dynamodb", endpoint_url=local_cloud.urls["moto"], region_name="us-east-1",
        config=Config(retries={"mode": "legacy", "total_max_attempts": 10}))
    with dynamodb_throttling(0.25, seed=3, tables={table}) as throttle:
        retried = 0
        for i in range(40):
            answer = client.get_item(TableName=table, Key={"driveway_id": {"S": f"none-{i}"}})
            retried += answer["ResponseMetadata"]["RetryAttempts"]
        boto_stats = throttle.stats()

        # PynamoDB: its own botocore session per thread, standard retries (3 after the first attempt).
        bind_models(settings)
        found: list[str] = []

        def pynamo() -> None:
            for i in range(15):
                try:
                    Calendar.get(f"none-{i}")
                except Calendar.DoesNotExist:
                    found.append("answered")

        worker = threading.Thread(target=pynamo)
        worker.start()
        worker.join(timeout=60)
        stats = throttle.stats()
    assert boto_stats["requests"] > 40 and 5 <= boto_stats["throttled"] <= 25, boto_stats
    assert retried == boto_stats["throttled"]  # every throttled request was retried, every call succeeded
    assert found == ["answered"] * 15  # PynamoDB retried through its throttles too
    assert stats["requests"] - boto_stats["requests"] >= 15 and stats["throttled"] > boto_stats["throttled"], stats
    # Outside the context nothing is throttled.
    assert client.get_item(TableName=table, Key={"driveway_id": {"S": "x"}})["ResponseMetadata"]["RetryAttempts"] == 0


def test_concurrent_clients_search_book_pay_cancel_without_5xx_double_booking_or_orphan_holds(
    local_cloud: LocalCloud, api: str, drivers: list[dict[str, str]], listings: list[str],
    tesla_driver: dict[str, str],
) -> None:
    outcome = run_load(local_cloud, api, drivers, listings, tesla_driver, RUN_SECONDS, seed=1)
    check(local_cloud, outcome, faults=False)


def test_a_booking_that_cannot_be_recorded_is_undone_and_answered_503(
    local_cloud: LocalCloud, api: str, drivers: list[dict[str, str]], listings: list[str],
) -> None:
    """DynamoDB keeps throttling single-item updates on the bookings table past every retry, right after the
    PaymentIntent is made: the driver gets a 503 in the envelope, the hold is cancelled, the slot freed."""
    fake = local_cloud.stripe
    assert fake is not None
    driver = drivers[-1]
    start = (local_cloud.clock.now() + timedelta(days=40)).replace(hour=9, minute=0, second=0, microsecond=0)
    body = {"driveway_id": listings[0], "start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()}
    before = {e["data"]["object"]["id"] for e in fake.events("payment_intent.created")}
    with dynamodb_throttling(1.0, operations={"UpdateItem"}, tables={get_settings().tables.bookings}) as throttle:
        refused = requests.post(f"{api}/bookings", json=body, headers=_auth(driver), timeout=30)
    assert throttle.throttled >= 4  # the first attempt and PynamoDB's retries
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "upstream_unavailable"
    made = [e["data"]["object"]["id"] for e in fake.events("payment_intent.created")
            if e["data"]["object"]["id"] not in before]
    assert len(made) == 1 and fake.get(made[0])["status"] == "canceled"  # no hold left on the card
    row = next(r for r in _bookings(local_cloud) if r["start_at"] == body["start"] and r["driveway_id"] == listings[0])
    assert row["status"] == "PAYMENT_FAILED"
    retried = requests.post(f"{api}/bookings", json=body, headers=_auth(driver), timeout=30)
    assert retried.status_code == 201, retried.text  # the slot was released
    assert _cancel(Outcome(), api, driver, retried.json()["booking"]["booking_id"])


def test_the_same_under_stripe_tesla_and_dynamodb_faults(
    local_cloud: LocalCloud, api: str, drivers: list[dict[str, str]], listings: list[str],
    tesla_driver: dict[str, str],
) -> None:
    fake, sim = local_cloud.stripe, local_cloud.tesla
    assert fake is not None and sim is not None
    with stripe_fault_rate(fake, 0.10, seed=11, should_retry=True) as stripe_dice, \
            tesla_fault_rate(sim, 0.10, seed=12) as tesla_dice, \
            dynamodb_throttling(0.05, seed=13) as throttle:
        outcome = run_load(local_cloud, api, drivers, listings, tesla_driver, RUN_SECONDS, seed=2)
    print(f"\nstripe faults {stripe_dice.stats()['failed']}/{stripe_dice.stats()['requests']}, "
          f"tesla faults {tesla_dice.stats()['failed']}/{tesla_dice.stats()['requests']}, "
          f"dynamodb throttled {throttle.throttled}/{throttle.requests}")
    assert stripe_dice.stats()["failed"] >= 3 and tesla_dice.stats()["requests"] >= 5 and throttle.throttled >= 10
    check(local_cloud, outcome, faults=True)
