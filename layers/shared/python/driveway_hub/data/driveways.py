"""Driveway listings in the ``driveways`` table, their photos in S3, and the radius search.

One item per driveway (``driveway_id``) holding the listing, its blackouts (a map, bounded) and its
photos (a map, bounded), so a search reads everything it filters on in the Query that finds the item:
no second read per candidate. Indexes (``driveway_hub.data.tables``):

* ``by_host`` (``host_id``, ``created_at``) - "my driveways", newest first;
* ``by_geo`` (``geo_parent`` N, ``geo_cell`` N) - the radius search (``domain.geo``). Only active
  listings carry these two attributes: deactivating one removes it from the (sparse) index, so
  searches never read it again.

The radius search runs each ``KeyRange`` of ``geo.plan_radius_query`` as one Query
``geo_parent = :p AND geo_cell BETWEEN :lo AND :hi`` - in parallel, each paginated to the end - and
keeps what is within the radius by great-circle distance. Never a Scan.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from botocore.exceptions import ClientError
from pynamodb.attributes import BooleanAttribute, ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.condition import size
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from driveway_hub.data.base import TableModel
from driveway_hub.data.bookings import BookingRepository, Calendar, decode_cursor, encode_cursor
from driveway_hub.domain import geo
from driveway_hub.domain.availability import Interval, WeeklyWindow
from driveway_hub.domain.driveways import (
    ACTIVE,
    INACTIVE,
    Address,
    Blackout,
    Driveway,
    Nearby,
    ObjectInfo,
    Page,
    Photo,
    UploadTicket,
    driveway_view,
    parse_vehicle_size,
)
from driveway_hub.domain.pricing import Rates
from driveway_hub.errors import Conflict, InvalidInput, InvalidState

_CONDITION_FAILED = "ConditionalCheckFailedException"
# geo.MAX_RANGES Queries (17 at 10 km) run at once; the pool must not make them queue for a socket.
SEARCH_WORKERS = 20
BATCH_GET_MAX = 100  # DynamoDB's BatchGetItem limit


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


class DrivewaysByHost(GlobalSecondaryIndex["DrivewayItem"]):
    class Meta:
        index_name = "by_host"
        projection = AllProjection()

    host_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class DrivewaysByGeo(GlobalSecondaryIndex["DrivewayItem"]):
    class Meta:
        index_name = "by_geo"
        projection = AllProjection()

    geo_parent = NumberAttribute(hash_key=True)
    geo_cell = NumberAttribute(range_key=True)


class DrivewayItem(TableModel):
    logical_id = "driveways"

    class Meta(TableModel.Meta):
        # One connection per parallel search Query (botocore's default pool is 10).
        max_pool_connections = 32

    driveway_id = UnicodeAttribute(hash_key=True)
    host_id = UnicodeAttribute()
    status = UnicodeAttribute()
    version = NumberAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    title = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    address = MapAttribute[str, Any]()
    lat = NumberAttribute()
    lng = NumberAttribute()
    # Present only while active (sparse by_geo index).
    geo_parent = NumberAttribute(null=True)
    geo_cell = NumberAttribute(null=True)
    timezone = UnicodeAttribute()
    vehicle_size = UnicodeAttribute()
    amenities = ListAttribute(of=UnicodeAttribute, default=list)
    currency = UnicodeAttribute()
    hourly_cents = NumberAttribute()
    daily_cents = NumberAttribute(null=True)
    monthly_cents = NumberAttribute(null=True)
    instant_book = BooleanAttribute(default=False)
    # "0 07:00-22:00;1 07:00-22:00": one string, not a list of maps. Every search reads (and moto and
    # PynamoDB deserialize) whole items; nested lists cost ~25 nodes per item for nothing.
    weekly = UnicodeAttribute(default="")
    geofence_radius_m = NumberAttribute()
    # blackout_id -> {"start", "end", "reason"?}; photo_id -> {"key", "content_type", "status", ...}
    blackouts = MapAttribute[str, Any](default=dict)
    photos = MapAttribute[str, Any](default=dict)

    by_host = DrivewaysByHost()
    by_geo = DrivewaysByGeo()


# ------------------------------------------------------------------------------------------ mapping


def _plain(value: Any) -> Any:
    return value.as_dict() if hasattr(value, "as_dict") else dict(value or {})


def _listing_attributes(driveway: Driveway) -> dict[str, Any]:
    """The listing's fields as item attributes (not blackouts/photos, which change on their own)."""
    parent, cell = geo.cell_keys(driveway.lat, driveway.lng) if driveway.is_active else (None, None)
    rates = driveway.rates
    address = {k: v for k, v in vars(driveway.address).items() if v is not None}
    return {
        "host_id": driveway.host_id,
        "status": driveway.status,
        "created_at": _iso(driveway.created_at),
        "updated_at": _iso(driveway.updated_at),
        "title": driveway.title,
        "description": driveway.description,
        "address": address,
        "lat": driveway.lat,
        "lng": driveway.lng,
        "geo_parent": parent,
        "geo_cell": cell,
        "timezone": driveway.timezone,
        "vehicle_size": driveway.vehicle_size,
        "amenities": list(driveway.amenities),
        "currency": rates.currency,
        "hourly_cents": rates.hourly_cents,
        "daily_cents": rates.daily_cents,
        "monthly_cents": rates.monthly_cents,
        "instant_book": driveway.instant_book,
        "weekly": encode_weekly(driveway.weekly),
        "geofence_radius_m": driveway.geofence_radius_m,
    }


