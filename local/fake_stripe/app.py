"""The HTTP face of `FakeStripe`: Stripe's `/v1` API as the library calls it, and `/_fake` controls.

Each `/v1` call goes: authenticate → parse the form → injected fault? → idempotency replay? → run the
operation under the fake's lock → expand → save for replay. The operations themselves are synchronous
and short, so running them on the event loop never blocks it for long.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import fnmatch
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from .errors import API_ERROR, StripeApiError, invalid, no_such
from .faults import FaultRule
from .idempotency import SavedResponse, fingerprint
from .params import Params, parse_form
from .state import FakeStripe
from .store import API_VERSION, Obj, RequestContext, Store, snapshot
from .webhooks import deliver_forever

LOG = logging.getLogger(__name__)

FAKE_KEY = web.AppKey("fake_stripe", FakeStripe)


@dataclass(frozen=True)
class Call:
    """One authenticated API request, as the operations see it."""

    params: Params
    path: dict[str, str]
    account: str | None  # the Stripe-Account header
    publishable: bool
    base_url: str

    def arg(self, name: str) -> str:
        return self.path[name]


Operation = Callable[[FakeStripe, Call], Obj]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    operation: Operation
    publishable: bool = False  # callable with a pk_test_ key (the browser's confirm/retrieve)
    connected: bool = False  # honours Stripe-Account (acts on a connected account)


def create_app(fake: FakeStripe) -> web.Application:
    """A self-contained aiohttp app; it runs its own webhook delivery task while it is running."""
    app = web.Application()
    app[FAKE_KEY] = fake
    for route in ROUTES:
        app.router.add_route(route.method, route.path, _endpoint(fake, route))
    app.router.add_route("*", "/v1/{tail:.*}", _unrecognized)
    app.router.add_get("/connect/onboard/{token}", _onboarding_page)
    app.router.add_get("/connect/express/{account}", _express_dashboard)
    app.router.add_get("/_fake/3ds/{payment_intent}/{token}", _three_d_secure_page)
    for method, path, control in CONTROL_ROUTES:
        app.router.add_route(method, path, _control(control))
    app.cleanup_ctx.append(_delivery_task)
    return app


async def _delivery_task(app: web.Application) -> AsyncIterator[None]:
    fake = app[FAKE_KEY]
    session = aiohttp.ClientSession()
    task = asyncio.create_task(deliver_forever(fake.webhooks, session, fake.tick), name="fake-stripe-webhooks")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await session.close()


# ---- the /v1 pipeline ---------------------------------------------------------------------------


def _endpoint(fake: FakeStripe, route: Route) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        request_id = Store.new_id("req", 14)
        try:
            call = await _call(fake, route, request)
        except StripeApiError as err:
            return _error(err, request_id)
        with fake.lock:
            fault = fake.faults.take(request.method, request.path)
        if fault is not None and fault.mode == "error" and not fault.after_execute:
            return _fault_response(fault, request_id)  # failed before Stripe saw it: nothing ran or was saved
        response = await _execute_once(fake, route, call, request, request_id, fault)
        if fault is not None and fault.after_execute:
            if fault.mode == "error":
                return _fault_response(fault, request_id)  # the work is done and saved; the answer is lost
            await asyncio.sleep(fault.hang_s)
        return response

    return handle


async def _execute_once(
    fake: FakeStripe, route: Route, call: Call, request: web.Request, request_id: str, fault: FaultRule | None
) -> web.Response:
    """Run the call, at most once per idempotency key: a repeat gets the saved answer replayed."""
    key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
    slot = _IdempotencySlot(fake, call.account or "platform", key, request, call) if key else None
    if slot is not None:
        try:
            saved = slot.claim()
        except StripeApiError as err:
            return _error(err, request_id)
        if saved is not None:
            return _replay(saved, request_id, slot.key)
    if fault is not None and fault.mode == "hang" and not fault.after_execute:
        await asyncio.sleep(fault.hang_s)  # the key stays in flight: a retry meanwhile gets a 409
    status, body, replayable = _run(fake, route, call, request_id, key)
    if slot is not None:
        slot.release(SavedResponse(slot.fingerprint, status, body, request_id, fake.now()) if replayable else None)
    return _response(status, body, request_id, key)


class _IdempotencySlot:
    """One request's use of an Idempotency-Key: claim it (or get the answer to replay), then release it
    with the result to save, or None when the result must not be replayed."""

    def __init__(self, fake: FakeStripe, scope: str, key: str, request: web.Request, call: Call) -> None:
        self.fake, self.scope, self.key = fake, scope, key
        self.fingerprint = fingerprint(request.method, request.path, call.params.data)

    def claim(self) -> SavedResponse | None:
        with self.fake.lock:
            saved = self.fake.idempotency.lookup(self.scope, self.key, self.fingerprint)
            if saved is None:
                self.fake.idempotency.begin(self.scope, self.key, self.fingerprint)
            return saved

    def release(self, saved: SavedResponse | None) -> None:
        with self.fake.lock:
            if saved is None:
                self.fake.idempotency.abandon(self.scope, self.key)
            else:
                self.fake.idempotency.save(self.scope, self.key, saved)


async def _call(fake: FakeStripe, route: Route, request: web.Request) -> Call:
    publishable = _authenticate(fake, request)
    if publishable and not route.publishable:
        raise StripeApiError(
            401, "This API call cannot be made with a publishable API key. Please use a secret API key. You "
            "can find a list of your API keys at https://dashboard.stripe.com/account/apikeys."
        )
    account = request.headers.get("Stripe-Account") or None
    if account is not None:
        with fake.lock:
            known = fake.store.find(account)
        if known is None or known["object"] != "account":
            raise StripeApiError(
                403, f"The provided key does not have access to account '{account}' (or that account does "
                "not exist). Application access may have been revoked.", code="account_invalid",
            )
        if not route.connected:
            raise invalid(
                "The fake supports the Stripe-Account header only on /v1/balance, /v1/payouts and /v1/events "
                "(Driveway-Hub uses destination charges, which live on the platform)."
            )
    params = parse_form(await _form_pairs(request))
    base_url = fake.public_base_url or f"{request.scheme}://{request.host}"
    return Call(Params(params), dict(request.match_info), account, publishable, base_url)


def _authenticate(fake: FakeStripe, request: web.Request) -> bool:
    """Answers whether the key is publishable; raises Stripe's 401 for a missing or bad key."""
    header = request.headers.get("Authorization", "")
    key = ""
    if header.startswith("Bearer "):
        key = header.removeprefix("Bearer ").strip()
    elif header.startswith("Basic "):
        # curl -u sk_test_…: sends the key as the basic-auth user name.
        with contextlib.suppress(binascii.Error, UnicodeDecodeError):
            key = base64.b64decode(header.removeprefix("Basic ").strip()).decode().split(":", 1)[0]
    if not key:
        raise StripeApiError(
            401, "You did not provide an API key. You need to provide your API key in the Authorization "
            "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
            "https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/."
        )
    publishable = key.startswith("pk_test_")
    expected = fake.publishable_key if publishable else fake.api_key
    # Test mode only: a live key must never work against the fake.
    valid_shape = len(key) > len("sk_test_") and key.startswith(("sk_test_", "rk_test_", "pk_test_"))
    if not valid_shape or (expected is not None and key != expected):
        raise StripeApiError(401, f"Invalid API Key provided: {key[:8]}{'*' * 4}{key[-4:]}")
    return publishable


