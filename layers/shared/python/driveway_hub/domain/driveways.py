"""Driveway listings: what a host publishes, who may change it, and how drivers find and price it.

Plain Python: no boto3, no environment, no HTTP. The service gets its collaborators as arguments:

* ``DrivewayStore`` - the listings (``driveway_hub.data.driveways.DynamoDrivewayStore``), including the
  radius search over the ``by_geo`` index;
* ``CalendarReader`` - the live booking intervals per driveway (the ``calendars`` table);
* ``PhotoStore`` - presigned uploads and object checks (S3);
* a clock and an id factory.

Rules kept here, in one place:

* **Ownership.** Only the driveway's host or an admin changes it (``require_owner``: 403 ``not_owner``).
  The route table's permission (``driveway:create`` / ``driveway:manage``) is checked before this runs.
* **Validation** names the API field in every error (``location.lat``, ``availability.weekly[1]``,
  ``pricing.currency``, ``amenities[2]``...). The HTTP edge validates the same rules first with
  pydantic; these checks keep other callers (seed data, admin tools) honest.
* **Availability** is ``availability.is_free``: weekly windows in the driveway's zone, minus its
  blackouts, minus live bookings. Search and quote use it; booking (later) uses it too.
* **Prices** are ``pricing.quote`` - never recomputed here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from driveway_hub.auth.permissions import Principal, require_owner
from driveway_hub.domain import availability, geo, pricing
from driveway_hub.domain.availability import AvailabilityError, Interval, WeeklyWindow
from driveway_hub.domain.pricing import PricingError, Rates
from driveway_hub.errors import InvalidInput, InvalidState, NotFound

# ------------------------------------------------------------------------------------------ vocabulary

VehicleSize = Literal["compact", "standard", "large"]
VEHICLE_SIZES: tuple[VehicleSize, ...] = ("compact", "standard", "large")
"""Smallest first: a driveway fits every vehicle up to its own size."""

AMENITIES: frozenset[str] = frozenset({
    "ev_charger", "covered", "gated", "lit", "security_camera", "level_surface", "wide_entrance", "access_24h",
})
"""The amenities a listing may declare (and a search may require). Unknown names are refused, so a
typo in a client never silently matches nothing."""

Status = Literal["active", "inactive"]
ACTIVE: Status = "active"
INACTIVE: Status = "inactive"

PHOTO_CONTENT_TYPES: frozenset[str] = frozenset({"image/jpeg", "image/png", "image/webp"})
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTOS = 12
"""Photos per driveway, pending uploads included: bounds the item size (every search reads whole items)."""
PHOTO_UPLOAD_TTL = timedelta(minutes=15)
"""How long a presigned upload stays valid; a pending photo not uploaded by then (+ a grace) is dropped."""
PHOTO_URL_TTL = timedelta(hours=1)

MAX_BLACKOUTS = 100
"""Live blackouts per driveway (bounded for the same reason as photos)."""
BLACKOUT_PRUNE_AFTER = timedelta(days=2)
"""Blackouts that ended this long ago can no longer affect anything bookable: dropped on the next write."""
MAX_BLACKOUT_LENGTH = timedelta(days=366)

DEFAULT_GEOFENCE_M = 30
GEOFENCE_RANGE_M = (10, 200)
"""Arrival geofence: under 10 m GPS noise would miss arrivals; over 200 m it would count the street."""

MAX_QUOTE_WINDOW = timedelta(days=366)
MAX_SEARCH_WINDOW = timedelta(days=62)
"""Search evaluates availability for every candidate: the window bounds that CPU (two months covers
the monthly product, which starts at 28 days)."""

DEFAULT_SEARCH_LIMIT = 20
MAX_SEARCH_LIMIT = 100
CALENDAR_CHUNK = 100  # BatchGetItem's limit
MIN_CALENDAR_CHUNK = 25  # most candidates are free: a little read-ahead saves round trips
MAX_PAGE_LIMIT = 100

# The no-window search price: one hour, on a fixed instant (prices depend on duration only).
_PRICE_PROBE_START = datetime(2000, 1, 3, tzinfo=UTC)

SortOrder = Literal["distance", "price"]


# -------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Address:
    line1: str
    city: str
    region: str
    postal_code: str
    country: str
    line2: str | None = None

    def to_dict(self, *, full: bool) -> dict[str, Any]:
        # Street lines are the host's home: shown to the owner (and, later, to a driver with a booking).
        public = {"city": self.city, "region": self.region, "postal_code": self.postal_code, "country": self.country}
        return {"line1": self.line1, "line2": self.line2, **public} if full else public


@dataclass(frozen=True)
class Blackout:
    blackout_id: str
    start: datetime
    end: datetime
    reason: str | None = None

    @property
    def interval(self) -> Interval:
        return Interval(self.start, self.end)

    def to_dict(self) -> dict[str, Any]:
        return {"blackout_id": self.blackout_id, "start": _iso(self.start), "end": _iso(self.end),
                "reason": self.reason}


PhotoStatus = Literal["pending", "ready"]


@dataclass(frozen=True)
class Photo:
    photo_id: str
    key: str
    content_type: str
    status: PhotoStatus
    created_at: datetime
    size_bytes: int | None = None


@dataclass(frozen=True)
class Driveway:
    """A listing as the domain sees it (the data layer maps it to and from the table item)."""

    driveway_id: str
    host_id: str
    status: Status
    title: str
    description: str
    address: Address
    lat: float
    lng: float
    timezone: str
    vehicle_size: VehicleSize
    amenities: tuple[str, ...]
    rates: Rates
    instant_book: bool
    weekly: tuple[WeeklyWindow, ...]
    geofence_radius_m: int
    created_at: datetime
    updated_at: datetime
    version: int = 1
    blackouts: tuple[Blackout, ...] = ()
    photos: tuple[Photo, ...] = ()

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    def fits(self, vehicle_size: VehicleSize) -> bool:
        return VEHICLE_SIZES.index(vehicle_size) <= VEHICLE_SIZES.index(self.vehicle_size)


@dataclass(frozen=True)
class Page:
    items: list[Driveway]
    next_cursor: str | None


@dataclass(frozen=True)
class Nearby:
    """What a radius search read: matches within the radius (with distances) and what it cost."""

    matches: list[tuple[Driveway, float]]
    queries: int
    items_read: int


@dataclass(frozen=True)
class ObjectInfo:
    size_bytes: int
    content_type: str


@dataclass(frozen=True)
class UploadTicket:
    url: str
    fields: dict[str, str]
    expires_at: datetime


# ------------------------------------------------------------------------------------------------ ports


class DrivewayStore(Protocol):
    def add(self, driveway: Driveway) -> None:
        """Create; Conflict if the id exists."""

    def get(self, driveway_id: str) -> Driveway | None:
        """Strongly consistent read; None if absent."""

    def save_listing(self, driveway: Driveway, *, expected_version: int) -> Driveway:
        """Write the listing fields (not blackouts/photos) with ``version + 1`` if the stored version is
        ``expected_version``; Conflict otherwise. Returns the stored driveway."""

    def add_blackout(self, driveway_id: str, blackout: Blackout, *, drop: Iterable[str], max_count: int) -> None:
        """Add one blackout atomically (and drop the ids in ``drop``); Conflict if the driveway holds
        ``max_count`` already or is not active."""

    def add_photo(self, driveway_id: str, photo: Photo, *, max_count: int) -> None:
        """Add a pending photo atomically; Conflict if ``max_count`` are held or the driveway is not active."""

    def mark_photo_ready(self, driveway_id: str, photo_id: str, size_bytes: int) -> None: ...

    def remove_photo(self, driveway_id: str, photo_id: str) -> None: ...

    def list_by_host(self, host_id: str, *, limit: int, cursor: str | None) -> Page:
        """Newest first; ``cursor`` is one this method returned (InvalidInput on ``cursor`` otherwise)."""

    def find_near(self, lat: float, lng: float, radius_m: float) -> Nearby:
        """Active driveways within ``radius_m`` (great circle), never by Scan."""


class CalendarReader(Protocol):
    def live_intervals(self, driveway_id: str) -> list[Interval]:
        """Live bookings of one driveway (strongly consistent)."""

    def live_intervals_many(self, driveway_ids: Sequence[str]) -> dict[str, list[Interval]]:
        """Live bookings of many driveways in few calls (eventually consistent: search only)."""


class PhotoStore(Protocol):
    def presign_upload(self, key: str, content_type: str, max_bytes: int, expires_in: timedelta) -> UploadTicket: ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def delete(self, key: str) -> None: ...

    def download_url(self, key: str, expires_in: timedelta) -> str: ...


# ------------------------------------------------------------------------------------------ validation


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _text(data: Mapping[str, Any], name: str, *, max_len: int, field_name: str | None = None,
          required: bool = True) -> str | None:
    value = data.get(name)
    label = field_name or name
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{label} must be a non-empty string", field=label)
    if len(value) > max_len:
        raise InvalidInput(f"{label} must be at most {max_len} characters", field=label)
    return value.strip()


def parse_address(raw: object) -> Address:
    if not isinstance(raw, Mapping):
        raise InvalidInput("address must be an object", field="address")
    country = _text(raw, "country", max_len=2, field_name="address.country") or ""
    if len(country) != 2 or not country.isalpha():
        raise InvalidInput("address.country must be an ISO 3166-1 alpha-2 code", field="address.country")
    return Address(
        line1=_text(raw, "line1", max_len=200, field_name="address.line1") or "",
        line2=_text(raw, "line2", max_len=200, field_name="address.line2", required=False),
        city=_text(raw, "city", max_len=100, field_name="address.city") or "",
        region=_text(raw, "region", max_len=100, field_name="address.region") or "",
        postal_code=_text(raw, "postal_code", max_len=20, field_name="address.postal_code") or "",
        country=country.upper(),
    )


def parse_location(raw: object) -> tuple[float, float]:
    if not isinstance(raw, Mapping):
        raise InvalidInput("location must be an object with lat and lng", field="location")
    lat, lng = raw.get("lat"), raw.get("lng")
    try:
        geo.cell_keys(lat, lng)  # type: ignore[arg-type]  # validates range and type; one rule for both
    except geo.GeoError as exc:
        raise InvalidInput(f"location.{exc.message}", field=f"location.{exc.field}") from exc
    return float(lat), float(lng)  # type: ignore[arg-type]


def parse_amenities(raw: object, field_name: str = "amenities") -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str | bytes) or not isinstance(raw, Iterable):
        raise InvalidInput(f"{field_name} must be a list", field=field_name)
    seen: list[str] = []
    for i, name in enumerate(raw):
        if name not in AMENITIES:
            known = ", ".join(sorted(AMENITIES))
            raise InvalidInput(f"{field_name}[{i}] is not a known amenity ({known})", field=f"{field_name}[{i}]")
        if name not in seen:
            seen.append(name)
    return tuple(sorted(seen))


def parse_rates(raw: object) -> Rates:
    if not isinstance(raw, Mapping):
        raise InvalidInput("pricing must be an object", field="pricing")
    try:
        return Rates(
            currency=raw.get("currency"),  # type: ignore[arg-type]  # Rates validates the type
            hourly_cents=raw.get("hourly_cents"),  # type: ignore[arg-type]
            daily_cents=raw.get("daily_cents"),
            monthly_cents=raw.get("monthly_cents"),
        )
    except PricingError as exc:
        raise InvalidInput(f"pricing.{exc.message}", field=f"pricing.{exc.field}") from exc


def parse_availability(raw: object) -> tuple[WeeklyWindow, ...]:
    if not isinstance(raw, Mapping):
        raise InvalidInput("availability must be an object with weekly", field="availability")
    try:
        weekly = availability.parse_weekly(raw.get("weekly"))  # type: ignore[arg-type]
    except AvailabilityError as exc:
        raise InvalidInput(f"availability.{exc.message}", field=f"availability.{exc.field}") from exc
    if not weekly:
        raise InvalidInput("availability.weekly needs at least one window", field="availability.weekly")
    return weekly


def parse_timezone(raw: object) -> str:
    if not isinstance(raw, str):
        raise InvalidInput("timezone must be an IANA time zone such as America/New_York", field="timezone")
    try:
        availability.zone(raw)
    except AvailabilityError as exc:
        raise InvalidInput(exc.message, field="timezone") from exc
    return raw


def parse_vehicle_size(raw: object, field_name: str = "vehicle_size") -> VehicleSize:
    for size in VEHICLE_SIZES:
        if raw == size:
            return size
    raise InvalidInput(f"{field_name} must be one of {', '.join(VEHICLE_SIZES)}", field=field_name)


def parse_geofence(raw: object) -> int:
    if raw is None:
        return DEFAULT_GEOFENCE_M
    lo, hi = GEOFENCE_RANGE_M
    if isinstance(raw, bool) or not isinstance(raw, int) or not lo <= raw <= hi:
        raise InvalidInput(f"geofence_radius_m must be an integer {lo}-{hi}", field="geofence_radius_m")
    return raw


def _listing_fields(data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """Validate the API's listing fields into Driveway keyword arguments (only those given if partial)."""
    parsers: dict[str, Callable[[Any], dict[str, Any]]] = {
        "title": lambda _: {"title": _text(data, "title", max_len=120)},
        "description": lambda v: {"description": "" if v is None else _text(data, "description", max_len=2000)},
        "address": lambda v: {"address": parse_address(v)},
        "location": lambda v: dict(zip(("lat", "lng"), parse_location(v), strict=True)),
        "timezone": lambda v: {"timezone": parse_timezone(v)},
        "vehicle_size": lambda v: {"vehicle_size": parse_vehicle_size(v)},
        "amenities": lambda v: {"amenities": parse_amenities(v)},
        "pricing": lambda v: {"rates": parse_rates(v)},
        "instant_book": lambda v: {"instant_book": _boolean(v)},
        "availability": lambda v: {"weekly": parse_availability(v)},
        "geofence_radius_m": lambda v: {"geofence_radius_m": parse_geofence(v)},
    }
    unknown = sorted(set(data) - set(parsers))
    if unknown:
        raise InvalidInput(f"{unknown[0]} is not a field of a driveway", field=unknown[0])
    optional = {"description", "amenities", "instant_book", "geofence_radius_m"}
    out: dict[str, Any] = {}
    for name, parse in parsers.items():
        if name not in data:
            if not partial and name not in optional:
                raise InvalidInput(f"{name} is required", field=name)
            if partial:
                continue
        elif data[name] is None and name != "description":
            # null clears nothing: every other field always has a value (defaults are set on create).
            raise InvalidInput(f"{name} must not be null", field=name)
        out.update(parse(data.get(name)))
    return out


