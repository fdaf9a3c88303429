"""The simulator over HTTP (aiohttp): Tesla's paths, the ``/_sim`` control routes, a ticking pump.

Handlers are thin: parse the request, call ``TeslaSimulator``, shape the answer. Tesla's error
rules (statuses, bodies) live in the simulator; this module only renders them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from functools import partial
from typing import Any, cast

import aiohttp
from aiohttp import web

from local.tesla_sim.config import PROXY_PREFIX, REGION_PREFIXES, VehicleState
from local.tesla_sim.faults import Fault, FaultKind
from local.tesla_sim.oauth import AccessGrant, OAuthError
from local.tesla_sim.simulator import BillKind, FleetError, SimError, TeslaSimulator
from local.tesla_sim.telemetry import TelemetryBatch

logger = logging.getLogger(__name__)

SIM_KEY = web.AppKey("tesla_sim", TeslaSimulator)
# Set once a request is authenticated and billable; counted if the answer is below 500.
BILL_KEY: web.RequestKey[BillKind] = web.RequestKey("tesla_sim_bill")
_CONTROL_PREFIXES = ("/_sim", "/_ak/")
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(sim: TeslaSimulator, *, tick_interval_s: float = 0.2) -> web.Application:
    """The aiohttp application. Its background task ticks the cars and delivers telemetry every
    ``tick_interval_s`` real seconds for as long as the app runs (whichever runner runs it)."""
    app = web.Application(middlewares=[_fault_middleware, _error_middleware])
    app[SIM_KEY] = sim
    app.router.add_get("/oauth2/v3/authorize", _authorize)
    app.router.add_post("/oauth2/v3/token", _token)
    # One set of Fleet API routes per base URL: the regions, and the proxy (which signs commands).
    for region, prefix in REGION_PREFIXES.items():
        _add_fleet_routes(app, prefix, region=region, signed=False)
    _add_fleet_routes(app, PROXY_PREFIX, region=None, signed=True)
    _add_control_routes(app)
    app.cleanup_ctx.append(partial(_pump_context, interval_s=tick_interval_s))
    return app


def run_in_thread(
    sim: TeslaSimulator, host: str = "127.0.0.1", port: int = 0, *, tick_interval_s: float = 0.2
) -> tuple[str, Callable[[], None]]:
    """Serve ``sim`` on its own event loop thread. Returns ``(base_url, stop)``; ``stop`` is idempotent."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    outcome: dict[str, Any] = {}

    async def start() -> web.AppRunner:
        runner = web.AppRunner(create_app(sim, tick_interval_s=tick_interval_s), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        outcome["port"] = runner.addresses[0][1]
        return runner

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            runner = loop.run_until_complete(start())
        except Exception as exc:  # noqa: BLE001 - handed to the caller's thread, which re-raises it
            outcome["error"] = exc
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    thread = threading.Thread(target=serve, name="tesla-sim", daemon=True)
    thread.start()
    ready.wait()
    if "error" in outcome:
        raise RuntimeError(f"Tesla simulator could not start on {host}:{port}") from outcome["error"]
    stopped = threading.Event()

    def stop() -> None:
        if not stopped.is_set():
            stopped.set()
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)

    return f"http://{host}:{outcome['port']}", stop


# === background pump ================================================================================


async def _pump_context(app: web.Application, *, interval_s: float) -> AsyncIterator[None]:
    sim = app[SIM_KEY]
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
    task = asyncio.create_task(_pump(sim, session, interval_s))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await session.close()


async def _pump(sim: TeslaSimulator, session: aiohttp.ClientSession, interval_s: float) -> None:
    while True:
        try:
            for batch in sim.telemetry_batches():  # ticks the cars first
                await _deliver(sim, session, batch)
        except Exception:  # one bad cycle must not stop the cars for the rest of the run
            logger.exception("tesla simulator pump cycle failed")
        await asyncio.sleep(interval_s)


async def _deliver(sim: TeslaSimulator, session: aiohttp.ClientSession, batch: TelemetryBatch) -> None:
    try:
        async with session.post(batch.target.url, data=batch.body, headers=batch.headers) as response:
            await response.read()
            sim.telemetry_delivered(batch, response.status)
    except (aiohttp.ClientError, TimeoutError) as exc:
        logger.warning("telemetry delivery failed", extra={"url": batch.target.url, "error": type(exc).__name__})
        sim.telemetry_delivered(batch, None, type(exc).__name__)


# === middlewares ====================================================================================


@web.middleware
async def _fault_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    if request.path.startswith(_CONTROL_PREFIXES):
        return await handler(request)
    sim = request.app[SIM_KEY]
    fault = sim.take_fault(request.path)
    if fault is None:
        return await handler(request)
    if fault.kind is FaultKind.LATENCY:
        await asyncio.sleep(fault.latency_s)
        return await handler(request)
    return _render_error(_fault_error(sim, fault, request))