def encode_weekly(weekly: Iterable[WeeklyWindow]) -> str:
    return ";".join(f"{w.day} {_hhmm(w.start_minute)}-{_hhmm(w.end_minute)}" for w in weekly)


def decode_weekly(stored: str) -> tuple[WeeklyWindow, ...]:
    # Validated on write; rebuilt directly (no re-validation) because every search decodes every item read.
    windows = []
    for part in filter(None, stored.split(";")):
        day, span = part.split(" ")
        start, end = span.split("-")
        windows.append(WeeklyWindow(int(day), _minutes(start), _minutes(end)))
    return tuple(windows)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def to_item(driveway: Driveway) -> DrivewayItem:
    item = DrivewayItem(driveway.driveway_id, version=driveway.version, **_listing_attributes(driveway))
    item.blackouts = {b.blackout_id: _blackout_value(b) for b in driveway.blackouts}
    item.photos = {p.photo_id: _photo_value(p) for p in driveway.photos}
    return item


def _blackout_value(blackout: Blackout) -> dict[str, str]:
    value = {"start": _iso(blackout.start), "end": _iso(blackout.end)}
    return value | ({"reason": blackout.reason} if blackout.reason else {})


def _photo_value(photo: Photo) -> dict[str, Any]:
    value: dict[str, Any] = {"key": photo.key, "content_type": photo.content_type, "status": photo.status,
                             "created_at": _iso(photo.created_at)}
    return value | ({"size_bytes": photo.size_bytes} if photo.size_bytes is not None else {})


