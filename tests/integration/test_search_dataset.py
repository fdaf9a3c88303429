"""Radius search against brute force on the synthetic metro, through the real repository in moto.

The full acceptance run (10,000 driveways, 200 searches of 0.5-5 km) is ``bench/search_bench.py``, part
of ``make bench`` (~3 minutes with ``local.moto_dynamodb``). This test loads the same 10,000 driveways
and runs the first 50 searches of the same plan (~1 minute), demanding exactly the brute-force set
every time, at most 16 Queries, and the amplification targets.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from bench.search_bench import Report, brute_force, metro_driveways, percentile, query_plan, run
from driveway_hub.config import env_for, settings_from_env
from driveway_hub.data.base import bind_models
from driveway_hub.data.bookings import BookingRepository
from driveway_hub.data.driveways import DynamoCalendarReader, DynamoDrivewayStore
from driveway_hub.domain import availability
from driveway_hub.domain.driveways import SearchQuery, search_driveways
from driveway_hub.domain.geo import MAX_RANGES
from local.moto_dynamodb import patched_dynamodb
from local.resources import create_tables

pytestmark = pytest.mark.integration

METRO = 10_000
SEARCHES = 50


@pytest.fixture(scope="module")
def store() -> Iterator[DynamoDrivewayStore]:
    with pytest.MonkeyPatch.context() as env, mock_aws(), patched_dynamodb():
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1"}.items():
            env.setenv(name, value)
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        create_tables(boto3.client("dynamodb", region_name="us-east-1"), "local")
        bind_models(settings_from_env(env_for("local")))  # rebinds: the endpoint differs from any earlier one
        yield DynamoDrivewayStore()


@pytest.fixture(scope="module")
def report(store: DynamoDrivewayStore) -> Report:
    started = time.perf_counter()
    result = run(store, METRO, SEARCHES)
    print(f"\nsearch dataset: {METRO} driveways loaded in {result.load_seconds:.1f} s, {SEARCHES} searches in "
          f"{result.search_seconds:.1f} s, total {time.perf_counter() - started:.1f} s")
    for row in result.bands():
        print(row)
    return result


def test_every_search_returns_exactly_the_brute_force_set(report: Report) -> None:
    wrong = [m for m in report.measures if not m.exact]
    assert not wrong, wrong
    assert sum(m.found for m in report.measures) > 1_000  # the searches really hit the metro


def test_no_search_needs_more_than_the_query_budget(report: Report) -> None:
    assert max(m.queries for m in report.measures) <= MAX_RANGES


def test_read_amplification_stays_within_the_targets(report: Report) -> None:
    amplification = [m.items_read / m.found for m in report.measures if m.found]
    assert statistics.median(amplification) <= 2.0
    assert percentile(amplification, 95) <= 3.0


def test_search_with_window_and_filters_equals_brute_force_with_the_same_rules(store: DynamoDrivewayStore) -> None:
    """The whole search (filters, availability, pages) against a brute force over the same metro."""
    driveways = {d.driveway_id: d for d in metro_driveways(METRO)}
    points = [(d.driveway_id, d.lat, d.lng) for d in driveways.values()]
    calendars = DynamoCalendarReader(BookingRepository("us-east-1"))
    # Tuesday 2026-12-01 from 18:00 in Austin: the synthetic listings are open 07:00-22:00, so none is free
    # until 23:00, and every one that passes the filters is free until 21:00.
    start = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    for lat, lng, radius_m in query_plan(4, seed=99):
        for end in (start + timedelta(hours=5), start + timedelta(hours=3)):
            query = SearchQuery.parse(lat=lat, lng=lng, radius_m=radius_m, start=start, end=end,
                                      amenities="covered", vehicle_size="standard", limit=25)
            got: list[str] = []
            while True:
                page = search_driveways(store, calendars, query, platform_fee_bps=1_500)
                got += [item["driveway_id"] for item in page.items]
                if page.next_cursor is None:
                    break
                query = SearchQuery.parse(lat=lat, lng=lng, radius_m=radius_m, start=start, end=end,
                                          amenities="covered", vehicle_size="standard", limit=25,
                                          cursor=page.next_cursor)
            expected = {
                i for i in brute_force(points, lat, lng, radius_m)
                if "covered" in driveways[i].amenities and driveways[i].vehicle_size in ("standard", "large")
                and availability.is_free(driveways[i].weekly, driveways[i].timezone, (), (), start, end)
            }
            assert len(got) == len(set(got))  # pages neither repeat...
            assert set(got) == expected  # ...nor skip
            if end == start + timedelta(hours=5):
                assert got == []
