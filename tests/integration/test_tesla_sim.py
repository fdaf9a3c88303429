"""The Tesla simulator over real HTTP, with a manual clock: it must behave as research/tesla.md says."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from driveway_hub.telemetry_signing import verify
from local.tesla_sim import FaultKind, SimConfig, SimError, SimUser, TeslaSimulator, VehicleSpec, run_in_thread
from local.tesla_sim.geo import LatLng, distance_m

pytestmark = pytest.mark.integration

T0 = 1_767_268_800.0  # 2026-01-01T12:00:00Z
ONLINE_VIN = "5YJ3E1EA7KF000001"
ASLEEP_VIN = "5YJ3E1EA7KF000002"
SIGNED_VIN = "7SAYGDEE1PA000003"  # a Model Y: Vehicle Command Protocol only, key not paired yet
START = LatLng(45.5200, -122.6800)
DRIVEWAY = LatLng(45.5290, -122.6710)  # about 1.7 km away by grid streets
DRIVEWAY_ADDRESS = "1234 NE Example St, Portland, OR 97212"
GEOFENCE_M = 40.0
CALLBACK = "http://127.0.0.1:8000/v1/tesla/callback"
ALL_SCOPES = "openid offline_access vehicle_device_data vehicle_location vehicle_cmds"
TELEMETRY_SECRET = b"test-telemetry-secret"  # made up for the tests


class ManualClock:
    def __init__(self, start: float = T0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class Env:
    sim: TeslaSimulator
    clock: ManualClock
    base: str
    config: SimConfig

    def url(self, path: str) -> str:
        return self.base + path

    def step(self, seconds: float) -> None:
        """Advance virtual time and move the cars to it."""
        self.clock.advance(seconds)
        self.sim.tick()


@pytest.fixture
def env() -> Iterator[Env]:
    config = SimConfig(
        users=(
            SimUser(email="driver@example.com", user_id="user-na"),
            SimUser(email="eu-driver@example.com", user_id="user-eu", region="eu"),
        ),
        vehicles=(
            VehicleSpec(ONLINE_VIN, "Roadie", START.lat, START.lng),
            VehicleSpec(ASLEEP_VIN, "Sleepy", START.lat, START.lng, state="asleep"),
            VehicleSpec(SIGNED_VIN, "Modern", START.lat, START.lng, requires_signed_commands=True, key_paired=False),
        ),
        wake_after_polls=2,
        wake_after_s=30.0,
    )
    clock = ManualClock()
    sim = TeslaSimulator(config, now=clock)
    sim.register_address(DRIVEWAY_ADDRESS, DRIVEWAY.lat, DRIVEWAY.lng)
    base, stop = run_in_thread(sim, tick_interval_s=0.05)
    try:
        yield Env(sim, clock, base, config)
    finally:
        stop()


# --- helpers ------------------------------------------------------------------------------------------


def authorize(env: Env, **overrides: str) -> requests.Response:
    params = {
        "response_type": "code",
        "client_id": env.config.client_id,
        "redirect_uri": CALLBACK,
        "scope": ALL_SCOPES,
        "state": "state-123",
    } | overrides
    return requests.get(env.url("/oauth2/v3/authorize"), params=params, allow_redirects=False, timeout=5)


def code_from(response: requests.Response) -> str:
    return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


def exchange(env: Env, code: str, **overrides: str) -> requests.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": env.config.client_id,
        "client_secret": env.config.client_secret,
        "code": code,
        "redirect_uri": CALLBACK,
        "audience": env.base,
    } | overrides
    return requests.post(env.url("/oauth2/v3/token"), data=form, timeout=5)


def refresh(env: Env, refresh_token: str) -> requests.Response:
    form = {"grant_type": "refresh_token", "client_id": env.config.client_id, "refresh_token": refresh_token}
    return requests.post(env.url("/oauth2/v3/token"), data=form, timeout=5)


def link(env: Env, scope: str = ALL_SCOPES, login_hint: str | None = None) -> dict[str, Any]:
    extra = {"login_hint": login_hint} if login_hint else {}
    tokens = exchange(env, code_from(authorize(env, scope=scope, **extra))).json()
    assert "access_token" in tokens
    return tokens


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def get(env: Env, path: str, tokens: dict[str, Any]) -> requests.Response:
    return requests.get(env.url(path), headers=bearer(tokens), timeout=5)


def post(env: Env, path: str, tokens: dict[str, Any], body: Any = None) -> requests.Response:
    return requests.post(env.url(path), headers=bearer(tokens), json=body, timeout=5)


def navigate(env: Env, tokens: dict[str, Any], text: str, vin: str = ONLINE_VIN, prefix: str = "") -> requests.Response:
    body = {
        "type": "share_ext_content_raw",
        "value": {"android.intent.extra.TEXT": text},
        "locale": "en-US",
        "timestamp_ms": str(int(env.clock() * 1000)),
    }
    return post(env, f"{prefix}/api/1/vehicles/{vin}/command/navigation_request", tokens, body)


def drive_until(env: Env, phase: str, step_s: float = 20.0, limit_s: float = 3600.0) -> list[Any]:
    """Step the clock until the car reaches ``phase``; returns the views seen on the way."""
    seen = []
    for _ in range(int(limit_s / step_s)):
        env.step(step_s)
        view = env.sim.vehicle(ONLINE_VIN)
        seen.append(view)
        if view.phase == phase:
            return seen
    raise AssertionError(f"car never reached {phase}; last phase {seen[-1].phase}")


def wait_for(predicate: Callable[[], bool], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


@dataclass
class Receiver:
    """Our webhook, reduced to recording what it got; answers ``statuses`` in order, then 204."""

    statuses: list[int] = field(default_factory=list)
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                if status < 300:
                    receiver.got.append((dict(self.headers.items()), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/webhooks/tesla/telemetry"

    def expect_more_after(self, action: Callable[[], None]) -> None:
        sent = len(self.got)
        action()
        wait_for(lambda: len(self.got) > sent)

    def records(self) -> list[dict[str, Any]]:
        return [r for _, body in self.got for r in json.loads(body)["records"]]

    def latest(self, vin: str) -> dict[str, Any]:
        """Last value per key, as our ingest would keep it (records only carry changes)."""
        state: dict[str, Any] = {}
        for record in self.records():
            if record["vin"] == vin:
                state |= {d["key"]: d["value"] for d in record["data"]}
        return state

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


# --- OAuth ----------------------------------------------------------------------------------------------


def test_authorize_auto_consents_and_redirects_with_code_and_state(env: Env) -> None:
    response = authorize(env)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == ["state-123"]
    assert query["code"][0].startswith("NA_")


def test_authorize_refuses_unknown_client_and_unregistered_redirect_without_redirecting(env: Env) -> None:
    assert authorize(env, client_id="someone-else").status_code == 400
    bad_redirect = authorize(env, redirect_uri="https://evil.example/callback")
    assert bad_redirect.status_code == 400
    assert "Location" not in bad_redirect.headers


def test_authorize_sends_scope_errors_back_to_the_client(env: Env) -> None:
    response = authorize(env, scope="openid vehicle_teleport")

    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["invalid_scope"]
    assert query["state"] == ["state-123"]


def test_code_exchange_returns_tesla_token_answer(env: Env) -> None:
    tokens = exchange(env, code_from(authorize(env))).json()

    assert tokens["expires_in"] == 28800
    assert tokens["token_type"] == "Bearer"
    assert {"access_token", "refresh_token", "id_token"} <= tokens.keys()
    assert tokens["access_token"].count(".") == 2  # JWT-shaped like Tesla's


def test_code_is_single_use_and_checks_redirect_audience_and_secret(env: Env) -> None:
    code = code_from(authorize(env))
    assert exchange(env, code).status_code == 200
    reused = exchange(env, code)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"

    assert exchange(env, code_from(authorize(env)), redirect_uri="http://127.0.0.1:9/other").status_code == 400
    assert exchange(env, code_from(authorize(env)), audience="").json()["error"] == "invalid_request"
    assert exchange(env, code_from(authorize(env)), client_secret="wrong").status_code == 401


def test_refresh_rotates_tokens_and_a_spent_refresh_token_is_login_required(env: Env) -> None:
    first = link(env)

    second = refresh(env, first["refresh_token"]).json()
    reused = refresh(env, first["refresh_token"])

    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert reused.status_code == 401
    assert reused.json()["error"] == "login_required"
    assert refresh(env, second["refresh_token"]).status_code == 200
    assert env.sim.counter_values()["refreshes"] == 3
    assert env.sim.counter_values()["refreshes_rejected"] == 1


def test_old_access_token_is_refused_with_a_bodyless_401_after_refresh(env: Env) -> None:
    first = link(env)
    second = refresh(env, first["refresh_token"]).json()

    old = get(env, "/api/1/vehicles", first)

    assert old.status_code == 401
    assert old.content == b""
    assert get(env, "/api/1/vehicles", second).status_code == 200


def test_access_token_expires_after_eight_virtual_hours(env: Env) -> None:
    tokens = link(env)
    env.clock.advance(28_799)
    assert get(env, "/api/1/vehicles", tokens).status_code == 200

    env.clock.advance(1)
    expired = get(env, "/api/1/vehicles", tokens)

    assert expired.status_code == 401
    assert expired.content == b""


def test_missing_or_garbage_bearer_is_a_bodyless_401(env: Env) -> None:
    assert requests.get(env.url("/api/1/vehicles"), timeout=5).status_code == 401
    garbage = get(env, "/api/1/vehicles", {"access_token": "not-a-token"})
    assert (garbage.status_code, garbage.content) == (401, b"")


def test_revoked_account_refresh_is_login_required(env: Env) -> None:
    tokens = link(env)
    env.sim.revoke_refresh_tokens()

    assert refresh(env, tokens["refresh_token"]).json()["error"] == "login_required"


# --- region ---------------------------------------------------------------------------------------------


def test_users_region_names_this_simulator_as_the_base_url(env: Env) -> None:
    answer = get(env, "/api/1/users/region", link(env)).json()

    assert answer["response"] == {"region": "na", "fleet_api_base_url": env.base}
    assert answer["error"] is None


def test_wrong_region_answers_421_naming_the_right_base_url(env: Env) -> None:
    eu = link(env, login_hint="eu-driver@example.com")

    wrong = get(env, "/api/1/vehicles", eu)
    region = get(env, "/api/1/users/region", eu).json()["response"]  # answers from any region

    assert wrong.status_code == 421
    assert f"use base URL: {env.base}/eu," in wrong.json()["error"]
    assert region == {"region": "eu", "fleet_api_base_url": f"{env.base}/eu"}
    assert get(env, "/eu/api/1/vehicles", eu).status_code == 200
    assert get(env, "/eu/api/1/vehicles", link(env)).status_code == 421  # and the other way round


# --- vehicles, sleep and wake -------------------------------------------------------------------------


def test_vehicle_list_has_tesla_fields(env: Env) -> None:
    items = get(env, "/api/1/vehicles", link(env)).json()["response"]

    by_vin = {item["vin"]: item for item in items}
    assert set(by_vin) == {ONLINE_VIN, ASLEEP_VIN, SIGNED_VIN}
    assert by_vin[ONLINE_VIN]["state"] == "online"
    assert by_vin[ASLEEP_VIN]["state"] == "asleep"
    assert {"id", "vehicle_id", "vin", "display_name", "state"} <= by_vin[ONLINE_VIN].keys()


def test_other_users_cars_are_not_found(env: Env) -> None:
    eu = link(env, login_hint="eu-driver@example.com")

    assert get(env, f"/eu/api/1/vehicles/{ONLINE_VIN}", eu).status_code == 404


def test_asleep_car_answers_408_until_woken_and_polled(env: Env) -> None:
    tokens = link(env)
    data_path = f"/api/1/vehicles/{ASLEEP_VIN}/vehicle_data?endpoints=location_data;drive_state"

    asleep = get(env, data_path, tokens)
    assert asleep.status_code == 408
    assert asleep.json()["error"] == "vehicle unavailable: vehicle is offline or asleep"
    assert get(env, f"/api/1/vehicles/{ASLEEP_VIN}", tokens).json()["response"]["state"] == "asleep"  # no wake

    woke = post(env, f"/api/1/vehicles/{ASLEEP_VIN}/wake_up", tokens).json()["response"]
    first_poll = get(env, f"/api/1/vehicles/{ASLEEP_VIN}", tokens).json()["response"]
    second_poll = get(env, f"/api/1/vehicles/{ASLEEP_VIN}", tokens).json()["response"]

    assert woke["state"] == "asleep"  # waking is asynchronous
    assert first_poll["state"] == "asleep"
    assert second_poll["state"] == "online"
    assert get(env, data_path, tokens).status_code == 200


def test_waking_also_completes_after_virtual_time_without_polls(env: Env) -> None:
    tokens = link(env)
    post(env, f"/api/1/vehicles/{ASLEEP_VIN}/wake_up", tokens)

    env.step(30)

    assert env.sim.vehicle(ASLEEP_VIN).state == "online"


def test_commands_to_an_asleep_car_are_408(env: Env) -> None:
    response = post(env, f"/api/1/vehicles/{ASLEEP_VIN}/command/flash_lights", link(env))

    assert response.status_code == 408


def test_vehicle_data_has_coordinates_only_with_location_data(env: Env) -> None:
    tokens = link(env)

    plain = get(env, f"/api/1/vehicles/{ONLINE_VIN}/vehicle_data?endpoints=drive_state", tokens).json()
    located = get(env, f"/api/1/vehicles/{ONLINE_VIN}/vehicle_data?endpoints=location_data;drive_state", tokens).json()

    assert "latitude" not in plain["response"]["drive_state"]
    assert "longitude" not in plain["response"]["drive_state"]
    drive = located["response"]["drive_state"]
    assert (drive["latitude"], drive["longitude"]) == (START.lat, START.lng)
    assert drive["shift_state"] == "P"
    assert {"heading", "speed", "gps_as_of", "timestamp"} <= drive.keys()


def test_coordinates_need_the_vehicle_location_scope(env: Env) -> None:
    tokens = link(env, scope="openid offline_access vehicle_device_data vehicle_cmds")

    answer = get(env, f"/api/1/vehicles/{ONLINE_VIN}/vehicle_data?endpoints=location_data", tokens).json()

    assert "latitude" not in answer["response"]["drive_state"]


# --- commands -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["flash_lights", "honk_horn", "door_lock", "door_unlock"])
def test_simple_commands_succeed(env: Env, command: str) -> None:
    answer = post(env, f"/api/1/vehicles/{ONLINE_VIN}/command/{command}", link(env)).json()

    assert answer["response"] == {"result": True, "reason": ""}


def test_door_unlock_shows_in_vehicle_state(env: Env) -> None:
    tokens = link(env)
    post(env, f"/api/1/vehicles/{ONLINE_VIN}/command/door_unlock", tokens)

    answer = get(env, f"/api/1/vehicles/{ONLINE_VIN}/vehicle_data?endpoints=vehicle_state", tokens).json()

    assert answer["response"]["vehicle_state"]["locked"] is False


def test_navigation_gps_request_is_rejected_as_invalid_command(env: Env) -> None:
    body = {"lat": DRIVEWAY.lat, "lon": DRIVEWAY.lng, "order": 0}
    response = post(env, f"/api/1/vehicles/{ONLINE_VIN}/command/navigation_gps_request", link(env), body)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_command"


def test_commands_need_the_vehicle_cmds_scope(env: Env) -> None:
    tokens = link(env, scope="openid offline_access vehicle_device_data")

    assert post(env, f"/api/1/vehicles/{ONLINE_VIN}/command/honk_horn", tokens).status_code == 403


def test_signed_command_rules_and_fleet_status(env: Env) -> None:
    tokens = link(env)

    unsigned = post(env, f"/api/1/vehicles/{SIGNED_VIN}/command/flash_lights", tokens)
    unpaired = post(env, f"/proxy/api/1/vehicles/{SIGNED_VIN}/command/flash_lights", tokens)
    status = post(env, "/api/1/vehicles/fleet_status", tokens, {"vins": [ONLINE_VIN, SIGNED_VIN]}).json()["response"]
    env.sim.pair_key(SIGNED_VIN)
    paired = post(env, f"/proxy/api/1/vehicles/{SIGNED_VIN}/command/flash_lights", tokens)

    assert unsigned.status_code == 403
    assert unsigned.json()["error"].startswith("Tesla Vehicle Command Protocol required")
    assert unpaired.status_code == 500
    assert unpaired.json()["error"] == (
        "vehicle rejected request: your public key has not been paired with the vehicle"
    )
    assert status["key_paired_vins"] == [ONLINE_VIN]
    assert status["unpaired_vins"] == [SIGNED_VIN]
    assert status["vehicle_info"][SIGNED_VIN]["vehicle_command_protocol_required"] is True
    assert status["vehicle_info"][ONLINE_VIN]["vehicle_command_protocol_required"] is False
    assert status["vehicle_info"][SIGNED_VIN]["firmware_version"]
    assert paired.json()["response"] == {"result": True, "reason": ""}


def test_proxy_needs_the_vin_not_the_numeric_id(env: Env) -> None:
    tokens = link(env)
    numeric_id = get(env, f"/api/1/vehicles/{ONLINE_VIN}", tokens).json()["response"]["id"]

    assert get(env, f"/api/1/vehicles/{numeric_id}", tokens).status_code == 200
    assert post(env, f"/proxy/api/1/vehicles/{numeric_id}/command/honk_horn", tokens).status_code == 400


# --- the car --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"https://maps.google.com/?q={DRIVEWAY.lat},{DRIVEWAY.lng}",
        f"{DRIVEWAY.lat},{DRIVEWAY.lng}",
        DRIVEWAY_ADDRESS.upper().replace(",", ""),  # registered address, matched loosely
        f"Driveway Hub parking\n{DRIVEWAY_ADDRESS}",  # phone-style shared text
    ],
)
def test_navigation_request_makes_the_car_drive_to_the_target(env: Env, text: str) -> None:
    answer = navigate(env, link(env), text).json()
    assert answer["response"] == {"result": True, "queued": True}

    route = drive_until(env, "arrived")

    driving = [v for v in route if v.phase == "driving"]
    assert len(driving) >= 3
    assert all(v.gear == "D" and v.speed_mph > 0 for v in driving)
    assert {round(v.heading) for v in driving} <= {0, 90}  # north, then east: along the grid
    assert driving[0].destination == DRIVEWAY
    arrived = route[-1]
    assert arrived.gear == "D"  # navigation ends at the kerb; parking is a separate step
    assert arrived.speed_mph == 0
    assert distance_m(LatLng(arrived.lat, arrived.lng), DRIVEWAY) == pytest.approx(15.0, abs=1.0)


def test_car_speed_follows_configuration_and_eta_counts_down(env: Env) -> None:
    navigate(env, link(env), f"{DRIVEWAY.lat},{DRIVEWAY.lng}")

    route = drive_until(env, "arrived")

    driving = [v for v in route if v.phase == "driving"]
    assert driving[0].speed_mph == pytest.approx(40 / 1.609344)
    etas = [v.minutes_to_arrival for v in driving]
    assert etas == sorted(etas, reverse=True)


def test_unknown_address_is_accepted_but_the_car_does_not_move(env: Env) -> None:
    answer = navigate(env, link(env), "1 Nowhere Lane, Atlantis").json()
    env.step(60)

    view = env.sim.vehicle(ONLINE_VIN)
    assert answer["response"]["queued"] is True
    assert view.phase == "idle"
    assert view.navigation_error is not None


def test_prompt_park_creeps_to_the_exact_point_and_shifts_to_p(env: Env) -> None:
    navigate(env, link(env), DRIVEWAY_ADDRESS)
    drive_until(env, "arrived")

    assert env.sim.prompt_driver_to_park(ONLINE_VIN) == "scheduled"
    env.step(5)
    assert env.sim.vehicle(ONLINE_VIN).gear == "D"  # the driver takes a moment to react
    route = drive_until(env, "parked", step_s=5)

    assert any(v.phase == "parking" and v.speed_mph > 0 for v in route)
    parked = route[-1]
    assert parked.gear == "P"
    assert (parked.lat, parked.lng) == (DRIVEWAY.lat, DRIVEWAY.lng)


def test_prompt_before_arrival_parks_on_arrival(env: Env) -> None:
    navigate(env, link(env), DRIVEWAY_ADDRESS)
    env.step(20)

    assert env.sim.prompt_driver_to_park(ONLINE_VIN) == "pending_arrival"
    drive_until(env, "parked")


def test_park_automatically_needs_the_car_at_its_destination(env: Env) -> None:
    with pytest.raises(SimError) as no_trip:
        env.sim.park_automatically(ONLINE_VIN)
    navigate(env, link(env), DRIVEWAY_ADDRESS)
    env.step(20)
    with pytest.raises(SimError) as en_route:
        env.sim.park_automatically(ONLINE_VIN)
    drive_until(env, "arrived")

    assert env.sim.park_automatically(ONLINE_VIN) == "scheduled"
    env.step(15)  # 15 m at 5 km/h is ~11 s, no driver reaction time

    assert (no_trip.value.code, en_route.value.code) == ("no_destination", "not_at_destination")
    assert env.sim.vehicle(ONLINE_VIN).gear == "P"


def test_depart_drives_out_of_the_geofence(env: Env) -> None:
    navigate(env, link(env), DRIVEWAY_ADDRESS)
    drive_until(env, "arrived")
    env.sim.park_automatically(ONLINE_VIN)
    drive_until(env, "parked", step_s=5)

    env.sim.depart(ONLINE_VIN)
    env.step(5)
    leaving = env.sim.vehicle(ONLINE_VIN)
    route = drive_until(env, "idle")

    assert leaving.gear == "D" and leaving.speed_mph > 0
    assert distance_m(LatLng(route[-1].lat, route[-1].lng), DRIVEWAY) > GEOFENCE_M


def test_control_routes_drive_the_same_scenario(env: Env) -> None:
    navigate(env, link(env), DRIVEWAY_ADDRESS)
    not_there = requests.post(env.url(f"/_sim/vehicles/{ONLINE_VIN}/autopark"), timeout=5)
    drive_until(env, "arrived")

    prompt = requests.post(env.url(f"/_sim/vehicles/{ONLINE_VIN}/prompt_park"), timeout=5)
    drive_until(env, "parked", step_s=5)
    depart = requests.post(env.url(f"/_sim/vehicles/{ONLINE_VIN}/depart"), timeout=5)
    listing = requests.get(env.url("/_sim/vehicles"), timeout=5).json()

    assert not_there.status_code == 409
    assert not_there.json()["error"]["code"] == "not_at_destination"
    assert prompt.json() == {"result": "scheduled"}
    assert depart.status_code == 200
    car = next(v for v in listing["vehicles"] if v["vin"] == ONLINE_VIN)
    assert car["phase"] == "departing"
    assert listing["counters"]["commands"] == 1


# --- telemetry ------------------------------------------------------------------------------------------


def test_telemetry_batches_are_signed_and_in_fleet_telemetry_format(env: Env, receiver: Receiver) -> None:
    env.sim.stream_telemetry_to(receiver.url, TELEMETRY_SECRET, interval_s=5, vins=[ONLINE_VIN])

    wait_for(lambda: len(receiver.got) == 1)

    headers, body = receiver.got[0]
    verify(TELEMETRY_SECRET, body, headers, now=int(env.clock()))
    (record,) = json.loads(body)["records"]
    assert record["vin"] == ONLINE_VIN
    assert record["createdAt"] == "2026-01-01T12:00:00.000Z"
    values = {d["key"]: d["value"] for d in record["data"]}
    assert values["Location"] == {"locationValue": {"latitude": START.lat, "longitude": START.lng}}
    assert values["Gear"] == {"shiftStateValue": "ShiftStateP"}
    assert values["VehicleSpeed"] == {"doubleValue": 0.0}
    assert values["GpsHeading"] == {"doubleValue": 0.0}
    assert values["MinutesToArrival"] == {"invalid": True}
    assert values["DestinationLocation"] == {"invalid": True}


def test_telemetry_follows_the_trip_on_change_only_and_ends_with_gear_p_in_the_geofence(
    env: Env, receiver: Receiver
) -> None:
    env.sim.stream_telemetry_to(receiver.url, TELEMETRY_SECRET, interval_s=5, vins=[ONLINE_VIN])
    wait_for(lambda: len(receiver.got) == 1)
    navigate(env, link(env), DRIVEWAY_ADDRESS)

    env.step(2)  # changed, but within the 5 s interval: nothing may be sent yet
    time.sleep(0.2)
    assert len(receiver.got) == 1
    env.step(3)
    wait_for(lambda: len(receiver.got) == 2)
    moving = receiver.latest(ONLINE_VIN)
    while env.sim.vehicle(ONLINE_VIN).phase == "driving":
        receiver.expect_more_after(lambda: env.step(20))
    env.sim.prompt_driver_to_park(ONLINE_VIN)
    while env.sim.vehicle(ONLINE_VIN).phase != "parked":
        env.step(5)
    wait_for(lambda: receiver.latest(ONLINE_VIN)["Gear"] == {"shiftStateValue": "ShiftStateP"})

    assert moving["Gear"] == {"shiftStateValue": "ShiftStateD"}
    assert moving["VehicleSpeed"]["doubleValue"] > 0
    assert moving["MinutesToArrival"]["doubleValue"] > 0
    assert moving["DestinationLocation"] == {"locationValue": {"latitude": DRIVEWAY.lat, "longitude": DRIVEWAY.lng}}
    final = receiver.latest(ONLINE_VIN)["Location"]["locationValue"]
    assert distance_m(LatLng(final["latitude"], final["longitude"]), DRIVEWAY) < GEOFENCE_M
    records = receiver.records()
    known: dict[str, Any] = {}
    for record in records:  # on change only: no datum repeats the last value sent for its key
        for datum in record["data"]:
            assert known.get(datum["key"]) != datum["value"]
            known[datum["key"]] = datum["value"]
    for headers, body in receiver.got:
        verify(TELEMETRY_SECRET, body, headers, now=int(env.clock()), tolerance_s=3600)
    signals = sum(len(r["data"]) for r in records)
    assert env.sim.counter_values()["signals_streamed"] == signals


def test_asleep_cars_do_not_stream(env: Env, receiver: Receiver) -> None:
    env.sim.stream_telemetry_to(receiver.url, TELEMETRY_SECRET, interval_s=5)

    wait_for(lambda: len(receiver.got) == 1)
    time.sleep(0.2)

    assert {r["vin"] for r in receiver.records()} == {ONLINE_VIN, SIGNED_VIN}


def test_refused_telemetry_is_sent_again_at_the_next_interval(env: Env) -> None:
    flaky = Receiver(statuses=[500])
    try:
        env.sim.stream_telemetry_to(flaky.url, TELEMETRY_SECRET, interval_s=5, vins=[ONLINE_VIN])
        wait_for(lambda: len(env.sim.telemetry_deliveries()) == 1)
        assert env.sim.telemetry_deliveries()[0]["status"] == 500

        env.step(5)
        wait_for(lambda: len(flaky.got) == 1)

        assert flaky.latest(ONLINE_VIN)["Gear"] == {"shiftStateValue": "ShiftStateP"}
    finally:
        flaky.close()


# --- faults ---------------------------------------------------------------------------------------------


def test_injected_401_is_bodyless_and_consumed(env: Env) -> None:
    tokens = link(env)
    env.sim.inject_fault(FaultKind.UNAUTHORIZED, count=1, path_prefix="/api/1/vehicles")

    faulted = get(env, "/api/1/vehicles", tokens)

    assert (faulted.status_code, faulted.content) == (401, b"")
    assert get(env, "/api/1/vehicles", tokens).status_code == 200


def test_injected_421_names_the_callers_base_url(env: Env) -> None:
    tokens = link(env)
    env.sim.inject_fault("421")

    faulted = get(env, "/api/1/vehicles", tokens)

    assert faulted.status_code == 421
    assert f"use base URL: {env.base}," in faulted.json()["error"]


def test_injected_429_carries_retry_after(env: Env) -> None:
    tokens = link(env)
    env.sim.inject_fault(FaultKind.RATE_LIMITED, count=2, retry_after_s=7)

    first, second, third = (get(env, "/api/1/vehicles", tokens) for _ in range(3))

    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "7"


def test_faults_over_http_including_503_path_prefix_and_down_switch(env: Env) -> None:
    tokens = link(env)
    added = requests.post(
        env.url("/_sim/faults"), json={"kind": "unavailable", "path_prefix": "/api/1/vehicles/"}, timeout=5
    )

    untouched = get(env, "/api/1/vehicles", tokens)  # prefix does not match
    faulted = get(env, f"/api/1/vehicles/{ONLINE_VIN}", tokens)
    requests.post(env.url("/_sim/faults"), json={"down": True}, timeout=5)
    down = [get(env, "/api/1/vehicles", tokens).status_code for _ in range(3)]
    token_down = refresh(env, tokens["refresh_token"]).status_code
    cleared = requests.delete(env.url("/_sim/faults"), timeout=5).json()

    assert added.status_code == 201
    assert untouched.status_code == 200
    assert faulted.status_code == 503
    assert down == [503, 503, 503]
    assert token_down == 503
    assert cleared == {"down": False, "faults": []}
    assert get(env, "/api/1/vehicles", tokens).status_code == 200


def test_bad_fault_requests_are_400(env: Env) -> None:
    response = requests.post(env.url("/_sim/faults"), json={"kind": "meteor"}, timeout=5)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_fault"


def test_injected_latency_delays_the_answer(env: Env) -> None:
    tokens = link(env)
    env.sim.inject_fault(FaultKind.LATENCY, latency_s=0.3)

    started = time.monotonic()
    response = get(env, "/api/1/vehicles", tokens)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


# --- counters -------------------------------------------------------------------------------------------


def test_counters_follow_tesla_billing_categories(env: Env) -> None:
    tokens = link(env)
    get(env, "/api/1/vehicles", tokens)  # data
    get(env, f"/api/1/vehicles/{ONLINE_VIN}/vehicle_data", tokens)  # data
    get(env, f"/api/1/vehicles/{ASLEEP_VIN}/vehicle_data", tokens)  # data, 408 is still billed
    post(env, f"/api/1/vehicles/{ASLEEP_VIN}/wake_up", tokens)  # wake
    post(env, f"/api/1/vehicles/{ONLINE_VIN}/command/honk_horn", tokens)  # command
    env.sim.pair_key(SIGNED_VIN, paired=False)
    post(env, f"/proxy/api/1/vehicles/{SIGNED_VIN}/command/honk_horn", tokens)  # 500: not billed
    get(env, "/api/1/users/region", tokens)  # account call: not billed
    env.sim.inject_fault(FaultKind.RATE_LIMITED)
    get(env, "/api/1/vehicles", tokens)  # never reached Tesla's handler: not billed
    get(env, "/api/1/vehicles", {"access_token": "nope"})  # unauthenticated: not billed

    counters = env.sim.counter_values()

    assert (counters["data_requests"], counters["wakes"], counters["commands"]) == (3, 1, 1)
    assert counters["estimated_cost_usd"] == pytest.approx(3 / 500 + 1 / 50 + 1 / 1000)


def test_idle_car_falls_asleep_unless_polled_and_stops_streaming(receiver: Receiver) -> None:
    clock = ManualClock()
    sim = TeslaSimulator(
        SimConfig(vehicles=(VehicleSpec(ONLINE_VIN, "Roadie", START.lat, START.lng),), sleep_after_idle_s=600),
        now=clock,
    )
    base, stop = run_in_thread(sim, tick_interval_s=0.05)
    try:
        env = Env(sim, clock, base, sim.config)
        tokens = link(env)
        env.step(500)
        get(env, f"/api/1/vehicles/{ONLINE_VIN}/vehicle_data", tokens)  # polling keeps it awake
        env.step(500)
        still_awake = sim.vehicle(ONLINE_VIN).state
        env.step(100)
        sim.stream_telemetry_to(receiver.url, TELEMETRY_SECRET)
        time.sleep(0.2)

        assert still_awake == "online"
        assert sim.vehicle(ONLINE_VIN).state == "asleep"
        assert receiver.got == []
    finally:
        stop()


def test_reset_restores_cars_and_counters_but_keeps_tokens(env: Env) -> None:
    tokens = link(env)
    navigate(env, tokens, DRIVEWAY_ADDRESS)
    env.step(60)

    requests.post(env.url("/_sim/reset"), json={}, timeout=5)

    view = env.sim.vehicle(ONLINE_VIN)
    assert (view.lat, view.lng, view.phase) == (START.lat, START.lng, "idle")
    assert env.sim.counter_values()["commands"] == 0
    assert get(env, "/api/1/vehicles", tokens).status_code == 200
