"""Radius search over the ``by_geo`` index: which DynamoDB key ranges to Query.

Every driveway stores two numbers (``h3`` v4 integer cells):

* ``geo_cell``   - its FINE_RES (10) cell, the index sort key;
* ``geo_parent`` - that cell's PARENT_RES (6) ancestor, the index partition key.

A search for "everything within ``radius_m`` of (lat, lng)" becomes a short list of
``KeyRange(parent, lo, hi)``: one ``Query`` each, ``geo_parent = parent AND geo_cell BETWEEN lo AND hi``,
followed by the exact distance filter ``haversine_m(...) <= radius_m`` on what comes back.

Why the ranges are exact: an H3 index is ``mode | res | base cell | digit 1 | ... | digit 15`` with 3 bits
per digit, most significant first, and unused digits set to 7. The FINE_RES descendants of a cell ``c``
at resolution ``r`` are therefore exactly the FINE_RES cells whose digits 1..r equal ``c``'s; in integer
order they form one contiguous block from digits ``r+1..10 = 0`` (``h3.cell_to_center_child(c, 10)``) to
digits ``r+1..10 = 6`` (the max child), and no other valid FINE_RES cell lies in between.

The plan (docs/decisions.md, "Geo search", has the measured figures):

1. cover the circle with cells at a resolution picked for the radius (``cover_resolution``), keeping
   every cell whose FINE_RES descendants could hold a point within ``radius_m`` (conservative);
2. ``compact_cells``, then split anything coarser than PARENT_RES into its PARENT_RES children;
3. one range per cell, grouped by PARENT_RES ancestor, adjacent/overlapping ranges merged;
4. if that is still more than ``MAX_RANGES`` Queries, close the smallest gaps inside a partition
   (each gap is counted in FINE_RES cells, i.e. in extra area read) until it fits.

Pure functions, no I/O. Imports only ``h3``, the stdlib and the project's error types.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import pairwise
from typing import TYPE_CHECKING, NamedTuple

from driveway_hub.errors import InvalidInput
from driveway_hub.lazy import lazy_module

if TYPE_CHECKING:
    import h3.api.basic_int as h3
else:  # imported on first use: only location checks and search need H3, not every importer (issue #8)
    h3 = lazy_module("h3.api.basic_int")

FINE_RES = 10
"""Resolution stored per driveway (~0.015 km² cells, ~76 m edge)."""

PARENT_RES = 6
"""Resolution of the GSI partition key (~36 km² cells, ~3.7 km edge). Res 5 would put most of a dense
city in one key; res 7 would need more than MAX_RANGES Queries at 5 km. See docs/decisions.md ("Geo search")."""

MAX_RADIUS_M = 10_000.0
"""The API's upper bound on ``radius_m``."""

MAX_RANGES = 16
"""Query budget per search (issue #4). Only exceeded when the circle touches more partitions than this
(10 km), or when more continuation pages are needed than ``PAGE_RESERVE_BY_RADIUS`` keeps free."""

PAGE_RESERVE_BY_RADIUS: tuple[tuple[float, int], ...] = ((3_000.0, 0), (MAX_RADIUS_M, 2))
"""(largest radius in metres, Queries kept free for continuation pages). A Query page stops at 1 MB
(~1,700 listings of ~600 B): on the 10,000-listing metro one downtown range of a 3-5 km search needed a
second page (17 calls). Planning 14 ranges there leaves room for two such pages; below 3 km no range
came near 1 MB. Measured in docs/decisions-geo.md; a denser city may need a larger reserve."""

COVER_RES_BY_RADIUS: tuple[tuple[float, int], ...] = ((1_000.0, 10), (3_000.0, 9), (MAX_RADIUS_M, 8))
"""(largest radius in metres, cover resolution), measured (docs/decisions.md, "Geo search"): one step finer reads
at most 5 % fewer items for ~3x the planning CPU; one step coarser reads 10-50 % more (3 % at 10 km)."""

EARTH_RADIUS_M = 6_371_007.180918475
"""H3's mean Earth radius, so that ``haversine_m`` agrees with ``h3.great_circle_distance``."""

# The FINE_RES descendants of a cell reach at most 1.0593x its circumradius from its centre (measured over
# ~5,000 cells at res 5-9 worldwide, pentagon neighbourhoods included: H3 children overhang their parent).
# 1.10 keeps a margin on top of that.
_KAPPA = 1.10
# Cells at grid distance n from the origin are at least n * 1.5 circumradii away on a regular grid; 1.3
# leaves room for cell-size variation and projection distortion. A larger disk only costs CPU.
_RING_STEP = 1.3

_RES_OFFSET = 52
_RES_MASK = 0xF << _RES_OFFSET
_MAX_H3_RES = 15
_RESOLUTIONS = range(FINE_RES + 1)


