"""H3 radius-search planning: exact key ranges, a conservative cover, and the read cost on a synthetic metro.

Run with ``-s`` to see the measured tables (ranges per search, read amplification per radius).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import h3
import h3.api.basic_int as h3i
import pytest

from driveway_hub.domain import geo
from driveway_hub.domain.geo import (
    FINE_RES,
    MAX_RANGES,
    PARENT_RES,
    GeoError,
    KeyRange,
    cell_keys,
    cells_to_key_ranges,
    cover_cells,
    fine_range,
    haversine_m,
    plan_radius_query,
)
from local.metro import AUSTIN, METRO_SEED, metro_point, synthetic_metro

# The city every search figure is about (local/metro.py).


@dataclass
class SimulatedGeoIndex:
    """The ``by_geo`` GSI in memory: partition -> items sorted by sort key, read with BETWEEN ranges."""

    items: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    locations: list[tuple[float, float]] = field(default_factory=list)

    @classmethod
    def build(cls, locations: list[tuple[float, float]]) -> SimulatedGeoIndex:
        index = cls(locations=locations)
        for item_id, (lat, lng) in enumerate(locations):
            parent, fine = cell_keys(lat, lng)
            index.items.setdefault(parent, []).append((fine, item_id))
        for part in index.items.values():
            part.sort()
        return index

    def query(self, key_range: KeyRange) -> list[int]:
        part = self.items.get(key_range.parent, [])
        lo = bisect.bisect_left(part, (key_range.lo, -1))
        hi = bisect.bisect_right(part, (key_range.hi, len(self.locations)))
        return [item_id for _, item_id in part[lo:hi]]

    def search(self, lat: float, lng: float, radius_m: float) -> tuple[set[int], int, int]:
        """(ids within the radius, items read, Query calls) - what the search handler will do."""
        ranges = plan_radius_query(lat, lng, radius_m)
        read = [item_id for r in ranges for item_id in self.query(r)]
        found = {i for i in read if haversine_m(lat, lng, *self.locations[i]) <= radius_m}
        return found, len(read), len(ranges)

    def brute_force(self, lat: float, lng: float, radius_m: float) -> set[int]:
        return {i for i, (a, b) in enumerate(self.locations) if haversine_m(lat, lng, a, b) <= radius_m}


@pytest.fixture(scope="module")
def metro_index() -> SimulatedGeoIndex:
    return SimulatedGeoIndex.build(synthetic_metro(10_000, METRO_SEED))


def _percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (deterministic, no interpolation)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _destination(lat: float, lng: float, bearing_deg: float, distance_m: float) -> tuple[float, float]:
    """The point ``distance_m`` from (lat, lng) along a great circle (the inverse of haversine_m)."""
    d = distance_m / geo.EARTH_RADIUS_M
    p1, l1, b = math.radians(lat), math.radians(lng), math.radians(bearing_deg)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), (math.degrees(l2) + 540.0) % 360.0 - 180.0


def _covered(ranges: list[KeyRange], fine_cell: int) -> bool:
    parent = h3i.cell_to_parent(fine_cell, PARENT_RES)
    return any(r.covers(parent, fine_cell) for r in ranges)


# --- keys and validation --------------------------------------------------------------------------------


def test_cell_keys_are_the_fine_cell_and_its_parent_as_integers() -> None:
    parent, fine = cell_keys(*AUSTIN)

    assert fine == h3.str_to_int(h3.latlng_to_cell(*AUSTIN, FINE_RES))
    assert parent == h3.str_to_int(h3.cell_to_parent(h3.int_to_str(fine), PARENT_RES))


@pytest.mark.parametrize(
    ("args", "field_name"),
    [
        ((90.5, 0.0, 100.0), "lat"),
        ((-91.0, 0.0, 100.0), "lat"),
        ((math.nan, 0.0, 100.0), "lat"),
        ((True, 0.0, 100.0), "lat"),
        ((0.0, 180.01, 100.0), "lng"),
        ((0.0, math.inf, 100.0), "lng"),
        ((0.0, 0.0, 0.0), "radius_m"),
        ((0.0, 0.0, -5.0), "radius_m"),
        ((0.0, 0.0, 10_000.5), "radius_m"),
        ((0.0, 0.0, math.nan), "radius_m"),
    ],
)
def test_invalid_search_input_names_the_field(args: tuple[float, float, float], field_name: str) -> None:
    with pytest.raises(GeoError) as excinfo:
        plan_radius_query(*args)

    assert excinfo.value.field == field_name


def test_the_limits_themselves_are_valid() -> None:
    for lat, lng in [(90.0, 180.0), (-90.0, -180.0), (0.0, 0.0)]:
        assert plan_radius_query(lat, lng, geo.MAX_RADIUS_M)
    assert plan_radius_query(*AUSTIN, 0.001)


def test_haversine_agrees_with_h3() -> None:
    rng = random.Random(1)
    for _ in range(200):
        a = (rng.uniform(-89, 89), rng.uniform(-180, 180))
        b = _destination(*a, rng.uniform(0, 360), rng.uniform(0, 20_000))
        assert haversine_m(*a, *b) == pytest.approx(h3.great_circle_distance(a, b, "m"), rel=1e-9, abs=1e-6)


# --- H3 integer order: descendants are one contiguous block ---------------------------------------------


@pytest.mark.parametrize("res", [5, 6, 7, 8, 9, 10])
def test_fine_descendants_are_exactly_the_fine_cells_between_min_and_max_child(res: int) -> None:
    # Given a hexagon and a pentagon at this resolution
    for cell in (h3i.latlng_to_cell(*AUSTIN, res), h3i.get_pentagons(res)[0]):
        # When
        lo, hi = fine_range(cell)
        children = sorted(h3i.cell_to_children(cell, FINE_RES))
        neighbours_children = {
            c for n in h3i.grid_disk(cell, 1) if n != cell for c in h3i.cell_to_children(n, FINE_RES)
        }

        # Then the endpoints are the centre child and the max child, and nothing foreign lies between
        assert lo == h3i.cell_to_center_child(cell, FINE_RES) == children[0]
        assert hi == children[-1]
        assert len(children) == h3i.cell_to_children_size(cell, FINE_RES)
        assert not any(lo <= c <= hi for c in neighbours_children)


@pytest.mark.parametrize("res", [0, 1, 2, 3, 4])
def test_fine_range_of_coarse_cells_ends_at_the_all_sixes_child(res: int) -> None:
    cell = h3i.latlng_to_cell(*AUSTIN, res)

    lo, hi = fine_range(cell)

    assert lo == h3i.cell_to_center_child(cell, FINE_RES)
    assert hi == h3i.construct_cell(*h3i.deconstruct_cell(cell), *[6] * (FINE_RES - res))


def test_fine_range_rejects_cells_finer_than_the_stored_resolution() -> None:
    with pytest.raises(GeoError):
        fine_range(h3i.latlng_to_cell(*AUSTIN, FINE_RES + 1))


# --- key ranges from cells ------------------------------------------------------------------------------


def test_all_seven_children_merge_into_their_parents_range() -> None:
    parent7 = h3i.latlng_to_cell(*AUSTIN, 7)

    ranges = cells_to_key_ranges(h3i.cell_to_children(parent7, 8))

    assert ranges == [KeyRange(h3i.cell_to_parent(parent7, PARENT_RES), *fine_range(parent7))]


def test_consecutive_siblings_merge_and_a_gap_splits() -> None:
    parent7 = h3i.latlng_to_cell(*AUSTIN, 7)
    kids = sorted(h3i.cell_to_children(parent7, 8))  # digit order 0..6

    ranges = cells_to_key_ranges([kids[0], kids[1], kids[2], kids[4], kids[5]])

    partition = h3i.cell_to_parent(parent7, PARENT_RES)
    assert ranges == [
        KeyRange(partition, fine_range(kids[0])[0], fine_range(kids[2])[1]),
        KeyRange(partition, fine_range(kids[4])[0], fine_range(kids[5])[1]),
    ]


def test_a_cell_coarser_than_the_partition_is_split_into_partition_cells() -> None:
    res4 = h3i.latlng_to_cell(*AUSTIN, 4)

    ranges = cells_to_key_ranges([res4])

    partitions = sorted(h3i.cell_to_children(res4, PARENT_RES))
    assert ranges == [KeyRange(p, *fine_range(p)) for p in partitions]
    assert len(ranges) == 49


def test_plan_is_sorted_and_ranges_do_not_overlap() -> None:
    ranges = plan_radius_query(*AUSTIN, 4_000)

    assert ranges == sorted(ranges)
    for a, b in itertools.pairwise(ranges):
        assert a.parent < b.parent or a.hi < b.lo


def test_the_query_budget_only_closes_gaps_inside_a_partition() -> None:
    exact = plan_radius_query(*AUSTIN, 1_000, max_ranges=10_000)
    budgeted = plan_radius_query(*AUSTIN, 1_000, max_ranges=4)

    assert len(exact) > MAX_RANGES >= len(plan_radius_query(*AUSTIN, 1_000))
    assert len(budgeted) == max(4, len({r.parent for r in exact}))
    # every exact range is inside one budgeted range of the same partition
    for r in exact:
        assert any(b.parent == r.parent and b.lo <= r.lo and r.hi <= b.hi for b in budgeted)


# --- the cover is conservative --------------------------------------------------------------------------


def _query_centres(rng: random.Random) -> Callable[[], tuple[float, float]]:
    """Mostly the metro, plus anywhere on Earth, high latitudes, the antimeridian and an H3 pentagon."""
    pentagon = h3i.cell_to_latlng(h3i.get_pentagons(5)[0])
    specials = [pentagon, (89.95, 10.0), (-89.9, 170.0), (0.0, 179.999), (64.0, -179.99), (-33.87, 151.21)]

    def pick() -> tuple[float, float]:
        u = rng.random()
        if u < 0.5:
            return metro_point(rng)
        if u < 0.8:
            return rng.uniform(-85, 85), rng.uniform(-180, 180)
        lat, lng = rng.choice(specials)
        return _destination(lat, lng, rng.uniform(0, 360), rng.uniform(0, 3_000))

    return pick


def test_every_point_within_the_radius_is_in_some_range() -> None:
    # Given 200 searches and 10 points each just inside their circle (2,000 samples, fixed seed)
    rng = random.Random(42)
    pick_centre = _query_centres(rng)
    samples = 0
    for _ in range(200):
        lat, lng = pick_centre()
        radius = rng.choice([rng.uniform(1, 500), rng.uniform(500, 3_000), rng.uniform(3_000, 10_000)])
        ranges = plan_radius_query(lat, lng, radius)
        for _ in range(10):
            point = _destination(lat, lng, rng.uniform(0, 360), radius * rng.uniform(0.97, 1.0))
            if haversine_m(lat, lng, *point) > radius:
                continue  # rounding put it a hair outside: not a point we owe
            # Then its fine cell is read by the plan
            assert _covered(ranges, h3i.latlng_to_cell(*point, FINE_RES)), (lat, lng, radius, point)
            samples += 1
    assert samples > 1_900


def _min_distance_to_cell_m(lat: float, lng: float, cell: int) -> float:
    """Distance from (lat, lng) to the nearest of the cell's centre, vertices and points along its edges."""
    boundary = h3i.cell_to_boundary(cell)
    points = [h3i.cell_to_latlng(cell), *boundary]
    for (a_lat, a_lng), (b_lat, b_lng) in zip(boundary, [*boundary[1:], boundary[0]], strict=True):
        points += [(a_lat + (b_lat - a_lat) * t / 8, a_lng + (b_lng - a_lng) * t / 8) for t in range(1, 8)]
    return min(haversine_m(lat, lng, p_lat, p_lng) for p_lat, p_lng in points)