async def _form_pairs(request: web.Request) -> list[tuple[str, str]]:
    if request.method != "POST":
        return list(request.query.items())
    body = await request.text()
    if body and request.content_type not in ("application/x-www-form-urlencoded", "application/octet-stream"):
        raise invalid(
            f"Invalid request: the body must be form-encoded (application/x-www-form-urlencoded), "
            f"not {request.content_type}."
        )
    # keep_blank_values: `metadata[key]=` means "delete key" and must reach the operation.
    return [*request.query.items(), *parse_qsl(body, keep_blank_values=True)]


def _run(fake: FakeStripe, route: Route, call: Call, request_id: str, key: str | None) -> tuple[int, bytes, bool]:
    """Run the operation; answers (status, body, whether the result may be replayed for its key)."""
    with fake.lock:
        try:
            fake.tick()  # state must reflect the clock before the call looks at it (expired holds)
            with fake.store.requested_by(RequestContext(request_id, key)):
                result = snapshot(route.operation(fake, call))
                _expand(fake, result, call.params.array("expand") or [])
            return 200, _json(result), True
        except StripeApiError as err:
            # Stripe saves results of requests that ran, but not of ones that failed validation.
            return err.status, _json(err.body()), not err.is_validation_error
        except Exception:
            # A bug in the fake: answer like Stripe's 500 instead of dropping the connection.
            LOG.exception("fake stripe: %s %s failed", route.method, route.path)
            internal = StripeApiError(500, "An unknown error occurred", type=API_ERROR)
            return 500, _json(internal.body()), False


