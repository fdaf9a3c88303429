"""Small-scale geometry for the simulated car, and reading a navigation target out of shared text."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

EARTH_RADIUS_M = 6_371_008.8


class LatLng(NamedTuple):
    lat: float
    lng: float


def distance_m(a: LatLng, b: LatLng) -> float:
    """Great-circle (haversine) distance."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi, dlmb = phi2 - phi1, math.radians(b.lng - a.lng)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bearing_deg(a: LatLng, b: LatLng) -> float:
    """Initial bearing from a to b, degrees clockwise from north in [0, 360)."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dlmb = math.radians(b.lng - a.lng)
    y = math.sin(dlmb) * math.cos(phi2)
    x = math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(dlmb)
    return math.degrees(math.atan2(y, x)) % 360.0


def destination(origin: LatLng, bearing: float, meters: float) -> LatLng:
    """The point ``meters`` away from ``origin`` along a great circle starting at ``bearing``."""
    delta = meters / EARTH_RADIUS_M
    theta = math.radians(bearing)
    phi1, lmb1 = math.radians(origin.lat), math.radians(origin.lng)
    phi2 = math.asin(math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta))
    lmb2 = lmb1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi1), math.cos(delta) - math.sin(phi1) * math.sin(phi2)
    )
    return LatLng(math.degrees(phi2), (math.degrees(lmb2) + 540.0) % 360.0 - 180.0)


def offset(origin: LatLng, north_m: float, east_m: float) -> LatLng:
    """Shift by a few metres (flat-earth approximation, fine below a kilometre)."""
    dlat = math.degrees(north_m / EARTH_RADIUS_M)
    dlng = math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(origin.lat))))
    return LatLng(origin.lat + dlat, origin.lng + dlng)


def interpolate(a: LatLng, b: LatLng, fraction: float) -> LatLng:
    """Linear in degrees: routes are made of short north-south / east-west legs, where that is exact enough."""
    return LatLng(a.lat + (b.lat - a.lat) * fraction, a.lng + (b.lng - a.lng) * fraction)


# --- navigation text -----------------------------------------------------------------------------

_COORDS = re.compile(r"\s*(-?\d{1,3}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*")
_AT_COORDS = re.compile(r"@(-?\d{1,3}(?:\.\d+)?),(-?\d{1,3}(?:\.\d+)?)")
_URL = re.compile(r"(?:https?|geo):\S+", re.IGNORECASE)
_QUERY_KEYS = ("q", "ll", "daddr", "destination", "query")
_NOT_WORD = re.compile(r"[^\w]+")


def normalize_address(text: str) -> str:
    """Case, punctuation and spacing do not matter when matching a registered address."""
    return " ".join(_NOT_WORD.sub(" ", text.casefold()).split())


def parse_coordinates(text: str) -> LatLng | None:
    """``"lat,lng"`` (with optional spaces) within valid ranges, else None."""
    match = _COORDS.fullmatch(text)
    if match is None:
        return None
    lat, lng = float(match.group(1)), float(match.group(2))
    if -90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0:
        return LatLng(lat, lng)
    return None


def resolve_destination(text: str, addresses: Mapping[str, LatLng]) -> LatLng | None:
    """Where a ``navigation_request`` text points, as the car's navigation would find it.

    Understands plain ``"lat,lng"``, maps URLs carrying coordinates (``?q=lat,lng``, ``?ll=``,
    ``?daddr=``, ``/@lat,lng,zoom``), ``geo:lat,lng``, and free-text addresses looked up in
    ``addresses`` (keys already normalised with ``normalize_address``). Shared text from a phone
    often holds a place name, an address line and a link, so each line and each link is tried.
    """
    for candidate in _candidates(text):
        found = _resolve_one(candidate, addresses)
        if found is not None:
            return found
    return None


def _candidates(text: str) -> Iterator[str]:
    yield text
    yield from _URL.findall(text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        yield from lines


def _resolve_one(text: str, addresses: Mapping[str, LatLng]) -> LatLng | None:
    coords = parse_coordinates(text)
    if coords is not None:
        return coords
    stripped = text.strip()
    if stripped.lower().startswith("geo:"):
        return parse_coordinates(stripped[4:].split("?", 1)[0])
    if stripped.lower().startswith(("http://", "https://")):
        return _resolve_url(stripped, addresses)
    return addresses.get(normalize_address(stripped))


def _resolve_url(url: str, addresses: Mapping[str, LatLng]) -> LatLng | None:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    for key in _QUERY_KEYS:
        for value in query.get(key, []):
            found = parse_coordinates(value) or addresses.get(normalize_address(value))
            if found is not None:
                return found
    at = _AT_COORDS.search(parts.path)
    if at is not None:
        return parse_coordinates(f"{at.group(1)},{at.group(2)}")
    return None
