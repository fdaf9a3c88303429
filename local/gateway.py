"""The local API Gateway: REST (proxy integration, payload v1) and WebSocket, routed by the one route
table, invoking our handlers in-process.

It builds the same events API Gateway builds, runs the same authorizer code (when one is plugged in),
and serves ``POST/GET/DELETE /@connections/{id}`` so the handlers' boto3 ``apigatewaymanagementapi``
client reaches real sockets and gets a real 410 ``GoneException`` for gone ones.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from driveway_hub.routes import API_STAGE, REST_ROUTES, WEBSOCKET_ROUTES, Route, routes_for
from local.lambda_runtime import invoke

# An authorizer takes the event built for the route and returns the context API Gateway would add
# under requestContext.authorizer (with "principalId"), or None to refuse (401).
Authorizer = Callable[[dict[str, Any]], dict[str, Any] | None]

ACCOUNT_ID = "123456789012"
TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")


def envelope(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "details": []}}, status=status)


@dataclass(frozen=True)
class CompiledRoute:
    route: Route
    pattern: re.Pattern[str]


def compile_path(path: str) -> re.Pattern[str]:
    """``/driveways/{id}`` → a regex with named groups; ``{proxy+}`` matches the rest of the path."""
    regex = ""
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{") and part.endswith("+}"):
            regex += f"(?P<{part[1:-2]}>.+)"
        elif part.startswith("{"):
            regex += f"(?P<{part[1:-1]}>[^/]+)"
        else:
            regex += re.escape(part)
    return re.compile(f"^{regex}$")


class RestRouter:
    def __init__(self, routes: tuple[Route, ...] = REST_ROUTES):
        self._compiled = [CompiledRoute(r, compile_path(r.path or "")) for r in routes]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        # Literal segments beat parameters, as in API Gateway: try routes with fewer parameters first.
        for compiled in sorted(self._compiled, key=lambda c: (c.route.path or "").count("{")):
            if compiled.route.method != method:
                continue
            m = compiled.pattern.match(path)
            if m:
                return compiled.route, m.groupdict()
        return None


def _is_text(content_type: str) -> bool:
    return not content_type or any(content_type.startswith(t) for t in TEXT_TYPES)


@dataclass
class GatewayStats:
    """Counts for benchmarks: API Gateway bills per request and per WebSocket message/minute."""

    rest_requests: int = 0
    websocket_messages: int = 0
    websocket_connect_seconds: float = 0.0


@dataclass
class _Socket:
    ws: web.WebSocketResponse
    connected_at: float
    source_ip: str
    user_agent: str
    last_active: float = field(default_factory=time.time)


class LocalGateway:
    """REST on one port, WebSocket (+ @connections) on another, each an aiohttp app on one loop."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        rest_port: int = 8000,
        websocket_port: int = 8001,
        stage: str = "local",
        rest_authorizer: Authorizer | None = None,
        websocket_authorizer: Authorizer | None = None,
        max_workers: int = 64,
        api_keys: frozenset[str] = frozenset(),
    ):
        self.host = host
        self.rest_port = rest_port
        self.websocket_port = websocket_port
        self.stage = stage
        self.api_keys = api_keys
        self.rest_authorizer = rest_authorizer
        self.websocket_authorizer = websocket_authorizer
        # Only the routes this stage serves (Route.stages): the local cloud has the dev-only ones too.
        self.router = RestRouter(routes_for(stage, REST_ROUTES))
        self.websocket_routes = {r.route_key: r for r in WEBSOCKET_ROUTES}
        self.stats = GatewayStats()
        self._sockets: dict[str, _Socket] = {}
        # Handlers are blocking (boto3); they run on threads like concurrent Lambda invocations.
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="lambda")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runners: list[web.AppRunner] = []
        self._started = threading.Event()

    # ---- lifecycle -------------------------------------------------------------------------------
    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rest_port}"

    @property
    def websocket_url(self) -> str:
        return f"ws://{self.host}:{self.websocket_port}"

    @property
    def management_url(self) -> str:
        """What handlers use as the apigatewaymanagementapi endpoint (https://{domain}/{stage} in AWS)."""
        return f"http://{self.host}:{self.websocket_port}/{API_STAGE}"

    def start(self) -> None:
        """Start both servers on a background loop; returns once they listen (ports resolved if 0)."""
        self._thread = threading.Thread(target=self._run, name="local-gateway", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout=30):
            raise RuntimeError("local gateway did not start")

    def stop(self) -> None:
        if self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        future.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._startup())
        self._started.set()
        self._loop.run_forever()

    async def _startup(self) -> None:
        rest = web.Application(client_max_size=10 * 1024 * 1024)
        rest.router.add_route("*", "/{tail:[\\s\\S]*}", self._handle_rest)
        websocket = web.Application()
        websocket.router.add_route("*", "/{stage}/@connections/{connection_id}", self._handle_connections)
        websocket.router.add_route("*", "/@connections/{connection_id}", self._handle_connections)
        websocket.router.add_get("/{tail:[\\s\\S]*}", self._handle_websocket)
        for app, attr in ((rest, "rest_port"), (websocket, "websocket_port")):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, self.host, getattr(self, attr))
            await site.start()
            sockets = getattr(site._server, "sockets", None)
            if getattr(self, attr) == 0 and sockets:
                setattr(self, attr, sockets[0].getsockname()[1])
            self._runners.append(runner)

    async def _shutdown(self) -> None:
        for sock in list(self._sockets.values()):
            await sock.ws.close()
        for runner in self._runners:
            await runner.cleanup()

    async def _call(self, route: Route, event: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, invoke, route, event, self.stage)

    # ---- REST ------------------------------------------------------------------------------------
    async def _handle_rest(self, request: web.Request) -> web.StreamResponse:
        self.stats.rest_requests += 1
        prefix = f"/{API_STAGE}"
        if not (request.path == prefix or request.path.startswith(prefix + "/")):
            return envelope(404, "not_found", "No such resource.")
        path = request.path[len(prefix):] or "/"
        matched = self.router.match(request.method, path)
        if matched is None:
            # API Gateway answers MISSING_AUTHENTICATION_TOKEN for unknown paths/methods; the CDK
            # stack maps that gateway response to this same 404 envelope.
            return envelope(404, "not_found", "No such resource.")
        route, path_params = matched
        if route.api_key and request.headers.get("x-api-key") not in self.api_keys:
            # API Gateway answers 403 before the function runs (the CDK stack's gateway responses put
            # it in our envelope).
            return envelope(403, "forbidden", "Missing or invalid API key (x-api-key).")
        event = await self._rest_event(request, route, path, path_params)
        if route.auth:
            if self.rest_authorizer is None:
                return envelope(401, "unauthorized", "Authentication required.")
            context = await asyncio.get_running_loop().run_in_executor(self._pool, self.rest_authorizer, event)
            if context is None:
                return envelope(401, "unauthorized", "Missing or invalid access token.")
            event["requestContext"]["authorizer"] = context
        try:
            result = await self._call(route, event)
        except Exception:  # noqa: BLE001 - a crashed Lambda is a 502 from API Gateway, never a hang
            return envelope(502, "internal_error", "Internal server error")
        return self._rest_response(result)

    async def _rest_event(
        self, request: web.Request, route: Route, path: str, path_params: dict[str, str]
    ) -> dict[str, Any]:
        raw = await request.read()
        content_type = request.headers.get("Content-Type", "")
        is_base64 = bool(raw) and not _is_text(content_type)
        body = (base64.b64encode(raw).decode() if is_base64 else raw.decode("utf-8", "replace")) if raw else None
        multi_query: dict[str, list[str]] = {}
        for key, value in request.query.items():
            multi_query.setdefault(key, []).append(value)
        multi_headers: dict[str, list[str]] = {}
        for key, value in request.headers.items():
            multi_headers.setdefault(key, []).append(value)
        now = datetime.now(UTC)
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": request.method,
            "headers": {k: v[-1] for k, v in multi_headers.items()},
            "multiValueHeaders": multi_headers,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": "local",
                "resourcePath": route.path,
                "httpMethod": request.method,
                "path": f"/{API_STAGE}{path}",
                "stage": API_STAGE,
                "accountId": ACCOUNT_ID,
                "apiId": "local-rest",
                "requestId": str(uuid.uuid4()),
                "extendedRequestId": str(uuid.uuid4()),
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "domainName": request.host,
                "protocol": "HTTP/1.1",
                "identity": {
                    "sourceIp": request.remote or "127.0.0.1",
                    "userAgent": request.headers.get("User-Agent", ""),
                },
            },
            "body": body,
            "isBase64Encoded": is_base64,
        }

    @staticmethod
    def _rest_response(result: Any) -> web.Response:
        if not isinstance(result, dict) or "statusCode" not in result:
            return envelope(502, "internal_error", "Malformed Lambda proxy response")
        body = result.get("body") or ""
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        response = web.Response(status=int(result["statusCode"]), body=payload)
        for key, value in (result.get("headers") or {}).items():
            response.headers[key] = str(value)
        for key, values in (result.get("multiValueHeaders") or {}).items():
            for value in values:
                response.headers.add(key, str(value))
        return response

    # ---- WebSocket -------------------------------------------------------------------------------
    def _ws_event(
        self, route_key: str, event_type: str, connection_id: str, sock_info: dict[str, Any], body: str | None = None
    ) -> dict[str, Any]:
        now_ms = int(time.time() * 1000)
        event: dict[str, Any] = {
            "requestContext": {
                "routeKey": route_key,
                "eventType": event_type,
                "messageDirection": "IN",
                "connectionId": connection_id,
                "connectedAt": sock_info.get("connected_at_ms", now_ms),
                "domainName": f"{self.host}:{self.websocket_port}",
                "stage": API_STAGE,
                "apiId": "local-websocket",
                "requestId": str(uuid.uuid4()),
                "requestTimeEpoch": now_ms,
                "identity": {"sourceIp": sock_info.get("source_ip", ""), "userAgent": sock_info.get("user_agent", "")},
            },
            "isBase64Encoded": False,
        }
        if sock_info.get("authorizer"):
            event["requestContext"]["authorizer"] = sock_info["authorizer"]
        if body is not None:
            event["body"] = body
            event["requestContext"]["messageId"] = str(uuid.uuid4())
        return event

    def _route_for(self, body: str) -> Route | None:
        """API Gateway's route selection expression ``$request.body.action``."""
        action = None
        try:
            parsed = json.loads(body)
            if isinstance(parsed, dict):
                action = parsed.get("action")
        except ValueError:
            pass
        if isinstance(action, str) and action in self.websocket_routes and not action.startswith("$"):
            return self.websocket_routes[action]
        return self.websocket_routes.get("$default")

    async def _handle_websocket(self, request: web.Request) -> web.StreamResponse:
        connection_id = base64.urlsafe_b64encode(uuid.uuid4().bytes[:12]).decode()
        info: dict[str, Any] = {
            "connected_at_ms": int(time.time() * 1000),
            "source_ip": request.remote or "",
            "user_agent": request.headers.get("User-Agent", ""),
        }
        connect_event = self._ws_event("$connect", "CONNECT", connection_id, info)
        connect_event["queryStringParameters"] = dict(request.query) or None
        connect_event["headers"] = dict(request.headers)
        if self.websocket_authorizer is not None:
            loop = asyncio.get_running_loop()
            context = await loop.run_in_executor(self._pool, self.websocket_authorizer, connect_event)
            if context is None:
                return envelope(401, "unauthorized", "Missing or invalid access token.")
            info["authorizer"] = context
            connect_event["requestContext"]["authorizer"] = context
        connect_route = self.websocket_routes.get("$connect")
        if connect_route is not None:
            result = await self._call(connect_route, connect_event)
            status = int((result or {}).get("statusCode", 200)) if isinstance(result, dict) else 200
            if status >= 300:
                return envelope(status, "connection_refused", "Connection refused.")
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        started = time.time()
        self._sockets[connection_id] = _Socket(ws, started, info["source_ip"], info["user_agent"])
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                self.stats.websocket_messages += 1
                self._sockets[connection_id].last_active = time.time()
                route = self._route_for(message.data)
                if route is not None:
                    # Like API Gateway, a failing route handler does not close the socket.
                    await self._call_quietly(route, self._ws_event(route.route_key or "", "MESSAGE",
                                                                   connection_id, info, message.data))
        finally:
            self._sockets.pop(connection_id, None)
            self.stats.websocket_connect_seconds += time.time() - started
            disconnect_route = self.websocket_routes.get("$disconnect")
            if disconnect_route is not None:
                await self._call_quietly(
                    disconnect_route, self._ws_event("$disconnect", "DISCONNECT", connection_id, info)
                )
        return ws

    async def _call_quietly(self, route: Route, event: dict[str, Any]) -> None:
        try:
            await self._call(route, event)
        except Exception:  # noqa: BLE001 - logged by the handler's own logger; the socket stays up
            return

    async def _handle_connections(self, request: web.Request) -> web.StreamResponse:
        connection_id = request.match_info["connection_id"]
        sock = self._sockets.get(connection_id)
        if sock is None or sock.ws.closed:
            # botocore reads the error code from this header: the client raises GoneException.
            return web.json_response(
                {"message": f"Connection {connection_id} is gone"}, status=410,
                headers={"x-amzn-ErrorType": "GoneException"},
            )
        if request.method == "POST":
            self.stats.websocket_messages += 1
            await sock.ws.send_str((await request.read()).decode("utf-8", "replace"))
            return web.Response(status=200)
        if request.method == "GET":
            return web.json_response({
                "ConnectedAt": datetime.fromtimestamp(sock.connected_at, UTC).isoformat(),
                "LastActiveAt": datetime.fromtimestamp(sock.last_active, UTC).isoformat(),
                "Identity": {"SourceIp": sock.source_ip, "UserAgent": sock.user_agent},
            })
        if request.method == "DELETE":
            await sock.ws.close()
            return web.Response(status=204)
        return web.json_response({"message": "Method not allowed"}, status=405)