def _expand(fake: FakeStripe, obj: Obj, paths: list[Any]) -> None:
    for path in paths:
        _expand_path(fake, obj, str(path).split("."), str(path))


def _expand_path(fake: FakeStripe, node: Obj, parts: list[str], path: str) -> None:
    head, rest = parts[0], parts[1:]
    if node.get("object") in ("list", "search_result") and head == "data":
        for item in node["data"]:
            if rest:
                _expand_path(fake, item, rest, path)
        return
    value = node.get(head)
    target = fake.store.find(value) if isinstance(value, str) else None
    if head not in node or (isinstance(value, str) and target is None):
        raise invalid(f"This property cannot be expanded ({path}).", param="expand")
    if target is not None:
        node[head] = value = snapshot(target)
    if rest and isinstance(value, dict):
        _expand_path(fake, value, rest, path)


def _json(body: Obj) -> bytes:
    # Stripe pretty-prints; receivers that re-serialise before verifying a signature must notice.
    return json.dumps(body, indent=2).encode()


def _headers(request_id: str, key: str | None) -> dict[str, str]:
    headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
    if key:
        headers["Idempotency-Key"] = key
    return headers


def _response(status: int, body: bytes, request_id: str, key: str | None) -> web.Response:
    return web.Response(status=status, body=body, content_type="application/json",
                        headers=_headers(request_id, key))


def _replay(saved: SavedResponse, request_id: str, key: str) -> web.Response:
    headers = {**_headers(request_id, key), "Idempotent-Replayed": "true", "Original-Request": saved.request_id}
    return web.Response(status=saved.status, body=saved.body, content_type="application/json", headers=headers)


def _error(err: StripeApiError, request_id: str) -> web.Response:
    return web.Response(status=err.status, body=_json(err.body()), content_type="application/json",
                        headers={**_headers(request_id, None), **err.headers})


def _fault_response(fault: FaultRule, request_id: str) -> web.Response:
    if fault.status == 429:
        err = StripeApiError(429, "Request rate limit exceeded. Learn more about rate limits here "
                             "https://stripe.com/docs/rate-limits.", code="rate_limit")
    else:
        err = StripeApiError(fault.status, "An unknown error occurred", type=API_ERROR)
    if fault.should_retry is not None:
        err.headers["Stripe-Should-Retry"] = "true" if fault.should_retry else "false"
    return _error(err, request_id)


async def _unrecognized(request: web.Request) -> web.Response:
    err = StripeApiError(404, f"Unrecognized request URL ({request.method}: {request.path}). Please see "
                         "https://stripe.com/docs or we can help at https://support.stripe.com/.")
    return _error(err, Store.new_id("req", 14))


# ---- lists --------------------------------------------------------------------------------------


