"""A driveway's geofence and the geometry the telemetry detector needs. Pure functions.

Inside means within ``radius_m + accuracy_m`` of the driveway point (haversine): a consumer GPS fix is
good to a few metres, so a car parked on the driveway must never look outside because of noise.
Departure asks for the opposite with the same margin, and for several fixes in a row (the detector).

A fix is *plausible* after the previous one if the car could have driven between them: a jump faster
than ``MAX_PLAUSIBLE_MPS`` is a GPS glitch (multipath, a tunnel exit), not a movement.
"""

from __future__ import annotations

from dataclasses import dataclass

from driveway_hub.domain.geo import haversine_m

DEFAULT_RADIUS_M = 40.0
GPS_ACCURACY_M = 10.0
# 70 m/s is 250 km/h: faster than any car on a city street, slower than any GPS jump worth catching.
MAX_PLAUSIBLE_MPS = 70.0


@dataclass(frozen=True)
class Geofence:
    lat: float
    lng: float
    radius_m: float = DEFAULT_RADIUS_M

    def distance_m(self, lat: float, lng: float) -> float:
        return haversine_m(self.lat, self.lng, lat, lng)

    def contains(self, lat: float, lng: float, accuracy_m: float = GPS_ACCURACY_M) -> bool:
        return self.distance_m(lat, lng) <= self.radius_m + accuracy_m

    def to_dict(self) -> dict[str, float]:
        return {"lat": self.lat, "lng": self.lng, "radius_m": self.radius_m}

    @classmethod
    def from_dict(cls, data: dict[str, float]) -> Geofence:
        return cls(float(data["lat"]), float(data["lng"]), float(data.get("radius_m", DEFAULT_RADIUS_M)))


def plausible(lat1: float, lng1: float, t1: float, lat2: float, lng2: float, t2: float,
              max_mps: float = MAX_PLAUSIBLE_MPS, accuracy_m: float = GPS_ACCURACY_M) -> bool:
    """Could a car have moved from fix 1 to fix 2 (times in seconds)? Noise of ``accuracy_m`` on each
    fix is allowed for, so two fixes of a parked car are always plausible."""
    distance = haversine_m(lat1, lng1, lat2, lng2) - 2 * accuracy_m
    if distance <= 0:
        return True
    elapsed = abs(t2 - t1)
    return elapsed > 0 and distance / elapsed <= max_mps


def maps_url(lat: float, lng: float) -> str:
    """A maps link to the exact point: what the car's navigation resolves most reliably."""
    return f"https://maps.google.com/?q={lat:.6f},{lng:.6f}"
