"""Radius search on a synthetic metro, through the real repository, in moto's DynamoDB.

Builds ``METRO_SIZE`` driveways around Austin with a fixed seed (``DynamoDrivewayStore.add_many``), runs
``QUERIES`` random searches (radius 0.5-5 km, centres drawn from the same metro distribution) with
``DynamoDrivewayStore.find_near`` - parallel Queries on ``by_geo``, then the exact distance filter - and
checks every answer against brute force. Prints, per radius band: Query calls p50/max, items read
p50/p95, read amplification (items read / items within the radius) p50/p95, and timings.

    .venv/bin/python -m bench.search_bench            # 10,000 driveways, 200 searches
    .venv/bin/python -m bench.search_bench 2000 60    # smaller

Counts are deterministic (fixed seeds); the timings are moto's (with ``local.moto_dynamodb``'s per-partition
cache), not DynamoDB's, so they say nothing about production latency.
"""

from __future__ import annotations

import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from driveway_hub.data.driveways import DynamoDrivewayStore, to_item
from driveway_hub.domain.availability import WeeklyWindow
from driveway_hub.domain.driveways import AMENITIES, VEHICLE_SIZES, Address, Driveway
from driveway_hub.domain.geo import MAX_RANGES, haversine_m
from driveway_hub.domain.pricing import Rates
from local.metro import METRO_SEED, metro_point, synthetic_metro

METRO_SIZE = 10_000
QUERIES = 200
QUERY_SEED = 4
RADIUS_RANGE_M = (500.0, 5_000.0)
BANDS_M: tuple[tuple[float, float], ...] = ((500, 1_000), (1_000, 2_000), (2_000, 3_000), (3_000, 5_000))

# The city every search figure is about (local/metro.py).


# ---- listings on those points -------------------------------------------------------------------------

_CREATED = datetime(2026, 1, 1, tzinfo=UTC)
_EVERY_DAY = tuple(WeeklyWindow(day, 7 * 60, 22 * 60) for day in range(7))


def metro_driveways(n: int = METRO_SIZE, seed: int = METRO_SEED) -> list[Driveway]:
    """Realistic listings (sizes, amenities, prices vary) at the metro's points; ids ``dw-00000``..."""
    rng = random.Random(seed + 1)
    amenities = sorted(AMENITIES)
    driveways = []
    for i, (lat, lng) in enumerate(synthetic_metro(n, seed)):
        hourly = rng.randrange(200, 1_200, 25)
        driveways.append(Driveway(
            driveway_id=f"dw-{i:05d}", host_id=f"host-{i % 997:03d}", status="active",
            title=f"Driveway {i}", description="Synthetic listing for the search benchmark.",
            address=Address(f"{i} Example St", "Austin", "TX", "78701", "US"),
            lat=lat, lng=lng, timezone="America/Chicago", vehicle_size=rng.choice(VEHICLE_SIZES),
            amenities=tuple(sorted(rng.sample(amenities, rng.randint(0, 3)))),
            rates=Rates("usd", hourly, hourly * 6 if rng.random() < 0.7 else None),
            instant_book=rng.random() < 0.6, weekly=_EVERY_DAY, geofence_radius_m=30,
            created_at=_CREATED, updated_at=_CREATED,
        ))
    return driveways


def query_plan(count: int = QUERIES, seed: int = QUERY_SEED) -> list[tuple[float, float, float]]:
    """``count`` searches (lat, lng, radius_m): centres from the metro's distribution, radius 0.5-5 km."""
    rng = random.Random(seed)
    return [(*metro_point(rng), rng.uniform(*RADIUS_RANGE_M)) for _ in range(count)]


# ---- measuring ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    radius_m: float
    queries: int
    items_read: int
    found: int
    exact: bool


@dataclass
class Report:
    metro_size: int
    load_seconds: float
    search_seconds: float
    measures: list[Measure] = field(default_factory=list)
    item_bytes: int = 0

    @property
    def all_exact(self) -> bool:
        return all(m.exact for m in self.measures)

    def bands(self) -> list[dict[str, Any]]:
        rows = []
        for lo, hi in BANDS_M:
            band = [m for m in self.measures if lo <= m.radius_m < hi or (hi == BANDS_M[-1][1] and m.radius_m == hi)]
            if not band:
                continue
            amplification = [m.items_read / m.found for m in band if m.found]
            rows.append({
                "band_km": f"{lo / 1000:g}-{hi / 1000:g}",
                "searches": len(band),
                "queries_p50": statistics.median(m.queries for m in band),
                "queries_max": max(m.queries for m in band),
                "items_p50": statistics.median(m.items_read for m in band),
                "items_p95": percentile([m.items_read for m in band], 95),
                "found_p50": statistics.median(m.found for m in band),
                "amp_p50": statistics.median(amplification) if amplification else math.nan,
                "amp_p95": percentile(amplification, 95) if amplification else math.nan,
                # Eventually consistent Query: 0.5 RCU per 4 KB read, rounded up per Query page.
                "rcu_p50": statistics.median(
                    0.5 * math.ceil(m.items_read * self.item_bytes / 4096 / max(m.queries, 1)) * m.queries
                    for m in band
                ),
            })
        return rows