def to_domain(item: DrivewayItem) -> Driveway:
    blackouts = tuple(
        Blackout(bid, _dt(v["start"]), _dt(v["end"]), v.get("reason"))
        for bid, v in sorted(_plain(item.blackouts).items())
    )
    photos = tuple(
        Photo(pid, v["key"], v["content_type"], v["status"], _dt(v["created_at"]),
              int(v["size_bytes"]) if v.get("size_bytes") is not None else None)
        for pid, v in sorted(_plain(item.photos).items(), key=lambda kv: (kv[1]["created_at"], kv[0]))
    )
    address = _plain(item.address)
    return Driveway(
        driveway_id=item.driveway_id,
        host_id=item.host_id,
        status=ACTIVE if item.status == ACTIVE else INACTIVE,
        title=item.title,
        description=item.description or "",
        address=Address(line1=address.get("line1", ""), line2=address.get("line2"), city=address.get("city", ""),
                        region=address.get("region", ""), postal_code=address.get("postal_code", ""),
                        country=address.get("country", "")),
        lat=float(item.lat),
        lng=float(item.lng),
        timezone=item.timezone,
        vehicle_size=parse_vehicle_size(item.vehicle_size),
        amenities=tuple(str(a) for a in item.amenities or ()),
        rates=Rates(item.currency, int(item.hourly_cents),
                    int(item.daily_cents) if item.daily_cents is not None else None,
                    int(item.monthly_cents) if item.monthly_cents is not None else None),
        instant_book=bool(item.instant_book),
        weekly=decode_weekly(item.weekly or ""),
        geofence_radius_m=int(item.geofence_radius_m),
        created_at=_dt(item.created_at),
        updated_at=_dt(item.updated_at),
        version=int(item.version),
        blackouts=blackouts,
        photos=photos,
    )


# -------------------------------------------------------------------------------------------- store

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _search_pool() -> ThreadPoolExecutor:
    # One pool per process (a warm Lambda reuses it); created on first search, not at import.
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=SEARCH_WORKERS, thread_name_prefix="geo-query")
        return _pool


def _condition_failed(exc: PutError | UpdateError) -> bool:
    return exc.cause_response_code == _CONDITION_FAILED