def _page(items: list[Obj], p: Params, url: str) -> Obj:
    """Stripe's cursor pagination over `items` (oldest first): newest first, limit ≤ 100."""
    newest_first = [item for item in reversed(items) if _created_matches(item, p)]
    limit = p.integer("limit", minimum=1) or 10
    if limit > 100:
        raise invalid("Invalid limit: must be between 1 and 100.", param="limit")
    ids = [item["id"] for item in newest_first]
    after, before = p.string("starting_after"), p.string("ending_before")
    for cursor, param in ((after, "starting_after"), (before, "ending_before")):
        if cursor is not None and cursor not in ids:
            raise no_such("object", cursor, param=param)
    if after is not None:
        window = newest_first[ids.index(after) + 1:]
        data, has_more = window[:limit], len(window) > limit
    elif before is not None:
        window = newest_first[: ids.index(before)]
        data, has_more = window[-limit:], len(window) > limit
    else:
        data, has_more = newest_first[:limit], len(newest_first) > limit
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def _created_matches(item: Obj, p: Params) -> bool:
    created = p.raw("created")
    if created is None:
        return True
    if not isinstance(created, dict):
        return bool(item["created"] == p.integer("created"))
    bounds = p.hash("created")
    assert bounds is not None
    bounds.only("gt", "gte", "lt", "lte")
    checks = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
    return all(checks[op](item["created"], bounds.req_int(op)) for op in bounds.data)


# ---- operations ---------------------------------------------------------------------------------


def _list_events(fake: FakeStripe, call: Call) -> Obj:
    p = call.params.only("type", "types", "delivery_success", "created", "limit", "starting_after", "ending_before")
    event_type, types = p.string("type"), p.array("types")
    if event_type and types:
        raise invalid("You may only specify one of these parameters: type, types.", param="types")
    patterns = [event_type] if event_type else [str(t) for t in types or ["*"]]
    delivered = p.boolean("delivery_success") if "delivery_success" in p else None
    # Platform calls see platform events; a connected account's events need its Stripe-Account header.
    events = [
        event for event in fake.store.live_events()
        if event.get("account") == call.account
        and any(fnmatch.fnmatchcase(event["type"], pattern) for pattern in patterns)
        and (delivered is None or (event["pending_webhooks"] == 0) == delivered)
    ]
    return _page(events, p, "/v1/events")


def _retrieve_event(fake: FakeStripe, call: Call) -> Obj:
    event = fake.store.get(call.arg("id"), "event")
    if event.get("account") != call.account:
        raise no_such("event", call.arg("id"))
    return event


def _retrieve(kind: str, label: str | None = None) -> Operation:
    def operation(fake: FakeStripe, call: Call) -> Obj:
        call.params.only()
        return fake.store.get(call.arg("id"), kind, label=label)

    return operation


def _search_payment_intents(fake: FakeStripe, call: Call) -> Obj:
    found = fake.payments.search_payment_intents(call.params)
    limit = call.params.integer("limit", minimum=1) or 10
    data = list(reversed(found))
    return {"object": "search_result", "data": data[:limit], "has_more": len(data) > limit, "next_page": None,
            "url": "/v1/payment_intents/search"}


def _lister(fetch: Callable[[FakeStripe, Call], list[Obj]], url: str) -> Operation:
    def operation(fake: FakeStripe, call: Call) -> Obj:
        return _page(fetch(fake, call), call.params, url)

    return operation


def _list_accounts(fake: FakeStripe, call: Call) -> list[Obj]:
    call.params.only("created", "limit", "starting_after", "ending_before")
    return fake.store.all("account")


