"""The one route table: every REST and WebSocket route, and every workflow task function.

CDK (stacks/api_stack.py) creates one Lambda function per entry and wires API Gateway from it; the
local gateway (local/gateway.py) routes with it; the local Lambda service (local/moto_backend.py)
dispatches Step Functions tasks with it; tests check every entry has a handler, a sample event and a
test. REST paths are relative to the API stage, which is ``v1`` (so ``/health`` is ``/v1/health``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

API_STAGE = "v1"

Kind = Literal["rest", "websocket", "task"]


@dataclass(frozen=True)
class Route:
    """One Lambda function and the door it sits behind.

    ``name`` is unique and names the function (``driveway-hub-<stage>-<name>``) and its sample event
    (``events/<name>.json``). ``permission`` is the RBAC permission the caller needs; ``None`` with
    ``auth=False`` means public (health, webhooks with their own signatures, OAuth redirects).
    """

    name: str
    kind: Kind
    module: str
    method: str | None = None
    path: str | None = None
    route_key: str | None = None
    auth: bool = True
    permission: str | None = None
    tables: tuple[str, ...] = ()
    # Non-table access the function needs, each granted narrowly by CDK and configured by env:
    # "websocket", "workflow:start|stop|callback", "photos", "tesla_tokens", "secret:stripe|tesla|telemetry".
    uses: tuple[str, ...] = ()
    # Partner door: API Gateway requires an API key (usage plan with throttling and a quota).
    api_key: bool = False
    # The stages that serve the route (``local``, ``dev``, ``staging``, ``prod``); ``None``: every stage.
    # CDK builds, and the local gateway routes, only the routes of their stage (see ``routes_for``).
    stages: tuple[str, ...] | None = None

    def served_in(self, stage: str) -> bool:
        """Whether the ``stage`` deployment (or the local cloud, ``local``) has this route."""
        return self.stages is None or stage in self.stages

    @property
    def handler(self) -> str:
        """The Lambda handler string: the module path plus ``.handler``."""
        return f"{self.module}.handler"

    def function_name(self, stage: str) -> str:
        return f"driveway-hub-{stage}-{self.name}"


ROUTES: tuple[Route, ...] = (
    Route("get_health", "rest", "functions.api.get_health", "GET", "/health", auth=False, tables=("users",)),
    # $connect runs the WebSocket authorizer (token in the query string); every role may listen.
    Route("ws_connect", "websocket", "functions.ws.connect", route_key="$connect", permission="booking:view",
          tables=("connections",)),
    Route("ws_disconnect", "websocket", "functions.ws.disconnect", route_key="$disconnect", auth=False,
          tables=("connections",)),
    Route("ws_ping", "websocket", "functions.ws.ping", route_key="ping", auth=False, uses=("websocket",)),
    Route("ws_default", "websocket", "functions.ws.default", route_key="$default", auth=False, uses=("websocket",)),
    # Identity (issue #3). Public doors answer for themselves (credentials, refresh token, reset code);
    # everything a signed-in user does to their own account needs account:manage, which every role has.
    Route("auth_register", "rest", "functions.auth.register", "POST", "/auth/register", auth=False,
          tables=("users",)),
    Route("auth_login", "rest", "functions.auth.login", "POST", "/auth/login", auth=False, tables=("users",)),
    Route("auth_refresh", "rest", "functions.auth.refresh", "POST", "/auth/refresh", auth=False),
    Route("auth_logout", "rest", "functions.auth.logout", "POST", "/auth/logout",
          permission="account:manage", tables=("users",)),
    Route("auth_me", "rest", "functions.auth.me", "GET", "/auth/me", permission="account:manage",
          tables=("users",)),
    Route("auth_add_role", "rest", "functions.auth.add_role", "POST", "/auth/roles",
          permission="account:manage", tables=("users",)),
    Route("auth_forgot_password", "rest", "functions.auth.forgot_password", "POST", "/auth/forgot-password",
          auth=False),
    Route("auth_reset_password", "rest", "functions.auth.reset_password", "POST", "/auth/reset-password",
          auth=False, tables=("users",)),
    Route("auth_confirm", "rest", "functions.auth.confirm", "POST", "/auth/confirm", auth=False),
    # Privacy: each feature that stores personal data adds its tables here (driveway_hub/auth/privacy.py).
    Route("me_export", "rest", "functions.api.me_export", "GET", "/me/export", permission="account:manage",
          tables=("users", "bookings", "booking_history", "vehicles", "tesla_accounts", "positions", "driveways"),
          uses=("secret:stripe", "photos")),
    Route("me_delete", "rest", "functions.api.me_delete", "DELETE", "/me", permission="account:manage",
          tables=("users", "bookings", "booking_history", "calendars", "payments", "connections", "vehicles",
                  "tesla_accounts", "positions", "driveways"),
          uses=("secret:stripe", "workflow:stop", "websocket", "tesla_tokens", "photos")),
    # Driveways (issue #4). Search and quote are public (partners, with an API key): listing fields and
    # prices only. Reading one driveway needs any signed-in user, so the owner can be told apart.
    Route("create_driveway", "rest", "functions.driveways.create_driveway", "POST", "/driveways",
          permission="driveway:create", tables=("driveways",)),
    # "photos": views carry presigned photo GETs; get_driveway also HEADs (and deletes bad) fresh uploads.
    Route("list_my_driveways", "rest", "functions.driveways.list_my_driveways", "GET", "/driveways",
          permission="driveway:manage", tables=("driveways",), uses=("photos",)),
    Route("get_driveway", "rest", "functions.driveways.get_driveway", "GET", "/driveways/{driveway_id}",
          permission="account:manage", tables=("driveways",), uses=("photos",)),
    Route("update_driveway", "rest", "functions.driveways.update_driveway", "PATCH", "/driveways/{driveway_id}",
          permission="driveway:manage", tables=("driveways",), uses=("photos",)),
    Route("delete_driveway", "rest", "functions.driveways.delete_driveway", "DELETE", "/driveways/{driveway_id}",
          permission="driveway:manage", tables=("driveways",), uses=("photos",)),
    Route("add_blackout", "rest", "functions.driveways.add_blackout", "POST", "/driveways/{driveway_id}/blackouts",
          permission="driveway:manage", tables=("driveways",)),
    Route("create_photo_upload", "rest", "functions.driveways.create_photo_upload", "POST",
          "/driveways/{driveway_id}/photos", permission="driveway:manage", tables=("driveways",), uses=("photos",)),
    Route("search_driveways", "rest", "functions.driveways.search_driveways", "GET", "/search/driveways",
          auth=False, api_key=True, tables=("driveways", "calendars")),
    Route("quote_booking", "rest", "functions.driveways.quote_booking", "POST", "/bookings/quote",
          auth=False, tables=("driveways", "calendars")),
    # Bookings (issue 5): tables = bookings, calendars, history; payments via Stripe; lifecycle via SFN.
    Route("create_booking", "rest", "functions.bookings.create_booking", "POST", "/bookings",
          permission="booking:create", tables=("bookings", "calendars", "booking_history", "driveways", "payments",
                                               "vehicles", "idempotency", "connections"),
          uses=("workflow:start", "secret:stripe", "websocket")),
    Route("list_bookings", "rest", "functions.bookings.list_bookings", "GET", "/bookings",
          permission="booking:view", tables=("bookings",)),
    Route("get_booking", "rest", "functions.bookings.get_booking", "GET", "/bookings/{booking_id}",
          permission="booking:view", tables=("bookings",)),
    Route("booking_status", "rest", "functions.bookings.booking_status", "GET", "/bookings/{booking_id}/status",
          permission="booking:view", tables=("bookings", "booking_history")),
    Route("update_booking", "rest", "functions.bookings.update_booking", "PATCH", "/bookings/{booking_id}",
          permission="booking:create", tables=("bookings", "calendars", "booking_history", "driveways", "payments",
                                               "vehicles", "connections"), uses=("secret:stripe", "websocket")),
    Route("cancel_booking", "rest", "functions.bookings.cancel_booking", "POST", "/bookings/{booking_id}/cancel",
          permission="booking:view", tables=("bookings", "calendars", "booking_history", "payments", "connections"),
          uses=("workflow:stop", "secret:stripe", "websocket")),
    Route("approve_booking", "rest", "functions.bookings.approve_booking", "POST", "/bookings/{booking_id}/approve",
          permission="driveway:manage", tables=("bookings",), uses=("workflow:callback",)),
    Route("reject_booking", "rest", "functions.bookings.reject_booking", "POST", "/bookings/{booking_id}/reject",
          permission="driveway:manage", tables=("bookings",), uses=("workflow:callback",)),
    Route("confirm_parked", "rest", "functions.bookings.confirm_parked", "POST",
          "/bookings/{booking_id}/confirm-parked", permission="driveway:manage", tables=("bookings",),
          uses=("workflow:callback",)),
    Route("check_in", "rest", "functions.bookings.check_in", "POST", "/bookings/{booking_id}/check-in",
          permission="booking:create", tables=("bookings",), uses=("workflow:callback",)),
    Route("checkout", "rest", "functions.bookings.checkout", "POST", "/bookings/{booking_id}/checkout",
          permission="booking:create", tables=("bookings",), uses=("workflow:callback",)),
    # Booking lifecycle tasks (statemachines/booking_lifecycle.asl.json substitutes ${Fn_<name>}).
    Route("wf_park_token", "task", "functions.workflow.park_token", auth=False, tables=("bookings", "connections"),
          uses=("workflow:callback", "websocket")),
    Route("wf_set_status", "task", "functions.workflow.set_status", auth=False,
          tables=("bookings", "booking_history", "calendars", "connections"), uses=("websocket",)),
    Route("wf_settle", "task", "functions.workflow.settle", auth=False,
          tables=("bookings", "booking_history", "calendars", "payments", "connections"),
          uses=("secret:stripe", "websocket")),
    Route("wf_navigate", "task", "functions.workflow.navigate", auth=False,
          tables=("bookings", "driveways", "vehicles", "tesla_accounts"), uses=("tesla_tokens", "secret:tesla")),
    Route("wf_notify", "task", "functions.workflow.notify", auth=False, tables=("bookings", "connections"),
          uses=("websocket",)),
    Route("wf_request_parking", "task", "functions.workflow.request_parking", auth=False,
          tables=("bookings", "driveways", "vehicles", "tesla_accounts", "connections"),
          uses=("tesla_tokens", "secret:tesla", "websocket")),
    Route("wf_capture", "task", "functions.workflow.capture", auth=False,
          tables=("bookings", "payments", "connections"), uses=("secret:stripe", "websocket")),
    Route("wf_flag", "task", "functions.workflow.flag", auth=False, tables=("bookings",)),
    Route("wf_overstay", "task", "functions.workflow.overstay", auth=False,
          tables=("bookings", "driveways", "positions", "payments", "connections"),
          uses=("secret:stripe", "websocket")),
    # Tesla (issue #6): linking, vehicles, telemetry (two doors, one ingest), the partner public key.
    # Vehicle routes are the car owner's (vehicle:control); the callback, the relay webhook (HMAC) and
    # the public key answer for themselves. tesla_telemetry_kinesis is the Kinesis stream's consumer
    # (an event-source-mapped function, not a Step Functions task). Telemetry resumes lifecycle steps.
    Route("tesla_connect", "rest", "functions.tesla.connect", "GET", "/tesla/connect",
          permission="vehicle:control", tables=("tesla_accounts",), uses=("secret:tesla",)),
    Route("tesla_callback", "rest", "functions.tesla.callback", "GET", "/tesla/callback", auth=False,
          tables=("tesla_accounts", "vehicles", "users"), uses=("tesla_tokens", "secret:tesla")),
    Route("list_vehicles", "rest", "functions.tesla.list_vehicles", "GET", "/vehicles",
          permission="vehicle:control", tables=("vehicles", "tesla_accounts", "users"),
          uses=("tesla_tokens", "secret:tesla")),
    Route("vehicle_status", "rest", "functions.tesla.vehicle_status", "GET", "/vehicles/{vehicle_id}/status",
          permission="vehicle:control", tables=("vehicles", "tesla_accounts", "positions", "users"),
          uses=("tesla_tokens", "secret:tesla")),
    Route("vehicle_location", "rest", "functions.tesla.vehicle_location", "GET", "/vehicles/{vehicle_id}/location",
          permission="vehicle:control", tables=("vehicles", "tesla_accounts", "positions", "users"),
          uses=("tesla_tokens", "secret:tesla")),
    Route("vehicle_navigate", "rest", "functions.tesla.navigate", "POST", "/vehicles/{vehicle_id}/navigate",
          permission="vehicle:control", tables=("vehicles", "tesla_accounts", "bookings", "driveways", "users"),
          uses=("tesla_tokens", "secret:tesla")),
    Route("vehicle_autopark", "rest", "functions.tesla.autopark", "POST", "/vehicles/{vehicle_id}/autopark",
          permission="vehicle:control",
          tables=("vehicles", "tesla_accounts", "bookings", "driveways", "connections", "users"),
          uses=("tesla_tokens", "secret:tesla", "websocket")),
    Route("tesla_telemetry_webhook", "rest", "functions.tesla.telemetry_webhook", "POST",
          "/webhooks/tesla/telemetry", auth=False, tables=("positions", "bookings", "driveways", "connections"),
          uses=("secret:telemetry", "websocket", "workflow:callback")),
    Route("tesla_telemetry_kinesis", "task", "functions.tesla.telemetry_kinesis", auth=False,
          tables=("positions", "bookings", "driveways", "connections"), uses=("websocket", "workflow:callback")),
    Route("tesla_public_key", "rest", "functions.tesla.public_key", "GET",
          "/.well-known/appspecific/com.tesla.3p.public-key.pem", auth=False),
    # Payments (issue #5, docs/payments.md). GET /payments lists what the caller PAID (drivers:
    # payment:create); hosts see their money through /payouts (payout:view, which onboarding also needs:
    # it is the host's own payout account). Webhooks answer for themselves with Stripe signatures, each
    # endpoint with its own secret. The reconciler is scheduled (EventBridge), not a state machine task.
    Route("list_payments", "rest", "functions.payments.list_payments", "GET", "/payments",
          permission="payment:create", tables=("payments",)),
    Route("stripe_webhook", "rest", "functions.payments.stripe_webhook", "POST", "/webhooks/stripe", auth=False,
          tables=("payments", "webhook_events", "bookings", "connections"),
          uses=("secret:stripe", "workflow:callback", "websocket")),
    Route("stripe_connect_webhook", "rest", "functions.payments.stripe_connect_webhook", "POST",
          "/webhooks/stripe/connect", auth=False, tables=("payments", "webhook_events"), uses=("secret:stripe",)),
    Route("payouts_onboarding", "rest", "functions.payments.payouts_onboarding", "POST", "/payouts/onboarding",
          permission="payout:view", tables=("payments", "users"), uses=("secret:stripe",)),
    Route("get_payouts", "rest", "functions.payments.get_payouts", "GET", "/payouts",
          permission="payout:view", tables=("payments",), uses=("secret:stripe",)),
    Route("payments_reconciler", "task", "functions.payments.reconciler", auth=False,
          tables=("payments", "webhook_events", "bookings", "connections"),
          uses=("secret:stripe", "workflow:callback", "websocket")),
    # Live updates (issue #7): a client declares interest in one booking (its driver or host only).
    # The authorizer ran at $connect; its context reaches this route, and the handler checks ownership.
    Route("ws_subscribe", "websocket", "functions.ws.subscribe", route_key="subscribe", permission="booking:view",
          tables=("bookings", "subscriptions", "connections"), uses=("websocket",)),
    # API docs (issue #9): Swagger UI and the OpenAPI document, for developers, so not in prod (nor in
    # the document itself: it is tooling, not the contract). ?format=json|js|css serves the rest.
    Route("get_docs", "rest", "functions.api.get_docs", "GET", "/docs", auth=False, stages=("local", "dev")),
)

REST_ROUTES = tuple(r for r in ROUTES if r.kind == "rest")
WEBSOCKET_ROUTES = tuple(r for r in ROUTES if r.kind == "websocket")
TASKS = tuple(r for r in ROUTES if r.kind == "task")
ROUTES_BY_NAME = {r.name: r for r in ROUTES}


def routes_for(stage: str, routes: tuple[Route, ...] = ROUTES) -> tuple[Route, ...]:
    """The routes the ``stage`` deployment (``local`` for the local cloud) serves, in table order."""
    return tuple(r for r in routes if r.served_in(stage))


def function_name_to_route(function_name: str, stage: str) -> Route | None:
    """Find the route whose Lambda function is called ``function_name`` (name or ARN)."""
    short = function_name.rsplit(":", 1)[-1] if function_name.startswith("arn:") else function_name
    prefix = f"driveway-hub-{stage}-"
    if not short.startswith(prefix):
        return None
    return ROUTES_BY_NAME.get(short[len(prefix):])