class DynamoDrivewayStore:
    """``domain.driveways.DrivewayStore`` on DynamoDB. Call ``bind_models(settings)`` first."""

    # ---- reads -----------------------------------------------------------------------------------
    def get(self, driveway_id: str) -> Driveway | None:
        try:
            return to_domain(DrivewayItem.get(driveway_id, consistent_read=True))
        except DoesNotExist:
            return None

    def list_by_host(self, host_id: str, *, limit: int, cursor: str | None) -> Page:
        start = decode_cursor(cursor)
        if start is not None and not _is_host_key(start, host_id):
            # A cursor from someone else's listing (or hand-made) must not steer the Query.
            raise InvalidInput("cursor is not one this API returned", field="cursor")
        result = DrivewayItem.by_host.query(host_id, scan_index_forward=False, limit=limit,
                                            last_evaluated_key=start)
        items = [to_domain(item) for item in result]
        return Page(items, encode_cursor(result.last_evaluated_key))

    def find_near(self, lat: float, lng: float, radius_m: float) -> Nearby:
        ranges = geo.plan_radius_query(lat, lng, radius_m)
        pages = list(_search_pool().map(_query_range, ranges))
        matches: dict[str, tuple[Driveway, float]] = {}
        queries = items_read = 0
        for calls, raw_items in pages:
            queries += calls
            items_read += len(raw_items)
            for raw in raw_items:
                # Distance from the raw numbers first: only matches pay for the model conversion.
                distance = geo.haversine_m(lat, lng, float(raw["lat"]["N"]), float(raw["lng"]["N"]))
                if distance <= radius_m:
                    item = cast(DrivewayItem, DrivewayItem.from_raw_data(raw))
                    matches[item.driveway_id] = (to_domain(item), distance)
        return Nearby(list(matches.values()), queries, items_read)

    # ---- writes ----------------------------------------------------------------------------------
    def add(self, driveway: Driveway) -> None:
        try:
            to_item(driveway).save(condition=DrivewayItem.driveway_id.does_not_exist())
        except PutError as exc:
            if _condition_failed(exc):
                raise Conflict(f"driveway {driveway.driveway_id} already exists") from exc
            raise

    def add_many(self, driveways: Iterable[Driveway]) -> int:
        """Bulk load (seed data, benchmarks): BatchWriteItem, unconditional."""
        count = 0
        with DrivewayItem.batch_write() as batch:
            for driveway in driveways:
                batch.save(to_item(driveway))
                count += 1
        return count

    def save_listing(self, driveway: Driveway, *, expected_version: int) -> Driveway:
        actions: list[Action] = [DrivewayItem.version.set(expected_version + 1)]
        for name, value in _listing_attributes(driveway).items():
            attribute = getattr(DrivewayItem, name)
            actions.append(attribute.remove() if value is None else attribute.set(value))
        item = DrivewayItem(driveway.driveway_id)
        try:
            # PynamoDB reads the whole new item back (ReturnValues=ALL_NEW) into ``item``: no second read.
            item.update(actions=actions, condition=DrivewayItem.version == expected_version)
        except UpdateError as exc:
            if _condition_failed(exc):
                raise Conflict("the driveway changed meanwhile; read it again and retry") from exc
            raise
        return to_domain(item)

    def add_blackout(self, driveway_id: str, blackout: Blackout, *, drop: Iterable[str], max_count: int) -> None:
        actions: list[Action] = [DrivewayItem.blackouts[blackout.blackout_id].set(_blackout_value(blackout))]
        actions += [DrivewayItem.blackouts[old].remove() for old in drop]
        self._bounded_update(driveway_id, actions, size(DrivewayItem.blackouts) < max_count, "blackouts")

    def add_photo(self, driveway_id: str, photo: Photo, *, max_count: int) -> None:
        action = DrivewayItem.photos[photo.photo_id].set(_photo_value(photo))
        self._bounded_update(driveway_id, [action], size(DrivewayItem.photos) < max_count, "photos")

    def mark_photo_ready(self, driveway_id: str, photo_id: str, size_bytes: int) -> None:
        self._photo_update(driveway_id, photo_id, [
            DrivewayItem.photos[photo_id]["status"].set("ready"),
            DrivewayItem.photos[photo_id]["size_bytes"].set(size_bytes),
        ])

    def remove_photo(self, driveway_id: str, photo_id: str) -> None:
        self._photo_update(driveway_id, photo_id, [DrivewayItem.photos[photo_id].remove()])

    def _photo_update(self, driveway_id: str, photo_id: str, actions: list[Action]) -> None:
        try:
            DrivewayItem(driveway_id).update(actions=actions,
                                             condition=DrivewayItem.photos[photo_id].exists())
        except UpdateError as exc:
            # Two readers settling the same photo at once: the first one did it.
            if not _condition_failed(exc):
                raise

    def _bounded_update(self, driveway_id: str, actions: list[Action], within_bound: Any, what: str) -> None:
        try:
            DrivewayItem(driveway_id).update(
                actions=actions, condition=(DrivewayItem.status == ACTIVE) & within_bound
            )
        except UpdateError as exc:
            if not _condition_failed(exc):
                raise
            current = self.get(driveway_id)
            if current is None or not current.is_active:
                raise InvalidState("the driveway is deactivated") from exc
            raise Conflict(f"the driveway already holds the maximum number of {what}") from exc


def _is_host_key(key: dict[str, Any], host_id: str) -> bool:
    expected = {"driveway_id", "host_id", "created_at"}
    return (
        set(key) == expected
        and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values())
        and key["host_id"]["S"] == host_id
    )


def _query_range(key_range: geo.KeyRange) -> tuple[int, list[dict[str, Any]]]:
    """One KeyRange, paginated to the end: (Query calls, raw items)."""
    result = DrivewayItem.by_geo.query(
        key_range.parent, DrivewayItem.geo_cell.between(key_range.lo, key_range.hi)
    )
    calls = 0
    items: list[dict[str, Any]] = []
    for page in result.page_iter:
        calls += 1
        items.extend(page.get("Items", ()))
    return calls, items


# ----------------------------------------------------------------------------------------- calendars