def _digit_offset(digit: int) -> int:
    return 3 * (_MAX_H3_RES - digit)


# For a cell at resolution r: the bits of digits r+1..FINE_RES, and the same digits all set to 6.
_DIGITS_MASK = tuple(sum(7 << _digit_offset(d) for d in range(r + 1, FINE_RES + 1)) for r in _RESOLUTIONS)
_DIGITS_SIX = tuple(sum(6 << _digit_offset(d) for d in range(r + 1, FINE_RES + 1)) for r in _RESOLUTIONS)


class GeoError(InvalidInput, ValueError):
    """Invalid geo input; ``field`` names the offending request field (400 ``invalid_request``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}", field=field)


class KeyRange(NamedTuple):
    """One Query: ``geo_parent = parent AND geo_cell BETWEEN lo AND hi`` (both ends inclusive)."""

    parent: int
    lo: int
    hi: int

    def covers(self, parent: int, fine_cell: int) -> bool:
        """True if an item with these index keys is read by this range."""
        return parent == self.parent and self.lo <= fine_cell <= self.hi


def _check_point(lat: float, lng: float) -> None:
    if isinstance(lat, bool) or not isinstance(lat, int | float) or not -90.0 <= lat <= 90.0:
        raise GeoError("lat", "must be a number between -90 and 90")
    if isinstance(lng, bool) or not isinstance(lng, int | float) or not -180.0 <= lng <= 180.0:
        raise GeoError("lng", "must be a number between -180 and 180")


def _check_radius(radius_m: float) -> None:
    # The comparisons are False for NaN, so NaN is rejected too.
    if isinstance(radius_m, bool) or not isinstance(radius_m, int | float) or not 0 < radius_m <= MAX_RADIUS_M:
        raise GeoError("radius_m", f"must be greater than 0 and at most {MAX_RADIUS_M:g}")


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (the exact filter applied to Query results)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def cell_keys(lat: float, lng: float) -> tuple[int, int]:
    """The index keys for a driveway at (lat, lng): ``(geo_parent, geo_cell)``."""
    _check_point(lat, lng)
    fine = h3.latlng_to_cell(lat, lng, FINE_RES)
    return h3.cell_to_parent(fine, PARENT_RES), fine


def fine_range(cell: int) -> tuple[int, int]:
    """``(min, max)`` FINE_RES descendants of ``cell`` as integers; every descendant lies in between.

    ``min`` is ``h3.cell_to_center_child(cell, FINE_RES)``; ``max`` has all the extra digits set to 6.
    """
    res = h3.get_resolution(cell)
    if res > FINE_RES:
        raise GeoError("cell", f"is finer than resolution {FINE_RES}")
    lo = ((cell & ~_RES_MASK) | (FINE_RES << _RES_OFFSET)) & ~_DIGITS_MASK[res]
    return lo, lo | _DIGITS_SIX[res]


def _ordinal(fine_cell: int) -> int:
    """Position of a FINE_RES cell among its PARENT_RES ancestor's descendants (base-7 digits)."""
    pos = 0
    for digit in range(PARENT_RES + 1, FINE_RES + 1):
        pos = pos * 7 + ((fine_cell >> _digit_offset(digit)) & 7)
    return pos


def cover_resolution(radius_m: float) -> int:
    """The cover resolution for a radius (``COVER_RES_BY_RADIUS``)."""
    _check_radius(radius_m)
    return next(res for limit, res in COVER_RES_BY_RADIUS if radius_m <= limit)


def _circumradius_m(cell: int) -> float:
    clat, clng = h3.cell_to_latlng(cell)
    return max(haversine_m(clat, clng, vlat, vlng) for vlat, vlng in h3.cell_to_boundary(cell))


def cover_cells(lat: float, lng: float, radius_m: float, res: int) -> list[int]:
    """Cells at ``res`` whose FINE_RES descendants may hold a point within ``radius_m`` of (lat, lng).

    Conservative by construction: a point p within the radius lies in a FINE_RES cell whose ``res``
    ancestor A has all its descendants within ``_KAPPA * circumradius(A)`` of A's centre, so by the
    triangle inequality A's centre is within ``radius_m + _KAPPA * circumradius(A)`` - which is the test.
    """
    _check_point(lat, lng)
    _check_radius(radius_m)
    if not 0 <= res <= FINE_RES:
        raise GeoError("res", f"must be between 0 and {FINE_RES}")
    origin = h3.latlng_to_cell(lat, lng, res)
    origin_circ = _circumradius_m(origin)
    # The query point is within one circumradius of the origin's centre, hence the extra 1.
    k = math.ceil((radius_m + (_KAPPA + 1.0) * origin_circ) / (_RING_STEP * origin_circ))
    # Skips the circumradius of far cells (half the CPU): within 25 rings of any cell, pentagons included,
    # circumradii differ by at most 1.23x (measured), so a cell this far out cannot pass the test.
    hopeless = radius_m + 2.0 * _KAPPA * origin_circ
    kept = []
    for cell in h3.grid_disk(origin, k):
        clat, clng = h3.cell_to_latlng(cell)
        dist = haversine_m(lat, lng, clat, clng)
        if dist <= radius_m or (dist <= hopeless and dist <= radius_m + _KAPPA * _circumradius_m(cell)):
            kept.append(cell)
    return kept