@pytest.mark.parametrize(
    ("lat", "lng", "radius"),
    [(*AUSTIN, 150.0), (30.30, -97.70, 700.0), (30.25, -97.76, 1_000.0), (59.91, 10.75, 1_500.0)],
)
def test_every_fine_cell_touching_the_circle_is_covered(lat: float, lng: float, radius: float) -> None:
    ranges = plan_radius_query(lat, lng, radius)
    origin = h3i.latlng_to_cell(lat, lng, FINE_RES)
    k = math.ceil(radius / 100) + 3  # FINE_RES centres are ~131 m apart: generous

    touching = [c for c in h3i.grid_disk(origin, k) if _min_distance_to_cell_m(lat, lng, c) <= radius]

    assert touching
    assert all(_covered(ranges, c) for c in touching)


def test_candidate_disk_is_large_enough_and_the_far_cell_shortcut_drops_nothing() -> None:
    # Recompute the cover over a much larger disk with the plain rule (no shortcut): same cells.
    rng = random.Random(7)
    pick_centre = _query_centres(rng)
    for _ in range(60):
        lat, lng = pick_centre()
        radius = rng.uniform(50, geo.MAX_RADIUS_M)
        res = geo.cover_resolution(radius)
        origin = h3i.latlng_to_cell(lat, lng, res)
        k = math.ceil(radius / (1.5 * geo._circumradius_m(origin))) + 6

        expected = {
            c
            for c in h3i.grid_disk(origin, k)
            if haversine_m(lat, lng, *h3i.cell_to_latlng(c)) <= radius + geo._KAPPA * geo._circumradius_m(c)
        }

        assert set(cover_cells(lat, lng, radius, res)) == expected


