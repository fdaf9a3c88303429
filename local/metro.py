"""A synthetic metro of driveway locations around Austin, TX: dense downtown, central neighbourhoods and
five suburbs. Deterministic for a seed. Used by the geo tests, the search dataset benchmark and as seed
data, so every figure about search is about the same city."""

from __future__ import annotations

import math
import random

AUSTIN = (30.2672, -97.7431)
METRO_SEED = 2026

# (weight, centre, sigma in metres)
METRO_CLUSTERS: tuple[tuple[float, tuple[float, float], float], ...] = (
    (0.25, AUSTIN, 1_200.0),
    (0.40, (30.2849, -97.7341), 5_000.0),
    (0.07, (30.5083, -97.6789), 2_500.0),  # Round Rock
    (0.07, (30.5052, -97.8203), 2_500.0),  # Cedar Park
    (0.07, (30.4394, -97.6200), 2_500.0),  # Pflugerville
    (0.07, (30.1605, -97.7900), 2_500.0),  # south Austin
    (0.07, (30.3000, -97.9300), 2_500.0),  # Bee Cave
)


def metro_point(rng: random.Random) -> tuple[float, float]:
    (_, (lat, lng), sigma), = rng.choices(METRO_CLUSTERS, weights=[w for w, _, _ in METRO_CLUSTERS])
    north, east = rng.gauss(0.0, sigma), rng.gauss(0.0, sigma)
    return lat + north / 111_195.0, lng + east / (111_195.0 * math.cos(math.radians(lat)))


def synthetic_metro(n: int, seed: int = METRO_SEED) -> list[tuple[float, float]]:
    """``n`` driveway locations (lat, lng) clustered around Austin, TX; denser downtown. Deterministic."""
    rng = random.Random(seed)  # noqa: S311 - test data, not security
    return [metro_point(rng) for _ in range(n)]