def cells_to_key_ranges(cells: Iterable[int]) -> list[KeyRange]:
    """Exact key ranges for the FINE_RES descendants of ``cells`` (any resolutions <= FINE_RES).

    Cells coarser than PARENT_RES are split into their PARENT_RES children (a Query cannot span two
    partition keys); touching or overlapping ranges within a partition are merged. Sorted.
    """
    spans: dict[int, list[tuple[int, int]]] = {}
    for cell in cells:
        res = h3.get_resolution(cell)
        parts = h3.cell_to_children(cell, PARENT_RES) if res < PARENT_RES else [cell]
        for part in parts:
            parent = part if res <= PARENT_RES else h3.cell_to_parent(part, PARENT_RES)
            spans.setdefault(parent, []).append(fine_range(part))
    ranges: list[KeyRange] = []
    for parent, items in spans.items():
        items.sort()
        cur_lo, cur_hi = items[0]
        for lo, hi in items[1:]:
            if _ordinal(lo) <= _ordinal(cur_hi) + 1:
                cur_hi = max(cur_hi, hi)
            else:
                ranges.append(KeyRange(parent, cur_lo, cur_hi))
                cur_lo, cur_hi = lo, hi
        ranges.append(KeyRange(parent, cur_lo, cur_hi))
    ranges.sort()
    return ranges


def _merge_to_budget(ranges: list[KeyRange], max_ranges: int) -> list[KeyRange]:
    """Close the smallest gaps (in FINE_RES cells) within each partition until ``max_ranges`` remain.

    Each merge removes one gap and adds that many cells of area to the read, independently of the other
    merges, so taking the smallest gaps first minimises the extra area for the budget.
    """
    excess = len(ranges) - max_ranges
    if excess <= 0:
        return ranges
    gaps = [
        (_ordinal(nxt.lo) - _ordinal(cur.hi) - 1, i)
        for i, (cur, nxt) in enumerate(pairwise(ranges))
        if cur.parent == nxt.parent
    ]
    closed = {i for _, i in sorted(gaps)[:excess]}
    merged = [ranges[0]]
    for i, nxt in enumerate(ranges[1:]):
        if i in closed:
            merged[-1] = merged[-1]._replace(hi=nxt.hi)
        else:
            merged.append(nxt)
    return merged


def range_budget(radius_m: float) -> int:
    """How many key ranges a search of ``radius_m`` may plan: the Query budget less the pages kept free."""
    _check_radius(radius_m)
    reserve = next(pages for largest, pages in PAGE_RESERVE_BY_RADIUS if radius_m <= largest)
    return MAX_RANGES - reserve


def plan_radius_query(
    lat: float,
    lng: float,
    radius_m: float,
    *,
    cover_res: int | None = None,
    max_ranges: int | None = None,
) -> list[KeyRange]:
    """Key ranges that together read every driveway within ``radius_m`` of (lat, lng), sorted.

    Parameters
    ----------
    lat, lng
        Centre, degrees.
    radius_m
        0 < radius_m <= 10,000.
    cover_res
        Override the cover resolution (benchmarks); default ``cover_resolution(radius_m)``.
    max_ranges
        Range budget; default ``range_budget(radius_m)``. More ranges are returned only when the circle
        touches more partitions.

    Raises
    ------
    GeoError
        ``field`` is ``lat``, ``lng``, ``radius_m`` or ``res``.

    Examples
    --------
    >>> ranges = plan_radius_query(30.2672, -97.7431, 1_000)
    >>> parent, fine = cell_keys(30.2690, -97.7400)
    >>> any(r.covers(parent, fine) for r in ranges)
    True
    """
    res = cover_resolution(radius_m) if cover_res is None else cover_res
    if max_ranges is None:
        max_ranges = range_budget(radius_m)
    if max_ranges < 1:
        raise GeoError("max_ranges", "must be at least 1")
    cells = cover_cells(lat, lng, radius_m, res)
    return _merge_to_budget(cells_to_key_ranges(h3.compact_cells(cells)), max_ranges)