def test_descendants_stay_within_kappa_circumradii_of_their_ancestor() -> None:
    # The cover's safety margin rests on this measured bound (max seen: 1.0593).
    rng = random.Random(11)
    for res in (7, 8, 9):
        cells = [h3i.latlng_to_cell(rng.uniform(-80, 80), rng.uniform(-180, 180), res) for _ in range(15)]
        for cell in [*cells, h3i.get_pentagons(res)[3]]:
            clat, clng = h3i.cell_to_latlng(cell)
            vertices = [v for c in h3i.cell_to_children(cell, FINE_RES) for v in h3i.cell_to_boundary(c)]
            reach = max(haversine_m(clat, clng, *v) for v in vertices)
            assert reach <= 1.07 * geo._circumradius_m(cell) < geo._KAPPA * geo._circumradius_m(cell)


# --- cost on a synthetic metro --------------------------------------------------------------------------


def test_ranges_per_search_by_radius(metro_index: SimulatedGeoIndex) -> None:
    rng = random.Random(3)
    print("\nradius_m  ranges p50/p95/max  partitions max  amplification p50/p95  (60 searches each)")
    for radius in (500, 1_000, 2_000, 5_000, 10_000):
        counts, partitions, amps = [], [], []
        for _ in range(60):
            lat, lng = metro_point(rng)
            ranges = plan_radius_query(lat, lng, radius)
            found, read, _ = metro_index.search(lat, lng, radius)
            counts.append(len(ranges))
            partitions.append(len({r.parent for r in ranges}))
            if found:
                amps.append(read / len(found))
        p50, p95 = _percentile(amps, 0.5), _percentile(amps, 0.95)
        print(
            f"{radius:>8}  {_percentile(counts, 0.5):>3}/{_percentile(counts, 0.95):>2}/{max(counts):>2}"
            f"          {max(partitions):>2}            {p50:.2f}/{p95:.2f}"
        )
        # More than the budget only when the circle touches more partitions than that (10 km).
        assert all(c <= max(MAX_RANGES, p) for c, p in zip(counts, partitions, strict=True))
        if radius <= 5_000:
            assert max(counts) <= MAX_RANGES
            assert p50 <= 2.0 and p95 <= 3.0


