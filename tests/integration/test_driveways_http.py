"""Hosts and drivers over HTTP through the running local cloud: the local API Gateway with our REST
authorizer, Cognito (moto) tokens from register + login, our driveway handlers, DynamoDB and S3.

Routes exercised: functions.driveways.create_driveway, get_driveway, update_driveway, delete_driveway,
list_my_driveways, add_blackout, create_photo_upload, search_driveways, quote_booking."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from driveway_hub.config import get_settings
from driveway_hub.domain.pricing import Rates, quote
from local.cloud import LOCAL_API_KEY

pytestmark = pytest.mark.integration

PASSWORD = "Correct-Horse-42"
SPOT = (30.3105, -97.7420)  # Hyde Park, Austin
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048  # enough of a file for S3; nobody decodes it


@dataclass
class User:
    role: str
    token: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def signed_in(api: str, role: str) -> User:
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    registered = requests.post(f"{api}/auth/register", timeout=10,
                               json={"email": email, "password": PASSWORD, "name": f"Pat {role}", "role": role})
    assert registered.status_code == 201, registered.text
    login = requests.post(f"{api}/auth/login", json={"email": email, "password": PASSWORD}, timeout=10)
    assert login.status_code == 200, login.text
    return User(role, login.json()["access_token"])


def listing(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Shady driveway near the Hyde Park pool",
        "description": "Fits a Model Y.",
        "address": {"line1": "4206 Avenue D", "city": "Austin", "region": "TX", "postal_code": "78751",
                    "country": "US"},
        "location": {"lat": SPOT[0], "lng": SPOT[1]},
        "timezone": "America/Chicago",
        "vehicle_size": "standard",
        "amenities": ["covered", "ev_charger"],
        "pricing": {"currency": "usd", "hourly_cents": 350, "daily_cents": 2000},
        "instant_book": True,
        "availability": {"weekly": [{"day": d, "start": "00:00", "end": "24:00"} for d in range(7)]},
    }
    return body | overrides


def window(days_ahead: int, hours: int) -> tuple[str, str]:
    start = (datetime.now(UTC) + timedelta(days=days_ahead)).replace(hour=15, minute=0, second=0, microsecond=0)
    return start.isoformat(), (start + timedelta(hours=hours)).isoformat()


def search(api: str, start: str, end: str, headers: dict[str, str] | None = None, **params: Any) -> requests.Response:
    query: dict[str, Any] = {"lat": SPOT[0] + 0.002, "lng": SPOT[1], "radius_m": 1000, "start": start, "end": end}
    query |= params
    # Search is the partner door: API Gateway (and the local gateway) require the API key.
    return requests.get(f"{api}/search/driveways", params=query,
                        headers={"x-api-key": LOCAL_API_KEY, **(headers or {})}, timeout=30)


def fields(response: requests.Response) -> list[str]:
    return [d["field"] for d in response.json()["error"]["details"]]


def test_a_host_lists_a_driveway_and_a_driver_finds_prices_and_misses_it_during_a_blackout(api: str) -> None:
    host, driver = signed_in(api, "host"), signed_in(api, "driver")

    # Given a host's driveway with a photo and a blackout
    created = requests.post(f"{api}/driveways", json=listing(), headers=host.auth, timeout=10)
    assert created.status_code == 201, created.text
    driveway_id = created.json()["driveway_id"]

    upload = requests.post(f"{api}/driveways/{driveway_id}/photos", json={"content_type": "image/png"},
                           headers=host.auth, timeout=10)
    assert upload.status_code == 201, upload.text
    ticket = upload.json()
    stored = requests.post(ticket["upload_url"], data=ticket["fields"],
                           files={"file": ("driveway.png", PNG, "image/png")}, timeout=10)
    assert stored.status_code in (200, 201, 204), stored.text

    blackout_start, blackout_end = window(days_ahead=9, hours=24)
    blackout = requests.post(f"{api}/driveways/{driveway_id}/blackouts", headers=host.auth, timeout=10,
                             json={"start": blackout_start, "end": blackout_end, "reason": "Resurfacing"})
    assert blackout.status_code == 201, blackout.text

    # When the driver searches near it for a free afternoon
    start, end = window(days_ahead=8, hours=3)
    found = search(api, start, end, headers=driver.auth, amenities="covered")

    # Then it is there, priced as pricing.quote prices it
    assert found.status_code == 200, found.text
    [item] = [i for i in found.json()["items"] if i["driveway_id"] == driveway_id]
    expected = quote(Rates("usd", 350, 2000), datetime.fromisoformat(start), datetime.fromisoformat(end),
                     platform_fee_bps=get_settings().platform_fee_bps)
    assert item["quote"] == {"total_cents": expected.total_cents, "currency": "usd"}
    assert 200 <= item["distance_m"] <= 250 and item["instant_book"] is True

    priced = requests.post(f"{api}/bookings/quote", json={"driveway_id": driveway_id, "start": start, "end": end},
                           headers=driver.auth, timeout=10)
    assert priced.status_code == 200, priced.text
    assert priced.json() | {} == priced.json() and priced.json()["total_cents"] == expected.total_cents
    assert {k: priced.json()[k] for k in ("subtotal_cents", "platform_fee_cents", "currency", "breakdown")} == {
        k: expected.to_dict()[k] for k in ("subtotal_cents", "platform_fee_cents", "currency", "breakdown")}

    # ...and the photo shows, downloadable
    seen = requests.get(f"{api}/driveways/{driveway_id}", headers=driver.auth, timeout=10)
    assert seen.status_code == 200, seen.text
    [photo] = seen.json()["photos"]
    assert photo["photo_id"] == ticket["photo_id"]
    assert requests.get(photo["url"], timeout=10).content == PNG

    # But during the blackout it is not found, and the quote says it is not available
    during = search(api, *window(days_ahead=9, hours=2))
    assert driveway_id not in [i["driveway_id"] for i in during.json()["items"]]
    start_b, end_b = window(days_ahead=9, hours=2)
    assert requests.post(f"{api}/bookings/quote", json={"driveway_id": driveway_id, "start": start_b, "end": end_b},
                         timeout=10).json()["available"] is False


def test_search_and_quote_are_public_and_mine_lists_the_hosts_own(api: str) -> None:
    host = signed_in(api, "host")
    created = requests.post(f"{api}/driveways", json=listing(location={"lat": SPOT[0] + 0.003, "lng": SPOT[1]}),
                            headers=host.auth, timeout=10).json()

    assert search(api, *window(days_ahead=3, hours=1)).status_code == 200  # no token at all
    mine = requests.get(f"{api}/driveways", params={"mine": "true"}, headers=host.auth, timeout=10)
    assert mine.status_code == 200 and [d["driveway_id"] for d in mine.json()["items"]] == [created["driveway_id"]]
    assert requests.get(f"{api}/driveways/{created['driveway_id']}", timeout=10).status_code == 401


def test_a_driver_creating_a_driveway_gets_403(api: str) -> None:
    driver = signed_in(api, "driver")

    answer = requests.post(f"{api}/driveways", json=listing(), headers=driver.auth, timeout=10)

    assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"


def test_another_host_editing_gets_403(api: str) -> None:
    owner, other = signed_in(api, "host"), signed_in(api, "host")
    driveway_id = requests.post(f"{api}/driveways", json=listing(), headers=owner.auth, timeout=10).json()[
        "driveway_id"]

    patched = requests.patch(f"{api}/driveways/{driveway_id}", json={"title": "Mine now"}, headers=other.auth,
                             timeout=10)
    deleted = requests.delete(f"{api}/driveways/{driveway_id}", headers=other.auth, timeout=10)

    assert patched.status_code == 403 and patched.json()["error"]["code"] == "not_owner"
    assert deleted.status_code == 403
    mine = requests.get(f"{api}/driveways/{driveway_id}", headers=owner.auth, timeout=10).json()
    assert mine["title"] == listing()["title"] and mine["status"] == "active"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lat": 91}, "query.lat"),
        ({"radius_m": 50_000}, "query.radius_m"),
        ({"swap": True}, "query.end"),
        ({"amenities": "covered,helipad"}, "query.amenities[1]"),
    ],
)
def test_bad_search_input_is_400_naming_the_field(api: str, params: dict[str, Any], field: str) -> None:
    start, end = window(days_ahead=2, hours=2)
    if params.pop("swap", False):
        start, end = end, start

    answer = search(api, start, end, **params)

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_request" and field in fields(answer)


def test_a_listing_with_an_unknown_amenity_or_a_bad_location_is_400_naming_the_field(api: str) -> None:
    host = signed_in(api, "host")

    unknown = requests.post(f"{api}/driveways", json=listing(amenities=["covered", "helipad"]), headers=host.auth,
                            timeout=10)
    off_earth = requests.post(f"{api}/driveways", json=listing(location={"lat": 91, "lng": 0}), headers=host.auth,
                              timeout=10)

    assert unknown.status_code == 400 and fields(unknown) == ["body.amenities.1"]
    assert off_earth.status_code == 400 and fields(off_earth) == ["body.location.lat"]