def _fault_error(sim: TeslaSimulator, fault: Fault, request: web.Request) -> FleetError:
    if fault.kind is FaultKind.UNAUTHORIZED:
        return FleetError(401, bodyless=True)
    if fault.kind is FaultKind.WRONG_REGION:
        return sim.wrong_region(sim.region_of(request.headers.get("Authorization")), _origin(request))
    if fault.kind is FaultKind.RATE_LIMITED:
        return FleetError(
            429,
            "too_many_requests",
            f"rate limit exceeded, retry after {fault.retry_after_s} s",
            headers={"Retry-After": str(fault.retry_after_s)},
        )
    return FleetError(503, "service_unavailable", "upstream service unavailable, retry later")


@web.middleware
async def _error_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Renders Tesla's error answers and counts billable answers (authenticated, status < 500)."""
    try:
        response = await handler(request)
    except FleetError as exc:
        response = _render_error(exc)
    except OAuthError as exc:
        response = web.json_response({"error": exc.error, "error_description": exc.description}, status=exc.status)
    except SimError as exc:
        response = web.json_response({"error": {"code": exc.code, "message": str(exc)}}, status=exc.status)
    kind = request.get(BILL_KEY)
    if kind is not None and response.status < 500:
        request.app[SIM_KEY].bill(kind)
    return response


def _render_error(exc: FleetError) -> web.Response:
    if exc.bodyless:
        return web.Response(status=exc.status, headers=exc.headers)
    body = {"response": None, "error": exc.error, "error_description": exc.description, "txid": secrets.token_hex(16)}
    return web.json_response(body, status=exc.status, headers=exc.headers)


def _ok(response: Any) -> web.Response:
    return web.json_response({"response": response, "error": None, "error_description": None})


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


# === OAuth ==========================================================================================


async def _authorize(request: web.Request) -> web.Response:
    location = request.app[SIM_KEY].authorize(dict(request.query))
    return web.Response(status=302, headers={"Location": location})


async def _token(request: web.Request) -> web.Response:
    if request.content_type == "application/json":
        data = await _json_object(request)
        form = {k: str(v) for k, v in data.items()}
    else:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    answer = request.app[SIM_KEY].token(form, _origin(request))
    return web.json_response(answer)


# === Fleet API ======================================================================================


def _add_fleet_routes(app: web.Application, prefix: str, *, region: str | None, signed: bool) -> None:
    base = f"{prefix}/api/1"

    def bind(handler: Callable[..., Awaitable[web.Response]]) -> _Handler:
        return partial(handler, region=region, signed=signed)

    app.router.add_get(f"{base}/users/region", bind(_users_region))
    app.router.add_get(f"{base}/vehicles", bind(_vehicles))
    app.router.add_post(f"{base}/vehicles/fleet_status", bind(_fleet_status))
    app.router.add_get(f"{base}/vehicles/{{tag}}", bind(_vehicle))
    app.router.add_get(f"{base}/vehicles/{{tag}}/vehicle_data", bind(_vehicle_data))
    app.router.add_post(f"{base}/vehicles/{{tag}}/wake_up", bind(_wake_up))
    app.router.add_post(f"{base}/vehicles/{{tag}}/command/{{command}}", bind(_command))


def _caller(request: web.Request, region: str | None, bill: BillKind | None) -> AccessGrant:
    """Authenticate (bodyless 401), check the region (421), then mark the request billable."""
    sim = request.app[SIM_KEY]
    grant = sim.authenticate(request.headers.get("Authorization"))
    sim.check_region(grant, region, _origin(request))
    if bill is not None:
        request[BILL_KEY] = bill
    return grant


async def _users_region(request: web.Request, *, region: str | None, signed: bool) -> web.Response:
    sim = request.app[SIM_KEY]
    # Answers from any region: that is how a client finds its own.
    grant = sim.authenticate(request.headers.get("Authorization"))
    return _ok(sim.user_region(grant, _origin(request)))


async def _vehicles(request: web.Request, *, region: str | None, signed: bool) -> web.Response:
    grant = _caller(request, region, "data")
    items = request.app[SIM_KEY].list_vehicles(grant)
    return web.json_response(
        {
            "response": items,
            "error": None,
            "error_description": None,
            "count": len(items),
            "pagination": {
                "previous": None,
                "next": None,
                "current": 1,
                "per_page": 2,
                "count": len(items),
                "pages": 1,
            },
        }
    )


async def _vehicle(request: web.Request, *, region: str | None, signed: bool) -> web.Response:
    grant = _caller(request, region, "data")
    return _ok(request.app[SIM_KEY].vehicle_summary(grant, request.match_info["tag"]))