def _boolean(value: object) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidInput("instant_book must be true or false", field="instant_book")
    return value


def aware(value: object, field_name: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInput(f"{field_name} must be an ISO-8601 time with a UTC offset", field=field_name)
    return value.astimezone(UTC)


def parse_window(start: object, end: object, *, max_length: timedelta) -> tuple[datetime, datetime]:
    start_utc, end_utc = aware(start, "start"), aware(end, "end")
    if end_utc <= start_utc:
        raise InvalidInput("end must be after start", field="end")
    if end_utc - start_utc > max_length:
        raise InvalidInput(f"end must be at most {max_length.days} days after start", field="end")
    return start_utc, end_utc


# -------------------------------------------------------------------------------------------- views


def driveway_view(driveway: Driveway, *, full: bool, photo_urls: Mapping[str, str]) -> dict[str, Any]:
    """The API shape. ``full`` (owner or admin) adds the street address, blackouts, pending photos and
    bookkeeping; ``photo_urls`` maps ready photos to time-limited download URLs."""
    rates = driveway.rates
    view: dict[str, Any] = {
        "driveway_id": driveway.driveway_id,
        "status": driveway.status,
        "title": driveway.title,
        "description": driveway.description,
        "address": driveway.address.to_dict(full=full),
        "location": {"lat": driveway.lat, "lng": driveway.lng},
        "timezone": driveway.timezone,
        "vehicle_size": driveway.vehicle_size,
        "amenities": list(driveway.amenities),
        "pricing": {"currency": rates.currency, "hourly_cents": rates.hourly_cents,
                    "daily_cents": rates.daily_cents, "monthly_cents": rates.monthly_cents},
        "instant_book": driveway.instant_book,
        "availability": {"weekly": [w.to_dict() for w in driveway.weekly]},
        "geofence_radius_m": driveway.geofence_radius_m,
        "photos": [
            {"photo_id": p.photo_id, "content_type": p.content_type, "url": photo_urls[p.photo_id]}
            for p in driveway.photos if p.status == "ready" and p.photo_id in photo_urls
        ],
    }
    if full:
        view |= {
            "host_id": driveway.host_id,
            "blackouts": [b.to_dict() for b in sorted(driveway.blackouts, key=lambda b: b.start)],
            "pending_photos": [
                {"photo_id": p.photo_id, "content_type": p.content_type, "created_at": _iso(p.created_at)}
                for p in driveway.photos if p.status == "pending"
            ],
            "created_at": _iso(driveway.created_at),
            "updated_at": _iso(driveway.updated_at),
            "version": driveway.version,
        }
    return view


def photo_key(driveway_id: str, photo_id: str) -> str:
    """Objects live under their driveway's prefix: erasing a listing's photos is one prefix."""
    return f"driveways/{driveway_id}/photos/{photo_id}"


# ---------------------------------------------------------------------------------------- the service


@dataclass
class DrivewayService:
    """Host-side operations on listings, and the driver-side read of one listing."""

    store: DrivewayStore
    photos: PhotoStore | None
    """None where no photo bucket is configured: views then carry no photo URLs and uploads fail."""
    clock: Callable[[], datetime]
    new_id: Callable[[], str]

    # ---- hosts ---------------------------------------------------------------------------------
    def create(self, principal: Principal, data: Mapping[str, Any]) -> Driveway:
        fields = _listing_fields(data, partial=False)
        now = self.clock()
        driveway = Driveway(driveway_id=self.new_id(), host_id=principal.user_id, status=ACTIVE,
                            created_at=now, updated_at=now, **fields)
        self.store.add(driveway)
        return driveway

    def update(self, principal: Principal, driveway_id: str, changes: Mapping[str, Any]) -> Driveway:
        """PATCH: each top-level field given replaces the stored one (``pricing``, ``address`` and
        ``availability`` as whole objects, so a listing is always validated as a whole)."""
        if not changes:
            raise InvalidInput("nothing to change", field="body")
        current = self._owned(principal, driveway_id)
        if not current.is_active:
            raise InvalidState("the driveway is deactivated")
        fields = _listing_fields(changes, partial=True)
        updated = replace(current, updated_at=self.clock(), **fields)
        return self.store.save_listing(updated, expected_version=current.version)

    def deactivate(self, principal: Principal, driveway_id: str) -> Driveway:
        """Deactivated listings leave search at once (no ``by_geo`` keys) and take no new bookings.
        Existing bookings are the booking lifecycle's to settle under the cancellation policy."""
        current = self._owned(principal, driveway_id)
        if not current.is_active:
            return current  # DELETE is idempotent
        inactive = replace(current, status=INACTIVE, updated_at=self.clock())
        return self.store.save_listing(inactive, expected_version=current.version)

    def list_mine(self, principal: Principal, *, limit: int, cursor: str | None) -> Page:
        if not 1 <= limit <= MAX_PAGE_LIMIT:
            raise InvalidInput(f"limit must be 1-{MAX_PAGE_LIMIT}", field="limit")
        return self.store.list_by_host(principal.user_id, limit=limit, cursor=cursor)

    def add_blackout(self, principal: Principal, driveway_id: str, start: object, end: object,
                     reason: str | None = None) -> Blackout:
        start_utc, end_utc = parse_window(start, end, max_length=MAX_BLACKOUT_LENGTH)
        if reason is not None and (not isinstance(reason, str) or len(reason) > 200):
            raise InvalidInput("reason must be a string of at most 200 characters", field="reason")
        current = self._owned(principal, driveway_id)
        if not current.is_active:
            raise InvalidState("the driveway is deactivated")
        now = self.clock()
        if end_utc <= now:
            raise InvalidInput("end must be in the future", field="end")
        stale = [b.blackout_id for b in current.blackouts if b.end < now - BLACKOUT_PRUNE_AFTER]
        blackout = Blackout(self.new_id(), start_utc, end_utc, reason or None)
        self.store.add_blackout(driveway_id, blackout, drop=stale, max_count=MAX_BLACKOUTS)
        return blackout

    def create_photo_upload(self, principal: Principal, driveway_id: str, content_type: str) -> dict[str, Any]:
        """A presigned S3 POST for one photo (see docs/decisions-driveways.md, "Photos")."""
        if content_type not in PHOTO_CONTENT_TYPES:
            allowed = ", ".join(sorted(PHOTO_CONTENT_TYPES))
            raise InvalidInput(f"content_type must be one of {allowed}", field="content_type")
        if self.photos is None:
            raise RuntimeError("photo storage is not configured for this function (PHOTO_BUCKET)")
        current = self._owned(principal, driveway_id)
        if not current.is_active:
            raise InvalidState("the driveway is deactivated")
        now = self.clock()
        photo_id = self.new_id()
        photo = Photo(photo_id, photo_key(driveway_id, photo_id), content_type, "pending", now)
        self.store.add_photo(driveway_id, photo, max_count=MAX_PHOTOS)
        ticket = self.photos.presign_upload(photo.key, content_type, MAX_PHOTO_BYTES, PHOTO_UPLOAD_TTL)
        return {
            "photo_id": photo_id,
            "upload_url": ticket.url,
            "method": "POST",
            "fields": ticket.fields,
            "content_type": content_type,
            "max_bytes": MAX_PHOTO_BYTES,
            "expires_at": _iso(ticket.expires_at),
        }

    # ---- anyone signed in ----------------------------------------------------------------------
    def view(self, principal: Principal, driveway_id: str) -> dict[str, Any]:
        """Public fields for everyone; everything for the owner or an admin. A deactivated listing is
        visible to its owner only (404 for the others: it no longer exists for them)."""
        driveway = self._get(driveway_id)
        full = principal.is_admin or principal.user_id == driveway.host_id
        if not driveway.is_active and not full:
            raise NotFound("No such driveway.")
        return self.present(self.settle_photos(driveway), full=full)

    def present(self, driveway: Driveway, *, full: bool) -> dict[str, Any]:
        """The API view, with a time-limited download URL per ready photo (the bucket is private)."""
        photos = self.photos
        urls = {} if photos is None else {
            p.photo_id: photos.download_url(p.key, PHOTO_URL_TTL) for p in driveway.photos if p.status == "ready"
        }
        return driveway_view(driveway, full=full, photo_urls=urls)

    def settle_photos(self, driveway: Driveway) -> Driveway:
        """Pending photos become ready once their object exists and is within the limits.

        No S3 event is needed (none exists in the local cloud): the first read after the upload checks
        with a HEAD. An object that breaks the limits (S3 enforces them on the presigned POST; moto does
        not) is deleted; a photo never uploaded is dropped after its presigned POST expired.
        """
        if self.photos is None:
            return driveway
        now = self.clock()
        settled: list[Photo] = []
        for photo in driveway.photos:
            if photo.status == "ready":
                settled.append(photo)
                continue
            info = self.photos.head(photo.key)
            if info is None:
                if now > photo.created_at + PHOTO_UPLOAD_TTL + timedelta(minutes=5):
                    self.store.remove_photo(driveway.driveway_id, photo.photo_id)
                else:
                    settled.append(photo)
            elif info.content_type == photo.content_type and 0 < info.size_bytes <= MAX_PHOTO_BYTES:
                self.store.mark_photo_ready(driveway.driveway_id, photo.photo_id, info.size_bytes)
                settled.append(replace(photo, status="ready", size_bytes=info.size_bytes))
            else:
                self.photos.delete(photo.key)
                self.store.remove_photo(driveway.driveway_id, photo.photo_id)
        return replace(driveway, photos=tuple(settled))

    # ---- helpers -------------------------------------------------------------------------------
    def _get(self, driveway_id: str) -> Driveway:
        driveway = self.store.get(driveway_id)
        if driveway is None:
            raise NotFound("No such driveway.")
        return driveway

    def _owned(self, principal: Principal, driveway_id: str) -> Driveway:
        driveway = self._get(driveway_id)
        require_owner(principal, driveway.host_id)
        return driveway


# ------------------------------------------------------------------------------------ quote and search


def quote_booking(store: DrivewayStore, calendars: CalendarReader, driveway_id: str, start: object,
                  end: object, *, platform_fee_bps: int) -> dict[str, Any]:
    """``POST /bookings/quote``: ``pricing.quote``'s breakdown, plus whether the slot is free now.

    ``available`` is advisory (a booking re-checks under the calendar's conditional write); a quote for
    a taken slot is still a useful price.
    """
    start_utc, end_utc = parse_window(start, end, max_length=MAX_QUOTE_WINDOW)
    driveway = store.get(driveway_id)
    if driveway is None or not driveway.is_active:
        raise NotFound("No such driveway.")
    result = pricing.quote(driveway.rates, start_utc, end_utc, platform_fee_bps=platform_fee_bps)
    free = availability.is_free(driveway.weekly, driveway.timezone, [b.interval for b in driveway.blackouts],
                                calendars.live_intervals(driveway_id), start_utc, end_utc)
    return result.to_dict() | {"driveway_id": driveway_id, "start": _iso(start_utc), "end": _iso(end_utc),
                               "available": free}


@dataclass(frozen=True)
class SearchQuery:
    lat: float
    lng: float
    radius_m: float
    start: datetime | None = None
    end: datetime | None = None
    amenities: frozenset[str] = frozenset()
    max_price_cents: int | None = None
    vehicle_size: VehicleSize | None = None
    sort: SortOrder = "distance"
    limit: int = DEFAULT_SEARCH_LIMIT
    cursor: str | None = None

    @classmethod
    def parse(cls, *, lat: float, lng: float, radius_m: float, start: datetime | None = None,
              end: datetime | None = None, amenities: str | Iterable[str] | None = None,
              max_price_cents: int | None = None, vehicle_size: str | None = None, sort: str = "distance",
              limit: int = DEFAULT_SEARCH_LIMIT, cursor: str | None = None) -> SearchQuery:
        """Validate a search; errors name the query parameter."""
        geo.cell_keys(lat, lng)  # GeoError names lat / lng
        if isinstance(radius_m, bool) or not isinstance(radius_m, int | float) or not 0 < radius_m <= geo.MAX_RADIUS_M:
            raise InvalidInput(f"radius_m must be greater than 0 and at most {geo.MAX_RADIUS_M:g}", field="radius_m")
        if (start is None) != (end is None):
            missing = "end" if end is None else "start"
            raise InvalidInput(f"{missing} is required when {'start' if missing == 'end' else 'end'} is given",
                               field=missing)
        if start is not None and end is not None:
            start, end = parse_window(start, end, max_length=MAX_SEARCH_WINDOW)
        if isinstance(amenities, str):
            amenities = [a.strip() for a in amenities.split(",") if a.strip()]
        wanted = frozenset(parse_amenities(amenities))
        if max_price_cents is not None and (isinstance(max_price_cents, bool) or max_price_cents <= 0):
            raise InvalidInput("max_price_cents must be a positive integer", field="max_price_cents")
        size = parse_vehicle_size(vehicle_size) if vehicle_size is not None else None
        if sort not in ("distance", "price"):
            raise InvalidInput("sort must be distance or price", field="sort")
        if not 1 <= limit <= MAX_SEARCH_LIMIT:
            raise InvalidInput(f"limit must be 1-{MAX_SEARCH_LIMIT}", field="limit")
        return cls(float(lat), float(lng), float(radius_m), start, end, wanted, max_price_cents, size,
                   "price" if sort == "price" else "distance", limit, cursor)

    def fingerprint(self) -> str:
        """Everything that decides the result set and its order (not limit/cursor): a cursor is only
        valid for the query it came from."""
        canonical = json.dumps([
            self.lat, self.lng, self.radius_m, self.start and _iso(self.start), self.end and _iso(self.end),
            sorted(self.amenities), self.max_price_cents, self.vehicle_size, self.sort,
        ])
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_search_cursor(offset: int, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "q": fingerprint}).encode()).decode().rstrip("=")


