"""Driveway listings, search and quote as plain Python: the domain service with in-memory fakes for the
store, the calendars and the photo bucket (no AWS, no HTTP)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driveway_hub.auth.permissions import Principal
from driveway_hub.domain import driveways as dw
from driveway_hub.domain.availability import Interval
from driveway_hub.domain.driveways import (
    Blackout,
    Driveway,
    DrivewayService,
    Nearby,
    ObjectInfo,
    Page,
    Photo,
    SearchQuery,
    UploadTicket,
    quote_booking,
    search_driveways,
)
from driveway_hub.domain.geo import haversine_m
from driveway_hub.domain.pricing import Rates, quote
from driveway_hub.errors import Conflict, InvalidInput, InvalidState, NotFound, NotOwner

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday
AUSTIN = (30.2672, -97.7431)
HOST = Principal.for_roles("host-1", ["host"])
OTHER_HOST = Principal.for_roles("host-2", ["host"])
ADMIN = Principal.for_roles("admin-1", ["admin"])
DRIVER = Principal.for_roles("driver-1", ["driver"])
FEE = 1_500


# ---- fakes --------------------------------------------------------------------------------------------


@dataclass
class FakeStore:
    items: dict[str, Driveway] = field(default_factory=dict)

    def add(self, driveway: Driveway) -> None:
        if driveway.driveway_id in self.items:
            raise Conflict("exists")
        self.items[driveway.driveway_id] = driveway

    def get(self, driveway_id: str) -> Driveway | None:
        return self.items.get(driveway_id)

    def save_listing(self, driveway: Driveway, *, expected_version: int) -> Driveway:
        current = self.items[driveway.driveway_id]
        if current.version != expected_version:
            raise Conflict("changed")
        stored = replace(driveway, version=expected_version + 1, blackouts=current.blackouts, photos=current.photos)
        self.items[driveway.driveway_id] = stored
        return stored

    def _bounded(self, driveway_id: str, count: int, max_count: int) -> Driveway:
        current = self.items[driveway_id]
        if not current.is_active:
            raise InvalidState("inactive")
        if count >= max_count:
            raise Conflict("full")
        return current

    def add_blackout(self, driveway_id: str, blackout: Blackout, *, drop: Iterable[str], max_count: int) -> None:
        current = self._bounded(driveway_id, len(self.items[driveway_id].blackouts), max_count)
        kept = tuple(b for b in current.blackouts if b.blackout_id not in set(drop))
        self.items[driveway_id] = replace(current, blackouts=(*kept, blackout))

    def add_photo(self, driveway_id: str, photo: Photo, *, max_count: int) -> None:
        current = self._bounded(driveway_id, len(self.items[driveway_id].photos), max_count)
        self.items[driveway_id] = replace(current, photos=(*current.photos, photo))

    def mark_photo_ready(self, driveway_id: str, photo_id: str, size_bytes: int) -> None:
        current = self.items[driveway_id]
        photos = tuple(replace(p, status="ready", size_bytes=size_bytes) if p.photo_id == photo_id else p
                       for p in current.photos)
        self.items[driveway_id] = replace(current, photos=photos)

    def remove_photo(self, driveway_id: str, photo_id: str) -> None:
        current = self.items[driveway_id]
        self.items[driveway_id] = replace(current, photos=tuple(p for p in current.photos if p.photo_id != photo_id))

    def list_by_host(self, host_id: str, *, limit: int, cursor: str | None) -> Page:
        mine = sorted((d for d in self.items.values() if d.host_id == host_id), key=lambda d: d.created_at,
                      reverse=True)
        start = int(cursor or 0)
        return Page(mine[start:start + limit], str(start + limit) if start + limit < len(mine) else None)

    def find_near(self, lat: float, lng: float, radius_m: float) -> Nearby:
        matches = [(d, haversine_m(lat, lng, d.lat, d.lng)) for d in self.items.values() if d.is_active]
        return Nearby([m for m in matches if m[1] <= radius_m], queries=1, items_read=len(matches))


@dataclass
class FakeCalendars:
    booked: dict[str, list[Interval]] = field(default_factory=dict)
    batch_reads: int = 0

    def live_intervals(self, driveway_id: str) -> list[Interval]:
        return list(self.booked.get(driveway_id, []))

    def live_intervals_many(self, driveway_ids: Sequence[str]) -> dict[str, list[Interval]]:
        self.batch_reads += 1
        return {i: list(self.booked[i]) for i in driveway_ids if i in self.booked}


@dataclass
class FakePhotos:
    objects: dict[str, ObjectInfo] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)

    def presign_upload(self, key: str, content_type: str, max_bytes: int, expires_in: timedelta) -> UploadTicket:
        return UploadTicket("https://photos.example", {"key": key, "Content-Type": content_type}, NOW + expires_in)

    def head(self, key: str) -> ObjectInfo | None:
        return self.objects.get(key)

    def delete(self, key: str) -> None:
        self.deleted.append(key)
        self.objects.pop(key, None)

    def download_url(self, key: str, expires_in: timedelta) -> str:
        return f"https://photos.example/{key}?signed"


@dataclass
class World:
    store: FakeStore = field(default_factory=FakeStore)
    calendars: FakeCalendars = field(default_factory=FakeCalendars)
    photos: FakePhotos = field(default_factory=FakePhotos)
    now: datetime = NOW
    ids: Any = field(default_factory=lambda: (f"id-{i:04d}" for i in itertools.count()))

    @property
    def service(self) -> DrivewayService:
        return DrivewayService(self.store, self.photos, clock=lambda: self.now, new_id=lambda: next(self.ids))

    def create(self, principal: Principal = HOST, **overrides: Any) -> Driveway:
        return self.service.create(principal, listing(**overrides))

    def search(self, **params: Any) -> dict[str, Any]:
        query = SearchQuery.parse(**({"lat": AUSTIN[0], "lng": AUSTIN[1], "radius_m": 2_000} | params))
        return search_driveways(self.store, self.calendars, query, platform_fee_bps=FEE).to_dict()


def listing(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Driveway on Congress",
        "address": {"line1": "1 Congress Ave", "city": "Austin", "region": "TX", "postal_code": "78701",
                    "country": "US"},
        "location": {"lat": AUSTIN[0], "lng": AUSTIN[1]},
        "timezone": "America/Chicago",
        "vehicle_size": "standard",
        "amenities": ["covered"],
        "pricing": {"currency": "usd", "hourly_cents": 400, "daily_cents": 2400},
        "availability": {"weekly": [{"day": d, "start": "07:00", "end": "22:00"} for d in range(7)]},
    }
    body.update(overrides)
    return body


def north_of(metres: float) -> dict[str, float]:
    return {"lat": AUSTIN[0] + metres / 111_195.0, "lng": AUSTIN[1]}


def at(day: int, hour: int) -> datetime:
    """UTC instant for Austin local time (CST, UTC-6) on 2026-12-<day>."""
    return datetime(2026, 12, day, hour, tzinfo=UTC) + timedelta(hours=6)


@pytest.fixture
def world() -> World:
    return World()


# ---- create and validate ------------------------------------------------------------------------------


def test_a_host_creates_an_active_listing_with_defaults(world: World) -> None:
    driveway = world.create()

    assert driveway.host_id == "host-1" and driveway.status == "active" and driveway.version == 1
    assert driveway.geofence_radius_m == dw.DEFAULT_GEOFENCE_M and driveway.instant_book is False
    assert driveway.rates == Rates("usd", 400, 2400) and len(driveway.weekly) == 7
    assert world.store.get(driveway.driveway_id) == driveway


@pytest.mark.parametrize(
    ("overrides", "field_name"),
    [
        ({"location": {"lat": 91, "lng": 0}}, "location.lat"),
        ({"location": {"lat": 0, "lng": 180.5}}, "location.lng"),
        ({"location": {"lat": float("nan"), "lng": 0}}, "location.lat"),
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"vehicle_size": "bus"}, "vehicle_size"),
        ({"amenities": ["covered", "moat"]}, "amenities[1]"),
        ({"pricing": {"currency": "xyz", "hourly_cents": 100}}, "pricing.currency"),
        ({"pricing": {"currency": "usd", "hourly_cents": 0}}, "pricing.hourly_cents"),
        ({"pricing": {"currency": "usd", "hourly_cents": 2.5}}, "pricing.hourly_cents"),
        ({"pricing": {"currency": "usd", "hourly_cents": 100, "monthly_cents": True}}, "pricing.monthly_cents"),
        ({"availability": {"weekly": [{"day": 0, "start": "10:00", "end": "12:00"},
                                      {"day": 0, "start": "11:59", "end": "13:00"}]}}, "availability.weekly[1]"),
        ({"availability": {"weekly": [{"day": 0, "start": "10:00", "end": "10:00"}]}}, "availability.weekly[0].end"),
        ({"availability": {"weekly": []}}, "availability.weekly"),
        ({"geofence_radius_m": 2}, "geofence_radius_m"),
        ({"address": {"line1": "x", "city": "y", "region": "z", "postal_code": "1", "country": "USA"}},
         "address.country"),
        ({"title": "  "}, "title"),
        ({"status": "inactive"}, "status"),
    ],
)
def test_invalid_listings_are_refused_naming_the_field(world: World, overrides: dict[str, Any],
                                                       field_name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        world.create(**overrides)
    assert refused.value.field == field_name
    assert refused.value.details == [{"field": field_name, "message": refused.value.message}]


def test_a_missing_required_field_is_named(world: World) -> None:
    body = listing()
    del body["pricing"]
    with pytest.raises(InvalidInput) as refused:
        world.service.create(HOST, body)
    assert refused.value.field == "pricing"


# ---- ownership, update, deactivate --------------------------------------------------------------------


def test_only_the_owner_or_an_admin_changes_a_driveway(world: World) -> None:
    driveway = world.create()

    with pytest.raises(NotOwner):
        world.service.update(OTHER_HOST, driveway.driveway_id, {"title": "Stolen"})
    with pytest.raises(NotOwner):
        world.service.deactivate(OTHER_HOST, driveway.driveway_id)
    with pytest.raises(NotOwner):
        world.service.add_blackout(OTHER_HOST, driveway.driveway_id, NOW + timedelta(days=1), NOW + timedelta(days=2))
    with pytest.raises(NotOwner):
        world.service.create_photo_upload(OTHER_HOST, driveway.driveway_id, "image/png")
    assert world.service.update(ADMIN, driveway.driveway_id, {"title": "Fixed by support"}).title == "Fixed by support"


def test_a_patch_replaces_only_the_fields_given_and_moves_the_version(world: World) -> None:
    driveway = world.create()
    world.now = NOW + timedelta(hours=1)

    updated = world.service.update(HOST, driveway.driveway_id, {"pricing": {"currency": "eur", "hourly_cents": 300},
                                                                "location": north_of(100)})

    assert updated.rates == Rates("eur", 300) and updated.lat == pytest.approx(north_of(100)["lat"])
    assert updated.title == driveway.title and updated.version == 2 and updated.updated_at == world.now


def test_a_patch_validates_like_create_and_refuses_nulls_and_empty_bodies(world: World) -> None:
    driveway = world.create()
    for changes, name in (({"timezone": "Nowhere/City"}, "timezone"), ({"instant_book": None}, "instant_book"),
                          ({}, "body")):
        with pytest.raises(InvalidInput) as refused:
            world.service.update(HOST, driveway.driveway_id, changes)
        assert refused.value.field == name


def test_a_concurrent_change_makes_the_patch_fail_with_conflict(world: World) -> None:
    driveway = world.create()
    original_get = world.store.get

    def stale_get(driveway_id: str) -> Driveway | None:
        found = original_get(driveway_id)
        assert found is not None
        world.store.save_listing(found, expected_version=found.version)  # someone else writes first
        return found

    world.store.get = stale_get  # type: ignore[method-assign]
    with pytest.raises(Conflict):
        world.service.update(HOST, driveway.driveway_id, {"title": "Mine"})


def test_deactivation_is_idempotent_and_freezes_the_listing(world: World) -> None:
    driveway = world.create()

    first = world.service.deactivate(HOST, driveway.driveway_id)
    again = world.service.deactivate(HOST, driveway.driveway_id)

    assert first.status == again.status == "inactive" and again.version == 2
    with pytest.raises(InvalidState):
        world.service.update(HOST, driveway.driveway_id, {"title": "x"})
    with pytest.raises(InvalidState):
        world.service.add_blackout(HOST, driveway.driveway_id, NOW + timedelta(days=1), NOW + timedelta(days=2))
    with pytest.raises(NotFound):
        world.service.view(DRIVER, driveway.driveway_id)
    assert world.service.view(HOST, driveway.driveway_id)["status"] == "inactive"


def test_mine_pages_through_the_callers_listings(world: World) -> None:
    ids = [world.create().driveway_id for _ in range(3)]
    world.create(OTHER_HOST)

    first = world.service.list_mine(HOST, limit=2, cursor=None)
    second = world.service.list_mine(HOST, limit=2, cursor=first.next_cursor)

    assert {d.driveway_id for d in first.items + second.items} == set(ids) and second.next_cursor is None
    with pytest.raises(InvalidInput):
        world.service.list_mine(HOST, limit=0, cursor=None)


# ---- views --------------------------------------------------------------------------------------------


def test_other_users_see_public_fields_and_the_owner_and_admins_see_everything(world: World) -> None:
    driveway = world.create()
    world.service.add_blackout(HOST, driveway.driveway_id, NOW + timedelta(days=1), NOW + timedelta(days=2), "repairs")

    public = world.service.view(DRIVER, driveway.driveway_id)
    owner = world.service.view(HOST, driveway.driveway_id)

    assert public["address"] == {"city": "Austin", "region": "TX", "postal_code": "78701", "country": "US"}
    assert not {"host_id", "blackouts", "pending_photos", "version"} & set(public)
    assert owner["address"]["line1"] == "1 Congress Ave" and owner["blackouts"][0]["reason"] == "repairs"
    assert world.service.view(ADMIN, driveway.driveway_id)["host_id"] == "host-1"
    with pytest.raises(NotFound):
        world.service.view(DRIVER, "missing")


# ---- blackouts ----------------------------------------------------------------------------------------


def test_blackout_windows_are_validated(world: World) -> None:
    driveway = world.create()
    service = world.service
    cases = [
        ((NOW + timedelta(days=2), NOW + timedelta(days=1)), "end"),
        ((NOW - timedelta(days=3), NOW - timedelta(days=2)), "end"),
        ((datetime(2026, 12, 1), datetime(2026, 12, 2)), "start"),
        ((NOW, NOW + timedelta(days=400)), "end"),
    ]
    for (start, end), name in cases:
        with pytest.raises(InvalidInput) as refused:
            service.add_blackout(HOST, driveway.driveway_id, start, end)
        assert refused.value.field == name


def test_old_blackouts_are_pruned_and_live_ones_are_bounded(world: World) -> None:
    driveway = world.create()
    service = world.service
    service.add_blackout(HOST, driveway.driveway_id, NOW + timedelta(hours=1), NOW + timedelta(hours=2))
    world.now = NOW + timedelta(days=5)

    service.add_blackout(HOST, driveway.driveway_id, world.now + timedelta(hours=1), world.now + timedelta(hours=2))
    assert len(world.store.items[driveway.driveway_id].blackouts) == 1  # the first one ended 5 days ago

    for i in range(dw.MAX_BLACKOUTS - 1):
        start = world.now + timedelta(days=1 + i)
        service.add_blackout(HOST, driveway.driveway_id, start, start + timedelta(hours=1))
    with pytest.raises(Conflict):
        service.add_blackout(HOST, driveway.driveway_id, world.now + timedelta(days=300),
                             world.now + timedelta(days=301))


# ---- photos -------------------------------------------------------------------------------------------


def test_a_photo_upload_is_a_presigned_post_for_an_image_under_the_driveways_prefix(world: World) -> None:
    driveway = world.create()

    with pytest.raises(InvalidInput) as refused:
        world.service.create_photo_upload(HOST, driveway.driveway_id, "image/gif")
    assert refused.value.field == "content_type"

    upload = world.service.create_photo_upload(HOST, driveway.driveway_id, "image/webp")
    assert upload["method"] == "POST" and upload["max_bytes"] == dw.MAX_PHOTO_BYTES
    assert upload["fields"]["key"] == f"driveways/{driveway.driveway_id}/photos/{upload['photo_id']}"


def test_an_uploaded_photo_appears_on_the_next_read_and_a_bad_one_is_deleted(world: World) -> None:
    driveway = world.create()
    good = world.service.create_photo_upload(HOST, driveway.driveway_id, "image/jpeg")
    huge = world.service.create_photo_upload(HOST, driveway.driveway_id, "image/jpeg")
    lying = world.service.create_photo_upload(HOST, driveway.driveway_id, "image/png")
    missing = world.service.create_photo_upload(HOST, driveway.driveway_id, "image/png")
    world.photos.objects[good["fields"]["key"]] = ObjectInfo(200_000, "image/jpeg")
    world.photos.objects[huge["fields"]["key"]] = ObjectInfo(dw.MAX_PHOTO_BYTES + 1, "image/jpeg")
    world.photos.objects[lying["fields"]["key"]] = ObjectInfo(1_000, "text/html")

    public = world.service.view(DRIVER, driveway.driveway_id)

    assert [p["photo_id"] for p in public["photos"]] == [good["photo_id"]]
    assert public["photos"][0]["url"].endswith("?signed")
    assert sorted(world.photos.deleted) == sorted([huge["fields"]["key"], lying["fields"]["key"]])
    owner = world.service.view(HOST, driveway.driveway_id)
    assert [p["photo_id"] for p in owner["pending_photos"]] == [missing["photo_id"]]

    world.now = NOW + dw.PHOTO_UPLOAD_TTL + timedelta(minutes=6)  # the presigned POST has expired
    assert world.service.view(HOST, driveway.driveway_id)["pending_photos"] == []


def test_photos_are_bounded(world: World) -> None:
    driveway = world.create()
    for _ in range(dw.MAX_PHOTOS):
        world.service.create_photo_upload(HOST, driveway.driveway_id, "image/jpeg")
    with pytest.raises(Conflict):
        world.service.create_photo_upload(HOST, driveway.driveway_id, "image/jpeg")


# ---- quote --------------------------------------------------------------------------------------------


def test_a_quote_is_pricing_quote_with_its_breakdown_and_availability(world: World) -> None:
    driveway = world.create()
    start, end = at(1, 9), at(2, 11)

    answer = quote_booking(world.store, world.calendars, driveway.driveway_id, start, end, platform_fee_bps=FEE)

    expected = quote(driveway.rates, start, end, platform_fee_bps=FEE).to_dict()
    assert {k: answer[k] for k in expected} == expected
    assert answer["available"] is False  # it runs through the night, outside 07:00-22:00
    day = quote_booking(world.store, world.calendars, driveway.driveway_id, at(1, 9), at(1, 17), platform_fee_bps=FEE)
    assert day["available"] is True and day["total_cents"] == quote(driveway.rates, at(1, 9), at(1, 17)).total_cents


def test_a_quote_is_unavailable_during_a_blackout_or_a_booking(world: World) -> None:
    driveway = world.create()
    world.service.add_blackout(HOST, driveway.driveway_id, at(3, 12), at(3, 13))
    world.calendars.booked[driveway.driveway_id] = [Interval(at(4, 12), at(4, 13))]

    def available(start: datetime, end: datetime) -> bool:
        return bool(quote_booking(world.store, world.calendars, driveway.driveway_id, start, end,
                                  platform_fee_bps=FEE)["available"])

    assert not available(at(3, 10), at(3, 14)) and not available(at(4, 12), at(4, 14))
    assert available(at(3, 13), at(3, 15)) and available(at(4, 13), at(4, 15))


def test_a_quote_refuses_bad_windows_and_unknown_or_inactive_driveways(world: World) -> None:
    driveway = world.create()
    with pytest.raises(InvalidInput) as refused:
        quote_booking(world.store, world.calendars, driveway.driveway_id, at(1, 10), at(1, 9), platform_fee_bps=FEE)
    assert refused.value.field == "end"
    with pytest.raises(NotFound):
        quote_booking(world.store, world.calendars, "missing", at(1, 9), at(1, 10), platform_fee_bps=FEE)
    world.service.deactivate(HOST, driveway.driveway_id)
    with pytest.raises(NotFound):
        quote_booking(world.store, world.calendars, driveway.driveway_id, at(1, 9), at(1, 10), platform_fee_bps=FEE)


# ---- search -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field_name"),
    [
        ({"lat": 91}, "lat"),
        ({"lng": -200}, "lng"),
        ({"radius_m": 50_000}, "radius_m"),
        ({"radius_m": 0}, "radius_m"),
        ({"start": at(1, 10), "end": at(1, 9)}, "end"),
        ({"start": at(1, 10)}, "end"),
        ({"end": at(1, 10)}, "start"),
        ({"start": at(1, 10), "end": at(1, 10) + timedelta(days=90)}, "end"),
        ({"amenities": "covered,helipad"}, "amenities[1]"),
        ({"max_price_cents": 0}, "max_price_cents"),
        ({"vehicle_size": "bus"}, "vehicle_size"),
        ({"sort": "rating"}, "sort"),
        ({"limit": 101}, "limit"),
    ],
)
def test_bad_searches_are_refused_naming_the_parameter(params: dict[str, Any], field_name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        SearchQuery.parse(**({"lat": AUSTIN[0], "lng": AUSTIN[1], "radius_m": 1_000} | params))
    assert refused.value.field == field_name


def ids(answer: dict[str, Any]) -> list[str]:
    return [item["driveway_id"] for item in answer["items"]]


def test_search_finds_driveways_within_the_radius_nearest_first(world: World) -> None:
    near = world.create(location=north_of(300)).driveway_id
    nearer = world.create(location=north_of(100)).driveway_id
    world.create(location=north_of(2_500))

    answer = world.search(radius_m=1_000)

    assert ids(answer) == [nearer, near]
    first = answer["items"][0]
    assert first["distance_m"] == pytest.approx(100, abs=1) and first["location"]["lat"] == north_of(100)["lat"]
    assert set(first) >= {"driveway_id", "title", "location", "distance_m", "quote", "amenities", "instant_book"}
    assert first["quote"] == {"total_cents": quote(Rates("usd", 400, 2400), at(1, 9), at(1, 10)).total_cents,
                              "currency": "usd"}


def test_only_driveways_free_for_the_whole_window_are_found(world: World) -> None:
    free = world.create(location=north_of(100)).driveway_id
    blacked = world.create(location=north_of(200)).driveway_id
    booked = world.create(location=north_of(300)).driveway_id
    daytime_only = world.create(location=north_of(400), availability={
        "weekly": [{"day": d, "start": "09:00", "end": "12:00"} for d in range(7)]}).driveway_id
    world.service.add_blackout(HOST, blacked, at(1, 10), at(1, 12))
    world.calendars.booked[booked] = [Interval(at(1, 9), at(1, 10))]

    assert ids(world.search(start=at(1, 8), end=at(1, 13))) == [free]
    assert ids(world.search(start=at(1, 9), end=at(1, 11))) == [free, daytime_only]
    assert ids(world.search(start=at(1, 10), end=at(1, 11))) == [free, booked, daytime_only]
    assert ids(world.search()) == [free, blacked, booked, daytime_only]  # no window: no availability filter


def test_calendars_are_read_once_per_search_and_only_with_a_window(world: World) -> None:
    world.create(location=north_of(100))
    world.search()
    assert world.calendars.batch_reads == 0
    world.search(start=at(1, 9), end=at(1, 10))
    assert world.calendars.batch_reads == 1


def test_filters_amenities_vehicle_size_and_price(world: World) -> None:
    covered_ev = world.create(location=north_of(100), amenities=["covered", "ev_charger"]).driveway_id
    compact = world.create(location=north_of(200), vehicle_size="compact").driveway_id
    large = world.create(location=north_of(300), vehicle_size="large").driveway_id
    pricey = world.create(location=north_of(400), pricing={"currency": "usd", "hourly_cents": 5_000}).driveway_id

    assert ids(world.search(amenities="ev_charger,covered")) == [covered_ev]
    assert compact not in ids(world.search(vehicle_size="standard"))
    assert ids(world.search(vehicle_size="large")) == [large]
    two_hours = quote(Rates("usd", 400, 2400), at(1, 9), at(1, 11), platform_fee_bps=FEE).total_cents
    cheap = world.search(start=at(1, 9), end=at(1, 11), max_price_cents=two_hours)
    assert pricey not in ids(cheap) and len(ids(cheap)) == 3
    assert all(item["quote"]["total_cents"] == two_hours for item in cheap["items"])


def test_sort_by_price_then_distance(world: World) -> None:
    dear = world.create(location=north_of(100), pricing={"currency": "usd", "hourly_cents": 900}).driveway_id
    cheap_far = world.create(location=north_of(900), pricing={"currency": "usd", "hourly_cents": 300}).driveway_id
    cheap_near = world.create(location=north_of(500), pricing={"currency": "usd", "hourly_cents": 300}).driveway_id

    assert ids(world.search(sort="price")) == [cheap_near, cheap_far, dear]
    assert ids(world.search(sort="distance")) == [dear, cheap_near, cheap_far]


def test_a_cursor_belongs_to_its_query(world: World) -> None:
    for i in range(3):
        world.create(location=north_of(100 * (i + 1)))
    first = world.search(limit=2)
    assert first["next_cursor"]

    for bad_cursor in (first["next_cursor"], "not-a-cursor", "e30"):
        with pytest.raises(InvalidInput) as refused:
            world.search(limit=2, radius_m=1_500, cursor=bad_cursor)
        assert refused.value.field == "cursor"


@settings(max_examples=40, deadline=None)
@given(
    distances=st.lists(st.integers(min_value=0, max_value=1_900), min_size=0, max_size=12),
    prices=st.lists(st.sampled_from([250, 300, 450]), min_size=12, max_size=12),
    limit=st.integers(min_value=1, max_value=5),
    sort=st.sampled_from(["distance", "price"]),
)
def test_pages_concatenate_to_the_whole_sorted_result(distances: list[int], prices: list[int], limit: int,
                                                      sort: str) -> None:
    world = World()
    for distance, price in zip(distances, prices, strict=False):
        world.create(location=north_of(distance), pricing={"currency": "usd", "hourly_cents": price})
    whole = ids(world.search(sort=sort, limit=100))

    paged: list[str] = []
    cursor = None
    while True:
        page = world.search(sort=sort, limit=limit, cursor=cursor)
        paged += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == whole and len(whole) == len(distances)


def test_live_bookings_are_read_only_as_deep_as_the_requested_page(world: World) -> None:
    created = [world.create(location=north_of(10 * i)).driveway_id for i in range(60)]
    for booked in created[:24]:  # the 24 nearest are taken for the window
        world.calendars.booked[booked] = [Interval(at(1, 9), at(1, 10))]

    query = SearchQuery.parse(lat=AUSTIN[0], lng=AUSTIN[1], radius_m=2_000, start=at(1, 9), end=at(1, 11), limit=5)
    first = search_driveways(world.store, world.calendars, query, platform_fee_bps=FEE)

    assert [item["driveway_id"] for item in first.items] == created[24:29]
    assert first.stats.candidates == 60 and first.stats.calendar_checks == 25 + 25  # two chunks, not 60
    assert first.next_cursor is not None
