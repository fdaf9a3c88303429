"""The driveway handlers as API Gateway invokes them: the sample events in events/ (with the authorizer
context the REST authorizer adds), against the local cloud's DynamoDB and S3.

These run whether or not the gateway has an authorizer plugged in; tests/integration/test_driveways_http.py
covers the same flows over HTTP with real Cognito tokens.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from driveway_hub.auth.permissions import Principal
from driveway_hub.config import get_settings
from driveway_hub.data.base import bind_models
from driveway_hub.data.driveways import DrivewayItem, DrivewayPersonalData, DynamoDrivewayStore
from driveway_hub.domain.pricing import Rates, quote
from functions.driveways import (
    add_blackout,
    create_driveway,
    create_photo_upload,
    delete_driveway,
    get_driveway,
    list_my_driveways,
    quote_booking,
    search_driveways,
    update_driveway,
)
from functions.driveways.runtime import photos
from local.cloud import LocalCloud
from local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@pytest.fixture(scope="module", autouse=True)
def bound(local_cloud: LocalCloud) -> None:
    # The tests read items directly (DrivewayItem.get); the handlers bind on their own.
    bind_models(get_settings())


def principal(user_id: str, *roles: str) -> dict[str, str]:
    context = Principal.for_roles(user_id, roles).to_authorizer_context()
    return context | {"principalId": user_id}


HOST = principal("host-alice", "host")
OTHER_HOST = principal("host-bob", "host")
DRIVER = principal("driver-dan", "driver")
ADMIN = principal("admin-ada", "admin")


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return copy.deepcopy(event)


def call(module: Any, name: str, *, caller: dict[str, str] | None = None, body: Any = None,
         driveway_id: str | None = None, query: dict[str, str] | None = None, keep_body: bool = False,
         ) -> tuple[int, dict[str, Any]]:
    event = sample(name)
    if caller is not None:
        event["requestContext"]["authorizer"] = caller
    if not keep_body:
        event["body"] = None if body is None else json.dumps(body)
    if driveway_id is not None:
        event["pathParameters"] = {"driveway_id": driveway_id}
        event["path"] = event["resource"].replace("{driveway_id}", driveway_id)
    if query is not None:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    answer = module.handler(event, LocalLambdaContext(function_name=f"driveway-hub-local-{name}"))
    return answer["statusCode"], json.loads(answer["body"])


def listing(**overrides: Any) -> dict[str, Any]:
    body = json.loads(sample("create_driveway")["body"])
    body.update(overrides)
    return body


def create(caller: dict[str, str] = HOST, **overrides: Any) -> dict[str, Any]:
    status, body = call(create_driveway, "create_driveway", caller=caller, body=listing(**overrides))
    assert status == 201, body
    return body


def fields(body: dict[str, Any]) -> list[str]:
    return [d["field"] for d in body["error"]["details"]]


# ---- the sample events themselves --------------------------------------------------------------------


def test_every_sample_event_runs_against_its_handler() -> None:
    owned = create()
    dw = owned["driveway_id"]
    assert call(create_driveway, "create_driveway", keep_body=True)[0] == 201
    assert call(list_my_driveways, "list_my_driveways")[0] == 200
    assert call(get_driveway, "get_driveway", driveway_id=dw)[0] == 200
    assert call(update_driveway, "update_driveway", caller=owned_by(dw), driveway_id=dw, keep_body=True)[0] == 200
    assert call(add_blackout, "add_blackout", caller=owned_by(dw), driveway_id=dw, keep_body=True)[0] == 201
    assert call(create_photo_upload, "create_photo_upload", caller=owned_by(dw), driveway_id=dw,
                keep_body=True)[0] == 201
    assert call(search_driveways, "search_driveways")[0] == 200
    status, body = call(quote_booking, "quote_booking", body=json.loads(sample("quote_booking")["body"])
                        | {"driveway_id": dw})
    assert status == 200, body
    assert call(delete_driveway, "delete_driveway", caller=owned_by(dw), driveway_id=dw)[0] == 200


def owned_by(driveway_id: str) -> dict[str, str]:
    item = DrivewayItem.get(driveway_id)
    return principal(item.host_id, "host")


# ---- create -------------------------------------------------------------------------------------------


def test_a_host_creates_an_active_driveway_with_every_contract_field() -> None:
    body = create()

    assert body["status"] == "active" and body["driveway_id"]
    assert body["host_id"] == "host-alice"
    assert body["location"] == {"lat": 30.2588, "lng": -97.739}
    assert body["vehicle_size"] == "standard" and body["amenities"] == ["covered", "ev_charger"]
    assert body["pricing"] == {"currency": "usd", "hourly_cents": 400, "daily_cents": 2400, "monthly_cents": None}
    assert body["availability"]["weekly"][0] == {"day": 0, "start": "07:00", "end": "22:00"}
    assert body["address"]["line1"] == "71 Rainey St"
    assert body["instant_book"] is True and body["geofence_radius_m"] == 30


def test_a_driver_creating_a_driveway_gets_403() -> None:
    status, body = call(create_driveway, "create_driveway", caller=DRIVER, body=listing())

    assert status == 403 and body["error"]["code"] == "forbidden"


def test_no_authorizer_context_is_401() -> None:
    event = sample("create_driveway")
    del event["requestContext"]["authorizer"]
    answer = create_driveway.handler(event, LocalLambdaContext(function_name="x"))
    assert answer["statusCode"] == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"location": {"lat": 91, "lng": -97.7}}, "body.location.lat"),
        ({"location": {"lat": 30.2, "lng": -181}}, "body.location.lng"),
        ({"timezone": "America/Austin"}, "body.timezone"),
        ({"vehicle_size": "huge"}, "body.vehicle_size"),
        ({"amenities": ["covered", "helipad"]}, "body.amenities.1"),
        ({"pricing": {"currency": "btc", "hourly_cents": 400}}, "body.pricing.currency"),
        ({"pricing": {"currency": "usd", "hourly_cents": 0}}, "body.pricing.hourly_cents"),
        ({"pricing": {"currency": "usd", "hourly_cents": 4.5}}, "body.pricing.hourly_cents"),
        ({"pricing": {"currency": "usd", "hourly_cents": 400, "daily_cents": -1}}, "body.pricing.daily_cents"),
        ({"availability": {"weekly": [{"day": 0, "start": "09:00", "end": "12:00"},
                                      {"day": 0, "start": "11:00", "end": "13:00"}]}}, "body.availability.weekly"),
        ({"availability": {"weekly": [{"day": 7, "start": "09:00", "end": "12:00"}]}},
         "body.availability.weekly.0.day"),
        ({"availability": {"weekly": [{"day": 1, "start": "09:00", "end": "09:00"}]}}, "body.availability.weekly"),
        ({"geofence_radius_m": 5000}, "body.geofence_radius_m"),
        ({"owner": "someone-else"}, "body.owner"),
    ],
)
def test_bad_listing_input_is_400_naming_the_field(change: dict[str, Any], field: str) -> None:
    status, body = call(create_driveway, "create_driveway", caller=HOST, body=listing(**change))

    assert status == 400, body
    assert body["error"]["code"] == "invalid_request"
    assert field in fields(body)


def test_overlapping_windows_name_the_later_window_in_the_message() -> None:
    weekly = [{"day": 4, "start": "22:00", "end": "06:00"}, {"day": 5, "start": "05:00", "end": "08:00"}]
    status, body = call(create_driveway, "create_driveway", caller=HOST, body=listing(availability={"weekly": weekly}))

    assert status == 400
    assert "weekly[1] overlaps weekly[0]" in body["error"]["details"][0]["message"]


# ---- read, change, deactivate -------------------------------------------------------------------------


def test_other_users_see_public_fields_and_the_owner_sees_everything() -> None:
    dw = create()["driveway_id"]

    _, public = call(get_driveway, "get_driveway", caller=DRIVER, driveway_id=dw)
    _, full = call(get_driveway, "get_driveway", caller=HOST, driveway_id=dw)

    assert "line1" not in public["address"] and "host_id" not in public and "blackouts" not in public
    assert full["address"]["line1"] == "71 Rainey St" and full["blackouts"] == []
    assert call(get_driveway, "get_driveway", caller=ADMIN, driveway_id=dw)[1]["host_id"] == "host-alice"


def test_an_unknown_driveway_is_404() -> None:
    status, body = call(get_driveway, "get_driveway", caller=DRIVER, driveway_id="nope")
    assert status == 404 and body["error"]["code"] == "not_found"


def test_the_owner_patches_fields_and_the_version_moves() -> None:
    dw = create()["driveway_id"]

    status, body = call(update_driveway, "update_driveway", caller=HOST, driveway_id=dw,
                        body={"title": "Renamed", "location": {"lat": 30.27, "lng": -97.75}})

    assert status == 200, body
    assert body["title"] == "Renamed" and body["location"] == {"lat": 30.27, "lng": -97.75}
    assert body["version"] == 2 and body["pricing"]["hourly_cents"] == 400


def test_another_host_editing_gets_403_and_nothing_changes() -> None:
    dw = create()["driveway_id"]

    status, body = call(update_driveway, "update_driveway", caller=OTHER_HOST, driveway_id=dw, body={"title": "Mine"})

    assert status == 403 and body["error"]["code"] == "not_owner"
    assert DrivewayItem.get(dw).title == "Covered driveway by Rainey Street"
    for module, name, payload in ((delete_driveway, "delete_driveway", None),
                                  (add_blackout, "add_blackout", json.loads(sample("add_blackout")["body"])),
                                  (create_photo_upload, "create_photo_upload", None)):
        assert call(module, name, caller=OTHER_HOST, driveway_id=dw, body=payload)[0] == 403


def test_an_admin_may_edit_any_driveway() -> None:
    dw = create()["driveway_id"]
    status, body = call(update_driveway, "update_driveway", caller=ADMIN, driveway_id=dw, body={"instant_book": False})
    assert status == 200 and body["instant_book"] is False


def test_patch_refuses_null_for_a_required_field_and_unknown_fields() -> None:
    dw = create()["driveway_id"]

    status, body = call(update_driveway, "update_driveway", caller=HOST, driveway_id=dw, body={"title": None})
    assert status == 400 and fields(body) == ["body.title"]
    status, body = call(update_driveway, "update_driveway", caller=HOST, driveway_id=dw, body={"status": "active"})
    assert status == 400 and "body.status" in fields(body)


def test_deactivating_hides_the_driveway_from_others_and_from_the_geo_index() -> None:
    dw = create()["driveway_id"]

    status, body = call(delete_driveway, "delete_driveway", caller=HOST, driveway_id=dw)

    assert status == 200 and body["status"] == "inactive"
    item = DrivewayItem.get(dw)
    assert item.geo_parent is None and item.geo_cell is None
    assert call(get_driveway, "get_driveway", caller=DRIVER, driveway_id=dw)[0] == 404
    assert call(get_driveway, "get_driveway", caller=HOST, driveway_id=dw)[1]["status"] == "inactive"
    assert call(delete_driveway, "delete_driveway", caller=HOST, driveway_id=dw)[0] == 200  # idempotent
    status, body = call(update_driveway, "update_driveway", caller=HOST, driveway_id=dw, body={"title": "x"})
    assert status == 409 and body["error"]["code"] == "invalid_state"


def test_mine_lists_only_the_callers_driveways_newest_first_with_a_cursor() -> None:
    carol = principal("host-carol", "host")
    ids = [create(caller=carol, title=f"Spot {i}")["driveway_id"] for i in range(3)]
    create(caller=principal("host-dave", "host"))

    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        query = {"mine": "true", "limit": "2"} | ({"cursor": cursor} if cursor else {})
        status, body = call(list_my_driveways, "list_my_driveways", caller=carol, query=query)
        assert status == 200, body
        seen += [d["driveway_id"] for d in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 3


def test_mine_refuses_false_a_driver_and_a_cursor_from_another_host() -> None:
    erin = principal("host-erin", "host")
    for i in range(2):
        create(caller=erin, title=f"E{i}")
    _, first = call(list_my_driveways, "list_my_driveways", caller=erin, query={"mine": "true", "limit": "1"})
    assert first["next_cursor"]

    status, body = call(list_my_driveways, "list_my_driveways", caller=HOST,
                        query={"mine": "true", "cursor": first["next_cursor"]})
    assert status == 400 and fields(body) == ["query.cursor"]
    status, body = call(list_my_driveways, "list_my_driveways", caller=erin, query={"mine": "false"})
    assert status == 400 and fields(body) == ["query.mine"]
    assert call(list_my_driveways, "list_my_driveways", caller=DRIVER, query={"mine": "true"})[0] == 403


# ---- blackouts and photos -----------------------------------------------------------------------------


def test_blackouts_are_validated_and_listed_for_the_owner() -> None:
    dw = create()["driveway_id"]
    start = datetime.now(UTC) + timedelta(days=3)

    status, body = call(add_blackout, "add_blackout", caller=HOST, driveway_id=dw,
                        body={"start": start.isoformat(), "end": (start - timedelta(hours=1)).isoformat()})
    assert status == 400 and fields(body) == ["body.end"]
    status, body = call(add_blackout, "add_blackout", caller=HOST, driveway_id=dw,
                        body={"start": "2026-12-01T10:00:00", "end": "2026-12-01T12:00:00"})
    assert status == 400 and "body.start" in fields(body)

    status, body = call(add_blackout, "add_blackout", caller=HOST, driveway_id=dw,
                        body={"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat(),
                              "reason": "resurfacing"})
    assert status == 201 and body["reason"] == "resurfacing"
    _, full = call(get_driveway, "get_driveway", caller=HOST, driveway_id=dw)
    assert [b["blackout_id"] for b in full["blackouts"]] == [body["blackout_id"]]


def test_photo_upload_refuses_other_types_and_counts_against_the_limit() -> None:
    dw = create()["driveway_id"]

    status, body = call(create_photo_upload, "create_photo_upload", caller=HOST, driveway_id=dw,
                        body={"content_type": "image/gif"})
    assert status == 400 and "body.content_type" in fields(body)

    status, body = call(create_photo_upload, "create_photo_upload", caller=HOST, driveway_id=dw, body=None)
    assert status == 201, body
    assert body["method"] == "POST" and body["fields"]["Content-Type"] == "image/jpeg"
    assert body["fields"]["key"] == f"driveways/{dw}/photos/{body['photo_id']}"
    _, full = call(get_driveway, "get_driveway", caller=HOST, driveway_id=dw)
    assert [p["photo_id"] for p in full["pending_photos"]] == [body["photo_id"]] and full["photos"] == []


# ---- search and quote ---------------------------------------------------------------------------------


def test_search_and_quote_events_agree_with_pricing() -> None:
    dw = create(location={"lat": 30.2000, "lng": -97.9000}, amenities=["gated"])["driveway_id"]
    query = {"lat": "30.2001", "lng": "-97.9001", "radius_m": "500", "amenities": "gated",
             "start": "2026-12-01T09:00:00-06:00", "end": "2026-12-01T17:00:00-06:00"}

    status, found = call(search_driveways, "search_driveways", query=query)
    assert status == 200, found
    assert [i["driveway_id"] for i in found["items"]] == [dw]
    status, priced = call(quote_booking, "quote_booking", body={"driveway_id": dw, "start": query["start"],
                                                                "end": query["end"]})
    assert status == 200, priced

    expected = quote(Rates("usd", 400, 2400), datetime.fromisoformat(query["start"]),
                     datetime.fromisoformat(query["end"]), platform_fee_bps=get_settings().platform_fee_bps)
    assert priced["total_cents"] == expected.total_cents == found["items"][0]["quote"]["total_cents"]
    assert priced["breakdown"] == expected.to_dict()["breakdown"] and priced["available"] is True


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"lat": "91", "lng": "0", "radius_m": "1000"}, "query.lat"),
        ({"lat": "30", "lng": "0", "radius_m": "50000"}, "query.radius_m"),
        ({"lat": "30", "lng": "0", "radius_m": "1000", "start": "2026-12-01T10:00:00Z",
          "end": "2026-12-01T09:00:00Z"}, "query.end"),
        ({"lat": "30", "lng": "0", "radius_m": "1000", "amenities": "covered,helipad"}, "query.amenities[1]"),
        ({"lat": "30", "lng": "0", "radius_m": "1000", "start": "2026-12-01T10:00:00Z"}, "query.end"),
        ({"lat": "30", "lng": "0", "radius_m": "1000", "sort": "rating"}, "query.sort"),
        ({"lat": "30", "lng": "0", "radius_m": "1000", "cursor": "garbage!"}, "query.cursor"),
    ],
)
def test_bad_search_input_is_400_naming_the_field(query: dict[str, str], field: str) -> None:
    status, body = call(search_driveways, "search_driveways", query=query)

    assert status == 400, body
    assert field in fields(body)


def test_quote_of_an_unknown_driveway_is_404_and_a_backwards_window_400() -> None:
    body = {"driveway_id": "nope", "start": "2026-12-01T10:00:00Z", "end": "2026-12-01T12:00:00Z"}
    assert call(quote_booking, "quote_booking", body=body)[0] == 404
    dw = create()["driveway_id"]
    backwards = body | {"driveway_id": dw, "end": "2026-12-01T09:00:00Z"}
    status, answer = call(quote_booking, "quote_booking", body=backwards)
    assert status == 400 and fields(answer) == ["body.end"]


# ---- privacy ------------------------------------------------------------------------------------------


def test_a_hosts_listings_are_exported_and_erased_with_their_photos(local_cloud: LocalCloud) -> None:
    frank = principal("host-frank", "host")
    dw = create(caller=frank)["driveway_id"]
    _, upload = call(create_photo_upload, "create_photo_upload", caller=frank, driveway_id=dw)
    s3 = local_cloud.client("s3")
    s3.put_object(Bucket=get_settings().photo_bucket, Key=upload["fields"]["key"], Body=b"jpeg",
                  ContentType="image/jpeg")
    store = DrivewayPersonalData(DynamoDrivewayStore(), photos(get_settings()))

    exported = store.export("host-frank")
    store.erase("host-frank", datetime.now(UTC))

    assert [d["address"]["line1"] for d in exported] == ["71 Rainey St"]
    item = DrivewayItem.get(dw)
    assert item.status == "inactive" and item.geo_parent is None and "line1" not in item.address.as_dict()
    assert s3.list_objects_v2(Bucket=get_settings().photo_bucket, Prefix=f"driveways/{dw}/").get("KeyCount") == 0
    store.erase("host-frank", datetime.now(UTC))  # idempotent