def decode_search_cursor(cursor: str | None, fingerprint: str) -> int:
    if not cursor:
        return 0
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise InvalidInput("cursor is not one this API returned", field="cursor") from exc
    offset = value.get("o") if isinstance(value, dict) else None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInput("cursor is not one this API returned", field="cursor")
    if value.get("q") != fingerprint:
        raise InvalidInput("cursor belongs to a different search; start again without it", field="cursor")
    return offset


@dataclass
class SearchStats:
    """What one search cost, for logs and the benchmark."""

    queries: int = 0
    items_read: int = 0
    within_radius: int = 0
    candidates: int = 0
    """Within the radius and passing every filter decidable from the item (before live bookings)."""
    calendar_checks: int = 0


@dataclass(frozen=True)
class SearchResult:
    items: list[dict[str, Any]]
    next_cursor: str | None
    stats: SearchStats = field(default_factory=SearchStats)

    def to_dict(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}


def _price(driveway: Driveway, query: SearchQuery, platform_fee_bps: int) -> pricing.Quote | None:
    start, end = (query.start, query.end) if query.start and query.end else (
        _PRICE_PROBE_START, _PRICE_PROBE_START + timedelta(hours=1))
    try:
        return pricing.quote(driveway.rates, start, end, platform_fee_bps=platform_fee_bps)
    except PricingError:
        return None  # outside the chargeable range: it cannot be booked for this window