async def _vehicle_data(request: web.Request, *, region: str | None, signed: bool) -> web.Response:
    grant = _caller(request, region, "data")
    raw = request.query.get("endpoints")
    endpoints = None if raw is None else [e for e in raw.replace(",", ";").split(";") if e.strip()]
    return _ok(request.app[SIM_KEY].vehicle_data(grant, request.match_info["tag"], endpoints))


async def _wake_up(request: web.Request, *, region: str | None, signed: bool) -> web.Response:
    grant = _caller(request, region, "wake")
    return _ok(request.app[SIM_KEY].wake_up(grant, request.match_info["tag"]))


async def _command(request: web.Request, *, region: str | None, signed: bool) -> web.Response:
    grant = _caller(request, region, "command")
    body = await _json_object(request) if request.can_read_body else {}
    result = request.app[SIM_KEY].command(
        grant, request.match_info["tag"], request.match_info["command"], body, signed=signed
    )
    return _ok(result)


async def _fleet_status(request: web.Request, *, region: str | None, signed: bool) -> web.Response:
    grant = _caller(request, region, "data")
    body = await _json_object(request)
    vins = body.get("vins")
    if not isinstance(vins, list) or not all(isinstance(v, str) for v in vins):
        raise FleetError(400, "invalid_field", 'expected {"vins": ["<VIN>", ...]}')
    return _ok(request.app[SIM_KEY].fleet_status(grant, vins))