ROUTES: tuple[Route, ...] = (
    Route("POST", "/v1/customers", lambda f, c: f.payments.create_customer(c.params)),
    Route("GET", "/v1/customers/{id}", _retrieve("customer")),
    Route("GET", "/v1/customers/{id}/payment_methods", _lister(
        lambda f, c: f.payments.list_payment_methods(c.arg("id"), c.params), "/v1/payment_methods")),
    Route("GET", "/v1/payment_methods", _lister(
        lambda f, c: f.payments.list_payment_methods(None, c.params), "/v1/payment_methods")),
    Route("GET", "/v1/payment_methods/{id}", _retrieve("payment_method", "PaymentMethod")),
    Route("POST", "/v1/payment_methods/{id}/attach",
          lambda f, c: f.payments.attach_payment_method(c.arg("id"), c.params)),
    Route("POST", "/v1/payment_intents",
          lambda f, c: f.payments.create_payment_intent(c.params, base_url=c.base_url)),
    Route("GET", "/v1/payment_intents", _lister(
        lambda f, c: f.payments.list_payment_intents(c.params), "/v1/payment_intents")),
    Route("GET", "/v1/payment_intents/search", _search_payment_intents),
    Route("GET", "/v1/payment_intents/{id}", lambda f, c: f.payments.retrieve_payment_intent(
        c.arg("id"), c.params, publishable=c.publishable), publishable=True),
    Route("POST", "/v1/payment_intents/{id}", lambda f, c: f.payments.update_payment_intent(c.arg("id"), c.params)),
    Route("POST", "/v1/payment_intents/{id}/confirm", lambda f, c: f.payments.confirm_payment_intent(
        c.arg("id"), c.params, publishable=c.publishable, base_url=c.base_url), publishable=True),
    Route("POST", "/v1/payment_intents/{id}/capture",
          lambda f, c: f.payments.capture_payment_intent(c.arg("id"), c.params)),
    Route("POST", "/v1/payment_intents/{id}/cancel",
          lambda f, c: f.payments.cancel_payment_intent(c.arg("id"), c.params)),
    Route("GET", "/v1/charges", _lister(lambda f, c: f.payments.list_charges(c.params), "/v1/charges")),
    Route("GET", "/v1/charges/{id}", _retrieve("charge")),
    Route("POST", "/v1/refunds", lambda f, c: f.refunds.create_refund(c.params)),
    Route("GET", "/v1/refunds", _lister(lambda f, c: f.refunds.list_refunds(c.params), "/v1/refunds")),
    Route("GET", "/v1/refunds/{id}", _retrieve("refund")),
    Route("GET", "/v1/transfers/{id}", _retrieve("transfer")),
    Route("GET", "/v1/application_fees/{id}", _retrieve("application_fee")),
    Route("GET", "/v1/disputes/{id}", _retrieve("dispute")),
    Route("GET", "/v1/balance_transactions/{id}", _retrieve("balance_transaction")),
    Route("POST", "/v1/accounts", lambda f, c: f.connect.create_account(c.params)),
    Route("GET", "/v1/accounts", _lister(_list_accounts, "/v1/accounts")),
    Route("GET", "/v1/accounts/{id}", _retrieve("account")),
    Route("POST", "/v1/accounts/{id}", lambda f, c: f.connect.update_account(c.arg("id"), c.params)),
    Route("POST", "/v1/accounts/{id}/login_links",
          lambda f, c: f.connect.create_login_link(c.arg("id"), base_url=c.base_url)),
    Route("POST", "/v1/account_links", lambda f, c: f.connect.create_account_link(c.params, base_url=c.base_url)),
    Route("GET", "/v1/balance", lambda f, c: f.connect.balance(c.account), connected=True),
    Route("GET", "/v1/payouts", _lister(
        lambda f, c: f.connect.list_payouts(c.account, c.params), "/v1/payouts"), connected=True),
    Route("GET", "/v1/payouts/{id}", lambda f, c: f.connect.retrieve_payout(c.account, c.arg("id")),
          connected=True),
    Route("GET", "/v1/events", _list_events, connected=True),
    Route("GET", "/v1/events/{id}", _retrieve_event, connected=True),
)


# ---- browser pages: hosted onboarding, Express dashboard, 3DS challenge -------------------------


async def _onboarding_page(request: web.Request) -> web.Response:
    fake = request.app[FAKE_KEY]
    complete = request.query.get("complete", "true") != "false"
    with fake.lock, fake.store.requested_by(None):
        target = fake.connect.visit_onboarding_link(request.match_info["token"], complete=complete)
    if target is None:
        return web.Response(status=404, text="This account link is not valid.")
    raise web.HTTPFound(target)


async def _express_dashboard(request: web.Request) -> web.Response:
    fake = request.app[FAKE_KEY]
    account_id = request.match_info["account"]
    with fake.lock:
        if fake.store.find(account_id) is None:
            return web.Response(status=404, text="No such account.")
        payouts = fake.connect.list_payouts(account_id, Params({}))
        body = {"account": account_id, "balance": fake.connect.balance(account_id),
                "payouts": [snapshot(payout) for payout in payouts]}
    return web.json_response(body)