Candidate = tuple[Driveway, float, pricing.Quote]


def _passes_filters(driveway: Driveway, query: SearchQuery, price: pricing.Quote | None) -> bool:
    """Everything decidable from the item alone: status, amenities, size, price, weekly windows, blackouts."""
    if not driveway.is_active or not query.amenities <= set(driveway.amenities):
        return False
    if query.vehicle_size is not None and not driveway.fits(query.vehicle_size):
        return False
    if price is None or (query.max_price_cents is not None and price.total_cents > query.max_price_cents):
        return False
    if query.start is None or query.end is None:
        return True
    return availability.is_free(driveway.weekly, driveway.timezone, [b.interval for b in driveway.blackouts], (),
                                query.start, query.end)


def _free_prefix(candidates: list[Candidate], calendars: CalendarReader, query: SearchQuery, wanted: int,
                 stats: SearchStats) -> tuple[list[Candidate], bool]:
    """The first ``wanted`` candidates (in order) free of live bookings, and whether more exist.

    Calendars are read in sorted order, a chunk at a time, only as deep as the requested page: a search
    pays for the calendars it shows, not for every candidate within the radius.
    """
    assert query.start is not None and query.end is not None
    free: list[Candidate] = []
    checked = 0
    while len(free) <= wanted and checked < len(candidates):
        chunk = candidates[checked:checked + min(CALENDAR_CHUNK, max(wanted + 1 - len(free), MIN_CALENDAR_CHUNK))]
        checked += len(chunk)
        booked = calendars.live_intervals_many([d.driveway_id for d, _, _ in chunk])
        stats.calendar_checks += len(chunk)
        free += [
            (d, dist, q) for d, dist, q in chunk
            if availability.is_free(d.weekly, d.timezone, [b.interval for b in d.blackouts],
                                    booked.get(d.driveway_id, ()), query.start, query.end)
        ]
    return free[:wanted], len(free) > wanted