async def _json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise FleetError(400, "invalid_request", "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise FleetError(400, "invalid_request", "body must be a JSON object")
    return data


# === control routes (/_sim) =========================================================================


def _add_control_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/_sim/state", _sim_state)
    r.add_get("/_sim/vehicles", _sim_vehicles)
    r.add_post("/_sim/vehicles/{vin}/prompt_park", _sim_prompt_park)
    r.add_post("/_sim/vehicles/{vin}/autopark", _sim_autopark)
    r.add_post("/_sim/vehicles/{vin}/depart", _sim_depart)
    r.add_post("/_sim/vehicles/{vin}/state", _sim_set_state)
    r.add_post("/_sim/vehicles/{vin}/pair", _sim_pair)
    r.add_get("/_sim/faults", _sim_faults)
    r.add_post("/_sim/faults", _sim_add_fault)
    r.add_delete("/_sim/faults", _sim_clear_faults)
    r.add_post("/_sim/addresses", _sim_address)
    r.add_get("/_sim/telemetry", _sim_telemetry)
    r.add_post("/_sim/telemetry", _sim_stream)
    r.add_delete("/_sim/telemetry", _sim_stop_stream)
    r.add_post("/_sim/tokens/expire", _sim_expire_tokens)
    r.add_post("/_sim/tokens/revoke", _sim_revoke_tokens)
    r.add_post("/_sim/reset", _sim_reset)
    r.add_get("/_ak/{domain}", _pair_page)


def _vehicle_json(sim: TeslaSimulator) -> list[dict[str, Any]]:
    out = []
    for v in sim.vehicles():
        out.append(
            {
                "vin": v.vin,
                "display_name": v.display_name,
                "owner_email": v.owner_email,
                "state": v.state,
                "lat": v.lat,
                "lng": v.lng,
                "heading": round(v.heading, 1),
                "speed_mph": round(v.speed_mph, 1),
                "gear": v.gear,
                "phase": v.phase,
                "parking_target": list(v.parking_target) if v.parking_target else None,
                "park_mode": v.park_mode,
                "navigation_error": v.navigation_error,
                "minutes_to_arrival": v.minutes_to_arrival,
                "locked": v.locked,
                "key_paired": v.key_paired,
                "requires_signed_commands": v.requires_signed_commands,
            }
        )
    return out


async def _sim_state(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    return web.json_response(
        {
            "now": sim.now(),
            "vehicles": _vehicle_json(sim),
            "counters": sim.counter_values(),
            "faults": sim.faults(),
            "telemetry": {"targets": sim.telemetry_targets(), "deliveries": sim.telemetry_deliveries()[-20:]},
        }
    )


async def _sim_vehicles(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    return web.json_response({"vehicles": _vehicle_json(sim), "counters": sim.counter_values()})


async def _sim_prompt_park(request: web.Request) -> web.Response:
    result = request.app[SIM_KEY].prompt_driver_to_park(request.match_info["vin"])
    return web.json_response({"result": result})


async def _sim_autopark(request: web.Request) -> web.Response:
    result = request.app[SIM_KEY].park_automatically(request.match_info["vin"])
    return web.json_response({"result": result})


async def _sim_depart(request: web.Request) -> web.Response:
    request.app[SIM_KEY].depart(request.match_info["vin"])
    return web.json_response({"result": "departing"})


async def _sim_set_state(request: web.Request) -> web.Response:
    body = await _control_json(request)
    # The simulator validates the value; the cast only states what it will insist on.
    request.app[SIM_KEY].set_vehicle_state(request.match_info["vin"], cast(VehicleState, body.get("state")))
    return web.json_response({"state": body.get("state")})


async def _sim_pair(request: web.Request) -> web.Response:
    body = await _control_json(request)
    paired = bool(body.get("paired", True))
    request.app[SIM_KEY].pair_key(request.match_info["vin"], paired)
    return web.json_response({"key_paired": paired})


async def _sim_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[SIM_KEY].faults())


async def _sim_add_fault(request: web.Request) -> web.Response:
    """``{"kind": ..., "count": 1, "path_prefix": ..., "retry_after_s": 30, "latency_s": 1.0}`` and/or
    ``{"down": true|false}``."""
    sim = request.app[SIM_KEY]
    body = await _control_json(request)
    if "kind" not in body and "down" not in body:
        raise SimError(400, "invalid_fault", 'give "kind" (a fault) and/or "down" (the switch)')
    if "kind" in body:
        try:
            sim.add_fault(Fault.from_json(body))
        except ValueError as exc:
            raise SimError(400, "invalid_fault", str(exc)) from None
    if "down" in body:
        sim.set_down(bool(body["down"]))
    return web.json_response(sim.faults(), status=201)


async def _sim_clear_faults(request: web.Request) -> web.Response:
    request.app[SIM_KEY].clear_faults()
    return web.json_response(request.app[SIM_KEY].faults())


async def _sim_address(request: web.Request) -> web.Response:
    body = await _control_json(request)
    address, lat, lng = body.get("address"), body.get("lat"), body.get("lng")
    if not isinstance(address, str) or not isinstance(lat, int | float) or not isinstance(lng, int | float):
        raise SimError(400, "invalid_address", 'expected {"address": str, "lat": number, "lng": number}')
    request.app[SIM_KEY].register_address(address, float(lat), float(lng))
    return web.json_response({"address": address, "lat": lat, "lng": lng}, status=201)


async def _sim_telemetry(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    return web.json_response({"targets": sim.telemetry_targets(), "deliveries": sim.telemetry_deliveries()})


async def _sim_stream(request: web.Request) -> web.Response:
    """``{"url": ..., "secret": "<utf-8 text>", "interval_s": 5, "vins": [...] | null}``."""
    body = await _control_json(request)
    url, secret = body.get("url"), body.get("secret")
    interval, vins = body.get("interval_s", 5.0), body.get("vins")
    if not isinstance(url, str) or not isinstance(secret, str) or not secret:
        raise SimError(400, "invalid_target", 'expected {"url": str, "secret": str}')
    if not isinstance(interval, int | float) or interval <= 0:
        raise SimError(400, "invalid_target", "interval_s must be a positive number")
    if vins is not None and not (isinstance(vins, list) and all(isinstance(v, str) for v in vins)):
        raise SimError(400, "invalid_target", "vins must be a list of VINs or null")
    request.app[SIM_KEY].stream_telemetry_to(url, secret.encode(), float(interval), vins)
    return web.json_response({"url": url, "interval_s": interval, "vins": vins}, status=201)


async def _sim_stop_stream(request: web.Request) -> web.Response:
    request.app[SIM_KEY].stop_telemetry(request.query.get("url"))
    return web.json_response({"targets": request.app[SIM_KEY].telemetry_targets()})


async def _sim_expire_tokens(request: web.Request) -> web.Response:
    request.app[SIM_KEY].expire_access_tokens()
    return web.json_response({"result": "access tokens expired"})


async def _sim_revoke_tokens(request: web.Request) -> web.Response:
    request.app[SIM_KEY].revoke_refresh_tokens()
    return web.json_response({"result": "refresh tokens revoked"})


async def _sim_reset(request: web.Request) -> web.Response:
    body = await _control_json(request)
    request.app[SIM_KEY].reset(tokens=bool(body.get("tokens", False)))
    return web.json_response({"result": "reset"})


async def _pair_page(request: web.Request) -> web.Response:
    """Stands in for ``https://tesla.com/_ak/<domain>``: the owner approves the key in every car."""
    vins = request.app[SIM_KEY].pair_all_keys(request.query.get("email"))
    domain = request.match_info["domain"]
    return web.Response(text=f"Virtual key for {domain} added to: {', '.join(vins) or 'no vehicles'}\n")


async def _control_json(request: web.Request) -> Mapping[str, Any]:
    try:
        return await _json_object(request)
    except FleetError as exc:
        raise SimError(400, "invalid_json", exc.description) from None