class DynamoCalendarReader:
    """``domain.driveways.CalendarReader``: live booking intervals from the ``calendars`` table.

    One driveway: ``BookingRepository.live_intervals`` (strongly consistent, as booking needs). Many
    (search): one BatchGetItem per 100 driveways, eventually consistent - search is advisory and the
    booking's conditional write is what decides. ``BookingRepository`` has no batch read, hence the thin
    helper here.
    """

    def __init__(self, bookings: BookingRepository):
        self._bookings = bookings

    def live_intervals(self, driveway_id: str) -> list[Interval]:
        return list(self._bookings.live_intervals(driveway_id).values())

    def live_intervals_many(self, driveway_ids: Sequence[str]) -> dict[str, list[Interval]]:
        found: dict[str, list[Interval]] = {}
        unique = list(dict.fromkeys(driveway_ids))
        for i in range(0, len(unique), BATCH_GET_MAX):
            for calendar in Calendar.batch_get(unique[i:i + BATCH_GET_MAX]):
                found[calendar.driveway_id] = [
                    Interval(_dt(v["start"]), _dt(v["end"])) for v in _plain(calendar.intervals).values()
                ]
        return found


# --------------------------------------------------------------------------------------------- photos


class S3PhotoStore:
    """``domain.driveways.PhotoStore`` on the private photo bucket.

    Uploads are presigned POSTs: their policy makes S3 itself refuse a wrong Content-Type, a size over
    the limit, or another key (a presigned PUT cannot bound the size). Reads are presigned GETs.
    """

    def __init__(self, s3: Any, bucket: str, clock: Any):
        self._s3 = s3
        self._bucket = bucket
        self._clock = clock

    def presign_upload(self, key: str, content_type: str, max_bytes: int, expires_in: timedelta) -> UploadTicket:
        seconds = int(expires_in.total_seconds())
        post = self._s3.generate_presigned_post(
            Bucket=self._bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=seconds,
        )
        return UploadTicket(post["url"], dict(post["fields"]), self._clock() + expires_in)

    def head(self, key: str) -> ObjectInfo | None:
        try:
            head = self._s3.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(int(head["ContentLength"]), str(head.get("ContentType", "")))

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=key)

    def download_url(self, key: str, expires_in: timedelta) -> str:
        url: str = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=int(expires_in.total_seconds())
        )
        return url


# -------------------------------------------------------------------------------------------- privacy


class DrivewayPersonalData:
    """``auth.privacy.PersonalDataStore`` for hosts' listings (RETENTION_RULES: "driveways" anonymize).

    Export: every listing of the user, owner view. Erase: each listing is deactivated (it leaves search
    and takes no new booking), its street lines, title and description are removed and its photos
    deleted. City, postal code and coordinates stay for bookings kept for accounting.
    """

    section = "driveways"

    def __init__(self, store: DynamoDrivewayStore, photos: S3PhotoStore | None):
        self._store = store
        self._photos = photos

    def _all(self, user_id: str) -> list[Driveway]:
        found: list[Driveway] = []
        cursor: str | None = None
        while True:
            page = self._store.list_by_host(user_id, limit=100, cursor=cursor)
            found += page.items
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    def export(self, user_id: str) -> list[dict[str, Any]]:
        return [driveway_view(d, full=True, photo_urls={}) for d in self._all(user_id)]

    def erase(self, user_id: str, erased_at: datetime) -> None:
        for driveway in self._all(user_id):
            if self._photos is not None:
                for photo in driveway.photos:
                    self._photos.delete(photo.key)
            public_address = driveway.address.to_dict(full=False)
            DrivewayItem(driveway.driveway_id).update(actions=[
                DrivewayItem.status.set(INACTIVE),
                DrivewayItem.geo_parent.remove(),
                DrivewayItem.geo_cell.remove(),
                DrivewayItem.title.set("(removed)"),
                DrivewayItem.description.set(""),
                DrivewayItem.address.set(public_address),
                DrivewayItem.photos.set({}),
                DrivewayItem.blackouts.set({}),
                DrivewayItem.updated_at.set(_iso(erased_at)),
                DrivewayItem.version.add(1),
            ])