def percentile(values: list[float] | list[int], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: a figure that some search really had)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


def brute_force(points: list[tuple[str, float, float]], lat: float, lng: float, radius_m: float) -> set[str]:
    return {i for i, a, b in points if haversine_m(lat, lng, a, b) <= radius_m}


def item_size_bytes(driveway: Driveway) -> int:
    """DynamoDB's item size: attribute names plus values (numbers ~ digits/2 + 1), close enough for RCU."""
    def size(value: dict[str, Any]) -> int:
        (kind, inner), = value.items()
        if kind == "S":
            return len(inner.encode())
        if kind == "N":
            return len(inner.lstrip("-").replace(".", "")) // 2 + 2
        if kind == "BOOL" or kind == "NULL":
            return 1
        if kind == "L":
            return 3 + sum(size(v) + 1 for v in inner)
        if kind == "M":
            return 3 + sum(len(k.encode()) + size(v) + 1 for k, v in inner.items())
        return len(str(inner))

    raw = to_item(driveway).serialize()
    return sum(len(name.encode()) + size(value) for name, value in raw.items())


def run(store: DynamoDrivewayStore, metro_size: int = METRO_SIZE, queries: int = QUERIES,
        progress: Callable[[str], None] | None = None) -> Report:
    """Load the metro through ``store`` and measure ``queries`` searches (models must be bound)."""
    driveways = metro_driveways(metro_size)
    started = time.perf_counter()
    store.add_many(driveways)
    report = Report(metro_size, time.perf_counter() - started, 0.0, item_bytes=item_size_bytes(driveways[0]))
    points = [(d.driveway_id, d.lat, d.lng) for d in driveways]
    started = time.perf_counter()
    for n, (lat, lng, radius_m) in enumerate(query_plan(queries), start=1):
        nearby = store.find_near(lat, lng, radius_m)
        got = {d.driveway_id for d, _ in nearby.matches}
        report.measures.append(Measure(radius_m, nearby.queries, nearby.items_read, len(got),
                                       got == brute_force(points, lat, lng, radius_m)))
        if progress and n % 50 == 0:
            progress(f"{n} searches, {time.perf_counter() - started:.1f} s")
    report.search_seconds = time.perf_counter() - started
    return report


@contextmanager
def moto_tables() -> Iterator[None]:
    """Every table of the stage in an in-process moto, the models bound to them."""
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    import boto3
    from moto import mock_aws

    from driveway_hub.config import env_for, settings_from_env
    from driveway_hub.data.base import bind_models
    from local.moto_dynamodb import patched_dynamodb
    from local.resources import create_tables

    with mock_aws(), patched_dynamodb():
        create_tables(boto3.client("dynamodb", region_name="us-east-1"), "local")
        bind_models(settings_from_env(env_for("local")))
        yield


def print_report(report: Report) -> None:
    print(f"metro: {report.metro_size} driveways, item ~{report.item_bytes} B; load {report.load_seconds:.1f} s; "
          f"{len(report.measures)} searches in {report.search_seconds:.1f} s "
          f"({1000 * report.search_seconds / max(len(report.measures), 1):.0f} ms each in moto)")
    print(f"exact vs brute force: {'all' if report.all_exact else 'NOT ALL'}; Query budget {MAX_RANGES}")
    header = ("radius km", "n", "Query p50/max", "items read p50/p95", "found p50", "amplif. p50/p95", "RCU p50")
    print(" | ".join(header))
    for row in report.bands():
        print(" | ".join((
            row["band_km"], str(row["searches"]), f"{row['queries_p50']:g}/{row['queries_max']}",
            f"{row['items_p50']:g}/{row['items_p95']:g}", f"{row['found_p50']:g}",
            f"{row['amp_p50']:.2f}/{row['amp_p95']:.2f}", f"{row['rcu_p50']:g}",
        )))


def main(argv: list[str]) -> int:
    size = int(argv[0]) if argv else METRO_SIZE
    count = int(argv[1]) if len(argv) > 1 else QUERIES
    with moto_tables():
        report = run(DynamoDrivewayStore(), size, count, progress=lambda line: print(line, flush=True))
    print_report(report)
    return 0 if report.all_exact else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
