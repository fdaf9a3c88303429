"""A bounded load generator on loopback against the local cloud: searches/s and booking creations/s.

Two timed phases of ``--duration`` seconds each (default 20) with ``--workers`` concurrent clients
(default 8), each on its own HTTP connection pool:

* search: ``GET /search/driveways`` (partner API key) around the dataset's centre, 2 km radius;
* create: ``POST /bookings`` as one driver per worker, each booking on a distinct (driveway, window), so
  every creation can succeed; they are all cancelled after the timed window (not measured).

Dataset: one host onboarded to payouts with ``--driveways`` (default 20) listings within ~1.5 km of one
point. Reported per phase: count, throughput, p50/p95 latency, errors (non-2xx or exceptions).

    .venv/bin/python -m bench.load                   # starts its own local cloud (ephemeral ports, real clock)
    .venv/bin/python -m bench.load --duration 5 --workers 4

What it measures is our code path in one process (gateway, authorizer, handlers, moto), on this
machine's cores: the figures compare versions of our code, not AWS's capacity. Handler logs go to a
temporary file while the load runs so the report stays readable.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from bench.dynamodb_work import output_to

if TYPE_CHECKING:
    from local.cloud import LocalCloud

CENTRE = (30.2747, -97.7404)  # downtown Austin, where the local cloud's simulated car is parked
SEARCH_RADIUS_M = 2_000
PASSWORD = "Correct-Horse-42"
DEFAULT_DURATION_S = 20.0
DEFAULT_WORKERS = 8
DEFAULT_DRIVEWAYS = 20


# ---- measuring ----------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    workers: int
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, latency_s: float, error: str | None) -> None:
        with self.lock:
            self.latencies_s.append(latency_s)
            if error is not None:
                self.errors += 1
                if len(self.error_samples) < 5:
                    self.error_samples.append(error)

    def to_dict(self) -> dict[str, Any]:
        ms = sorted(x * 1000 for x in self.latencies_s)
        return {
            "workers": self.workers, "seconds": round(self.seconds, 2), "count": len(ms),
            "throughput_per_s": round(len(ms) / self.seconds, 2) if self.seconds else 0.0,
            "p50_ms": round(statistics.median(ms), 1) if ms else math.nan,
            "p95_ms": round(_percentile(ms, 95), 1) if ms else math.nan,
            "errors": self.errors, "error_samples": list(self.error_samples),
        }


def _percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def _timed_phase(phase: Phase, duration_s: float, work: Callable[[int, int, requests.Session], str | None]) -> None:
    """``phase.workers`` threads call ``work(worker, iteration, session)`` until the duration is up; each call
    answers None (success) or an error description."""
    stop_at = time.monotonic() + duration_s
    barrier = threading.Barrier(phase.workers + 1)

    def loop(worker: int) -> None:
        with requests.Session() as session:
            barrier.wait()
            iteration = 0
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    error = work(worker, iteration, session)
                except Exception as exc:  # noqa: BLE001 - a failed request is a data point, not a crash
                    error = f"{type(exc).__name__}: {exc}"
                phase.record(time.perf_counter() - started, error)
                iteration += 1

    threads = [threading.Thread(target=loop, args=(w,), daemon=True) for w in range(phase.workers)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    phase.seconds = time.perf_counter() - started


# ---- the dataset --------------------------------------------------------------------------------------


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _user(api: str, role: str) -> str:
    email = f"load-{role}-{uuid.uuid4().hex[:10]}@example.com"
    created = requests.post(f"{api}/auth/register", timeout=20,
                            json={"email": email, "password": PASSWORD, "name": f"Load {role}", "role": role})
    created.raise_for_status()
    login = requests.post(f"{api}/auth/login", json={"email": email, "password": PASSWORD}, timeout=20)
    login.raise_for_status()
    return str(login.json()["access_token"])


def _onboard(api: str, host: str) -> None:
    link = requests.post(f"{api}/payouts/onboarding", headers=_auth(host), timeout=20)
    link.raise_for_status()
    requests.get(link.json()["url"], timeout=20, allow_redirects=False)  # the host completes Stripe's page
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if requests.get(f"{api}/payouts", headers=_auth(host), timeout=20).json().get("charges_enabled"):
            return
        time.sleep(0.05)
    raise RuntimeError("the load host never became payable")


def _driveways(api: str, host: str, count: int) -> list[str]:
    """``count`` listings on rings around the centre (within ~1.5 km), open all week."""
    ids = []
    for i in range(count):
        ring_m = 250 + 250 * (i % 5)
        angle = 2 * math.pi * i / count
        lat = CENTRE[0] + ring_m * math.cos(angle) / 111_320
        lng = CENTRE[1] + ring_m * math.sin(angle) / (111_320 * math.cos(math.radians(CENTRE[0])))
        body: dict[str, Any] = {
            "title": f"Load driveway {i}", "description": "Load generator listing.",
            "address": {"line1": f"{100 + i} Congress Ave", "city": "Austin", "region": "TX", "postal_code": "78701",
                        "country": "US"},
            "location": {"lat": round(lat, 6), "lng": round(lng, 6)}, "timezone": "America/Chicago",
            "vehicle_size": "large", "amenities": [], "pricing": {"currency": "usd", "hourly_cents": 400 + 25 * i},
            "instant_book": True,
            "availability": {"weekly": [{"day": d, "start": "00:00", "end": "24:00"} for d in range(7)]},
        }
        created = requests.post(f"{api}/driveways", json=body, headers=_auth(host), timeout=20)
        created.raise_for_status()
        ids.append(str(created.json()["driveway_id"]))
    return ids


# ---- the phases ---------------------------------------------------------------------------------------


def _search_phase(api: str, api_key: str, workers: int, duration_s: float) -> Phase:
    phase = Phase("search", workers)
    offsets = [(0.0, 0.0), (0.003, 0.0), (0.0, 0.003), (-0.003, 0.0), (0.0, -0.003)]

    def search(worker: int, iteration: int, session: requests.Session) -> str | None:
        d_lat, d_lng = offsets[(worker + iteration) % len(offsets)]
        response = session.get(f"{api}/search/driveways", headers={"x-api-key": api_key}, timeout=30,
                               params={"lat": CENTRE[0] + d_lat, "lng": CENTRE[1] + d_lng, "radius_m": SEARCH_RADIUS_M})
        if response.status_code != 200:
            return f"{response.status_code} {response.text[:200]}"
        return None if response.json().get("items") else "200 with no results"

    _timed_phase(phase, duration_s, search)
    return phase


def _create_phase(api: str, drivers: list[str], listings: list[str], base: datetime, duration_s: float,
                  created: list[tuple[str, str]]) -> Phase:
    """Booking n (over all workers) takes driveway n mod D and the n div D-th 3-hour window: all distinct."""
    phase = Phase("create_booking", len(drivers))
    workers = len(drivers)

    def create(worker: int, iteration: int, session: requests.Session) -> str | None:
        n = iteration * workers + worker
        start = base + timedelta(hours=3 * (n // len(listings)))
        body = {"driveway_id": listings[n % len(listings)], "start": start.isoformat(),
                "end": (start + timedelta(hours=2)).isoformat()}
        response = session.post(f"{api}/bookings", json=body, headers=_auth(drivers[worker]), timeout=30)
        if response.status_code != 201:
            return f"{response.status_code} {response.text[:200]}"
        created.append((drivers[worker], str(response.json()["booking"]["booking_id"])))
        return None

    _timed_phase(phase, duration_s, create)
    return phase


def _cancel_all(api: str, created: list[tuple[str, str]], workers: int) -> int:
    """Cancel every booking the create phase made (outside the timed window); answers how many failed."""
    failed = 0
    lock = threading.Lock()
    queue = list(created)

    def loop() -> None:
        nonlocal failed
        with requests.Session() as session:
            while True:
                with lock:
                    if not queue:
                        return
                    token, booking_id = queue.pop()
                response = session.post(f"{api}/bookings/{booking_id}/cancel", headers=_auth(token), timeout=30,
                                        json={"reason": "load generator"})
                if response.status_code != 200:
                    with lock:
                        failed += 1

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failed




@contextlib.contextmanager
def _cloud(cloud: LocalCloud | None) -> Iterator[LocalCloud]:
    if cloud is not None:
        yield cloud
        return
    from local.clock import VirtualClock
    from local.cloud import LocalCloud, Ports

    with LocalCloud(clock=VirtualClock.real(), ports=Ports.ephemeral()) as started:
        yield started


def run(cloud: LocalCloud | None = None, *, duration_s: float = DEFAULT_DURATION_S, workers: int = DEFAULT_WORKERS,
        driveways: int = DEFAULT_DRIVEWAYS, log_path: str | None = None) -> dict[str, Any]:
    """Both phases against ``cloud`` (or a local cloud started here with the real clock); the figures as a dict."""
    from local.cloud import LOCAL_API_KEY

    if duration_s <= 0 or workers < 1 or driveways < 1:
        raise ValueError("duration, workers and driveways must be positive")
    log_path = log_path or str(Path(tempfile.gettempdir()) / "driveway-hub-load.log")
    wall = time.perf_counter()
    with output_to(log_path), _cloud(cloud) as running:
        api = str(running.urls["rest"])
        setup = time.perf_counter()
        host = _user(api, "host")
        _onboard(api, host)
        listings = _driveways(api, host, driveways)
        drivers = [_user(api, "driver") for _ in range(workers)]
        setup_s = time.perf_counter() - setup
        search = _search_phase(api, str(running.urls.get("api_key") or LOCAL_API_KEY), workers, duration_s)
        # Far enough ahead to be charged at once (automatic capture), on whole hours.
        base = (running.clock.now() + timedelta(days=8)).replace(minute=0, second=0, microsecond=0)
        created: list[tuple[str, str]] = []
        create = _create_phase(api, drivers, listings, base, duration_s, created)
        cancel_started = time.perf_counter()
        cancel_failed = _cancel_all(api, created, workers)
        cancel_s = time.perf_counter() - cancel_started
    return {
        "search": search.to_dict(), "create_booking": create.to_dict(),
        "dataset": {"driveways": driveways, "drivers": workers, "radius_m": SEARCH_RADIUS_M,
                    "setup_seconds": round(setup_s, 1)},
        "cleanup": {"cancelled": len(created) - cancel_failed, "cancel_failed": cancel_failed,
                    "seconds": round(cancel_s, 1)},
        "machine": {"cpus": os.cpu_count()}, "wall_seconds": round(time.perf_counter() - wall, 1),
        "log": log_path,
    }


# ---- printing -----------------------------------------------------------------------------------------


def lines(result: dict[str, Any]) -> list[str]:
    """The report section for ``run()``'s result."""
    search, create = result["search"], result["create_booking"]
    header = (f"7. LOAD (bench/load.py: {search['workers']} workers, {search['seconds']:.0f} s per phase, "
              f"{result['dataset']['driveways']} driveways, loopback, in-process local cloud, "
              f"{result['machine']['cpus']} CPUs)")
    rows = [(name, p) for name, p in (("search", search), ("create booking", create))]
    widths = (16, 7, 9, 9, 9, 7)
    head = ("phase", "count", "per s", "p50 ms", "p95 ms", "errors")
    out = [header, "  " + "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths,
                                                                                                        strict=True)))]
    out.append("  " + "  ".join("-" * w for w in widths))
    for name, p in rows:
        cells = (name, f"{p['count']:,}", f"{p['throughput_per_s']:.1f}", f"{p['p50_ms']:.0f}", f"{p['p95_ms']:.0f}",
                 f"{p['errors']:,}")
        out.append("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                    for i, (c, w) in enumerate(zip(cells, widths, strict=True))))
    for name, p in rows:
        for sample in p["error_samples"]:
            out.append(f"  {name} error: {sample}")
    cleanup = result["cleanup"]
    out.append(f"  bookings cancelled after the timed window: {cleanup['cancelled']} in {cleanup['seconds']} s"
               + (f" ({cleanup['cancel_failed']} failed)" if cleanup["cancel_failed"] else "")
               + f"; dataset setup {result['dataset']['setup_seconds']} s; handler logs: {result['log']}")
    out.append("  Our code path only (gateway + authorizer + handler + moto in one Python process): compare "
               "versions, not AWS.")
    return out


def section(**kwargs: Any) -> list[str]:
    """``run(**kwargs)`` and its report lines (for ``python -m bench``)."""
    return lines(run(**kwargs))


def print_report(result: dict[str, Any]) -> None:
    print("\n".join(lines(result)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S, help="seconds per phase")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="concurrent clients")
    parser.add_argument("--driveways", type=int, default=DEFAULT_DRIVEWAYS, help="listings around the centre")
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    args = parser.parse_args(argv)
    result = run(duration_s=args.duration, workers=args.workers, driveways=args.driveways)
    print_report(result)
    if args.json:
        import json

        print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