def search_driveways(store: DrivewayStore, calendars: CalendarReader, query: SearchQuery, *,
                     platform_fee_bps: int) -> SearchResult:
    """``GET /search/driveways``: radius read, exact distance, filters, availability, price, sort, page.

    The sorted result is recomputed per page and sliced at the cursor's offset: no server-side state,
    and the order is total (ties broken by id), so pages neither repeat nor skip while the data is
    unchanged. Live bookings are checked last, in sorted order and only down to the page asked for.
    ``quote`` is the window's price, or one hour's when no window is given; that price is what
    ``max_price_cents`` and ``sort=price`` compare.
    """
    fingerprint = query.fingerprint()
    offset = decode_search_cursor(query.cursor, fingerprint)
    nearby = store.find_near(query.lat, query.lng, query.radius_m)
    stats = SearchStats(queries=nearby.queries, items_read=nearby.items_read, within_radius=len(nearby.matches))

    candidates: list[Candidate] = []
    for driveway, distance in nearby.matches:
        price = _price(driveway, query, platform_fee_bps)
        if _passes_filters(driveway, query, price):
            assert price is not None
            candidates.append((driveway, distance, price))
    stats.candidates = len(candidates)
    if query.sort == "price":
        candidates.sort(key=lambda c: (c[2].total_cents, c[1], c[0].driveway_id))
    else:
        candidates.sort(key=lambda c: (c[1], c[0].driveway_id))

    wanted = offset + query.limit
    if query.start is not None and query.end is not None:
        shown, more = _free_prefix(candidates, calendars, query, wanted, stats)
    else:
        shown, more = candidates[:wanted], len(candidates) > wanted
    page = shown[offset:]
    items = [
        {
            "driveway_id": d.driveway_id,
            "title": d.title,
            "location": {"lat": d.lat, "lng": d.lng},
            "distance_m": round(dist, 1),
            "quote": {"total_cents": q.total_cents, "currency": q.currency},
            "amenities": list(d.amenities),
            "instant_book": d.instant_book,
            "vehicle_size": d.vehicle_size,
        }
        for d, dist, q in page
    ]
    cursor = encode_search_cursor(offset + query.limit, fingerprint) if more else None
    return SearchResult(items, cursor, stats)