async def _three_d_secure_page(request: web.Request) -> web.Response:
    """Stripe's test 3DS page; `?outcome=fail` is the "Fail authentication" button."""
    fake = request.app[FAKE_KEY]
    succeed = request.query.get("outcome", "succeed") != "fail"
    try:
        with fake.lock, fake.store.requested_by(None):
            target = fake.payments.authenticate(
                request.match_info["payment_intent"], request.match_info["token"], succeed=succeed
            )
    except StripeApiError as err:
        return web.json_response(err.body(), status=err.status)
    if target is not None:
        raise web.HTTPFound(target)
    return web.json_response({"authenticated": succeed})


# ---- /_fake control routes ----------------------------------------------------------------------

Control = Callable[[FakeStripe, dict[str, Any], dict[str, str]], Any]


def _control(control: Control) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        fake = request.app[FAKE_KEY]
        try:
            body = await request.json() if request.can_read_body else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            # Control functions may block (waiting for deliveries): keep them off the event loop.
            result = await asyncio.to_thread(control, fake, body, dict(request.match_info))
        except StripeApiError as err:
            return web.json_response(err.body(), status=err.status)
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            return web.json_response({"error": {"type": "invalid_request_error", "message": str(exc)}}, status=400)
        except KeyError as exc:
            return web.json_response({"error": {"type": "invalid_request_error", "message": f"missing {exc}"}},
                                     status=404 if request.match_info else 400)
        return web.json_response(result)

    return handle


def _configure(fake: FakeStripe, body: dict[str, Any], _: dict[str, str]) -> Any:
    fake.configure(body)
    return fake.config_snapshot()


def _balances(fake: FakeStripe, body: dict[str, Any], _: dict[str, str]) -> Any:
    with fake.lock:
        accounts = [account["id"] for account in fake.store.all("account")]
        return {"platform": fake.store.balances(), "accounts": {a: fake.store.balances(a) for a in accounts}}


def _flush(fake: FakeStripe, body: dict[str, Any], _: dict[str, str]) -> Any:
    drained = fake.wait_for_deliveries(float(body.get("timeout", 5.0)),
                                       include_scheduled=bool(body.get("include_scheduled", False)))
    return {"drained": drained}


def _reset(fake: FakeStripe, body: dict[str, Any], _: dict[str, str]) -> Any:
    fake.reset()
    return {"reset": True}


CONTROL_ROUTES: tuple[tuple[str, str, Control], ...] = (
    ("GET", "/_fake/config", lambda fake, body, args: fake.config_snapshot()),
    ("POST", "/_fake/config", _configure),
    ("POST", "/_fake/reset", _reset),
    ("GET", "/_fake/balances", _balances),
    ("GET", "/_fake/deliveries", lambda fake, body, args: [a.to_json() for a in fake.deliveries]),
    ("POST", "/_fake/deliveries/flush", _flush),
    ("POST", "/_fake/expire_holds", lambda fake, body, args: {"expired": fake.expire_holds()}),
    ("POST", "/_fake/payment_intents/{id}/authenticate",
     lambda fake, body, args: fake.authenticate_payment(args["id"], succeed=bool(body.get("succeed", True)))),
    ("POST", "/_fake/disputes", lambda fake, body, args: fake.open_dispute(
        str(body.get("charge") or body["payment_intent"]), reason=str(body.get("reason", "fraudulent")),
        amount=None if body.get("amount") is None else int(body["amount"]))),
    ("POST", "/_fake/disputes/{id}/close",
     lambda fake, body, args: fake.close_dispute(args["id"], won=bool(body.get("won", False)))),
    ("POST", "/_fake/refunds/{id}/fail", lambda fake, body, args: fake.fail_refund(
        args["id"], reason=str(body.get("reason", "expired_or_canceled_card")))),
    ("POST", "/_fake/accounts/{id}/onboard", lambda fake, body, args: fake.complete_onboarding(args["id"])),
    ("POST", "/_fake/accounts/{id}/status", lambda fake, body, args: fake.set_account_status(
        args["id"], charges_enabled=bool(body["charges_enabled"]),
        payouts_enabled=bool(body.get("payouts_enabled", body["charges_enabled"])),
        currently_due=list(body.get("currently_due") or []))),
    ("POST", "/_fake/accounts/{id}/payouts", lambda fake, body, args: fake.run_payouts(args["id"])),
)