_BANDS = (("0.5-1 km", 1_000), ("1-2 km", 2_000), ("2-3 km", 3_000), ("3-5 km", 5_001))


def test_metro_search_matches_brute_force_within_the_read_budget(metro_index: SimulatedGeoIndex) -> None:
    # Given 10,000 driveways and 200 searches of 0.5-5 km centred where driveways are (fixed seeds)
    rng = random.Random(METRO_SEED + 1)
    bands: dict[str, list[tuple[float, int]]] = {name: [] for name, _ in _BANDS}
    empty = 0
    for _ in range(200):
        lat, lng = metro_point(rng)
        radius = rng.uniform(500, 5_000)

        # When
        found, read, queries = metro_index.search(lat, lng, radius)

        # Then the index finds exactly what a full scan finds, within the Query budget
        assert found == metro_index.brute_force(lat, lng, radius)
        assert queries <= MAX_RANGES
        band = next(name for name, upper in _BANDS if radius < upper)
        if found:
            bands[band].append((read / len(found), queries))
        else:
            empty += 1

    print(f"\nband      searches  amplification p50/p95  queries p50/max   ({empty} searches found nothing)")
    for band, rows in bands.items():
        amps, queries_per = [a for a, _ in rows], [q for _, q in rows]
        p50, p95 = _percentile(amps, 0.5), _percentile(amps, 0.95)
        queries_p50 = _percentile(queries_per, 0.5)
        print(f"{band:<9} {len(rows):>8}  {p50:.2f}/{p95:.2f}              {queries_p50:>2}/{max(queries_per):>2}")
        assert p50 <= 2.0 and p95 <= 3.0


def test_wide_searches_plan_fewer_ranges_to_keep_queries_free_for_continuation_pages() -> None:
    from driveway_hub.domain.geo import PAGE_RESERVE_BY_RADIUS, range_budget

    assert range_budget(500) == range_budget(3_000) == MAX_RANGES
    assert range_budget(3_001) == range_budget(5_000) == MAX_RANGES - PAGE_RESERVE_BY_RADIUS[-1][1] < MAX_RANGES
    assert len(plan_radius_query(*AUSTIN, 4_000)) <= range_budget(4_000)
    with pytest.raises(GeoError):
        range_budget(50_000)
