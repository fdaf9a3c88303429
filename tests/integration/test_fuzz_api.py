"""Schema-driven fuzzing of every REST operation in docs/openapi.json against the running local cloud.

Requests are generated from the committed document by a small JSON-Schema-to-Hypothesis generator
(below; no extra dependency: schemathesis installs a pytest plugin that patches Hypothesis for every
test in the process), sent through the local API Gateway (authorizer included) with a real access
token whose role holds the route's permission (and the partner API key where one is needed), and every
answer must keep the contract (/work/shared/design/api.md) and the document:

- never a 5xx (a handler crash is a 500 from our resolver, or a 502 from the gateway);
- the status is documented for the operation (explicitly or by its 4XX/5XX range);
- a 4xx is JSON in the envelope ``{"error": {"code", "message", "details"}}`` (the ``Error`` schema);
- a 2xx has a documented media type and its body validates against the documented schema;
- a request the document says is invalid is refused with a 4xx.

Three kinds of cases per operation, all reproducible:

- boundaries (deterministic): each parameter and body field at its edges (empty, min/max length and
  value, one past them, each enum member, null, a wrong type), one at a time in an otherwise valid
  request, and the body sent as another media type or as broken JSON;
- valid (Hypothesis, derandomized): random values the document allows; half of the bodies are made
  realistic (template fields, the seeded driveway/booking/vehicle ids, a bookable window) to get past
  "not found" into the domain;
- invalid (Hypothesis, derandomized): one parameter or the body broken, which must be refused.

Webhooks authenticate by signature, so their success paths are out of reach: they are sent garbage
with forged signatures and must answer 400/401. Authenticated routes are also called with no token and
forged ones, partner routes with no or a wrong API key. Signing out and erasing the account run last,
with throwaway users.

Run: ``.venv/bin/pytest tests/integration/test_fuzz_api.py -s`` (``-s`` prints what each operation
answered); ``FUZZ_EXAMPLES=<n>`` (default 8 per operation and mode) and ``FUZZ_BOUNDARIES=<n>``
(default 40 per operation) go deeper.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from functools import cache, partial
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
import requests
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from driveway_hub.auth.permissions import ROLE_PERMISSIONS, SELF_SERVICE_ROLES
from driveway_hub.routes import API_STAGE, REST_ROUTES, ROUTES_BY_NAME, Route
from local.openapi import API_KEY_HEADER, DOCUMENTED_ROUTES, SPEC_PATH, needs_api_key
from tests.integration.conftest import register_and_login

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))  # random cases per operation and mode
BOUNDARIES = int(os.environ.get("FUZZ_BOUNDARIES", "40"))  # deterministic edge cases per operation, at most
PASSWORD = "Correct-Horse-42"
# Signing out revokes the caller's tokens and erasing deletes the caller: each gets its own user.
THROWAWAY = frozenset({"auth_logout", "me_delete"})
# Run last, in this order: they end the seeded booking and driveway (or the caller) the others fuzz.
LAST = ("cancel_booking", "reject_booking", "delete_driveway", "auth_logout", "me_delete")
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                         phases=(Phase.explicit, Phase.generate), suppress_health_check=list(HealthCheck))

SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
WEBHOOKS = sorted(r.name for r in REST_ROUTES if str(r.path).startswith("/webhooks/"))
SENT: Counter[str] = Counter()
OUTCOMES: defaultdict[str, Counter[str]] = defaultdict(Counter)


# ---- the document ----------------------------------------------------------------------------------
def deref(node: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` (``#/components/<kind>/<name>``) to the definition."""
    while "$ref" in node:
        _hash, _components, kind, name = node["$ref"].split("/")
        node = SPEC["components"][kind][name]
    return node


def inline(node: Any) -> Any:
    """The schema with every ``$ref`` replaced by its definition (the document has no recursive models)."""
    if isinstance(node, dict):
        return {k: inline(v) for k, v in deref(node).items()}
    if isinstance(node, list):
        return [inline(v) for v in node]
    return node


# RFC 3339 asks for an offset; pydantic's datetime also takes a naive one. Judge by what parses, so a
# naive time is not called invalid (nothing expects it refused) and "not-a-date" is.
FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(datetime.fromisoformat(value))


@cache
def _validator(schema_json: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(inline(json.loads(schema_json)), format_checker=FORMATS)


def is_valid(value: Any, schema: dict[str, Any]) -> bool:
    return bool(_validator(json.dumps(schema, sort_keys=True)).is_valid(value))


def non_null(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(the schema without its ``null`` branch, whether null is allowed)."""
    schema = deref(schema)
    branches = [deref(s) for s in schema.get("anyOf", [])]
    others = [b for b in branches if b.get("type") != "null"]
    if branches and len(others) == 1:
        return others[0], len(others) < len(branches)
    return schema, schema.get("type") == "null"


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str  # with the stage: /v1/bookings/{booking_id}
    auth: bool
    params: tuple[dict[str, Any], ...]
    body: dict[str, Any] | None  # the JSON request body's schema
    body_required: bool
    responses: dict[str, Any]

    @classmethod
    def load(cls, path: str, method: str, spec: dict[str, Any]) -> Operation:
        content = (spec.get("requestBody") or {}).get("content") or {}
        unknown = set(content) - {"application/json"}
        assert not unknown, f"{spec['operationId']}: the generator only speaks JSON bodies, not {unknown}"
        return cls(
            name=spec["operationId"], method=method.upper(), path=path, auth="security" in spec,
            params=tuple(p for p in spec.get("parameters", []) if p["in"] in ("path", "query")),
            body=content.get("application/json", {}).get("schema"),
            body_required=bool((spec.get("requestBody") or {}).get("required")), responses=spec["responses"],
        )

    def of(self, where: str) -> list[dict[str, Any]]:
        return [p for p in self.params if p["in"] == where]


OPERATIONS = {op["operationId"]: Operation.load(path, method, op)
              for path, item in SPEC["paths"].items() for method, op in item.items()}


@dataclass(frozen=True)
class Request:
    path_params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None  # JSON-serialisable; ignored when ``raw`` is set or ``has_body`` is False
    has_body: bool = False
    raw: bytes | None = None
    content_type: str | None = None
    must_refuse: bool = False  # the document says this request is invalid
    note: str = ""


# ---- valid values ----------------------------------------------------------------------------------
def _text(*, url: bool) -> st.SearchStrategy[str]:
    # A raw CR/LF in a URL path is answered by the local gateway's HTTP server itself (its catch-all
    # route's `.*` stops at a newline), before API Gateway semantics: keep URLs free of them.
    excluded = "\r\n\x00" if url else ""
    return st.characters(codec="utf-8", exclude_characters=excluded)  # utf-8: no lone surrogates


def _bounds(schema: dict[str, Any], integer: bool) -> tuple[float | None, float | None]:
    low, high = schema.get("minimum"), schema.get("maximum")
    if "exclusiveMinimum" in schema:
        low = math.floor(schema["exclusiveMinimum"]) + 1 if integer else schema["exclusiveMinimum"]
    if "exclusiveMaximum" in schema:
        high = math.ceil(schema["exclusiveMaximum"]) - 1 if integer else schema["exclusiveMaximum"]
    return low, high


OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
DATETIMES = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=OFFSETS)


def valid(schema: dict[str, Any], *, url: bool = False) -> st.SearchStrategy[Any]:  # noqa: C901 - one case per type
    schema = deref(schema)
    if "anyOf" in schema:
        return st.one_of([valid(s, url=url) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        low, high = _bounds(schema, integer=True)
        return st.integers(None if low is None else int(low), None if high is None else int(high))
    if kind == "number":
        return st.floats(schema.get("minimum", schema.get("exclusiveMinimum")), schema.get("maximum"),
                         exclude_min="exclusiveMinimum" in schema, allow_nan=False, allow_infinity=False)
    if kind == "string":
        if schema.get("format") == "date-time":
            return DATETIMES.map(datetime.isoformat)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        cap = max(low, 200 if url else 60)
        return st.text(_text(url=url), min_size=low, max_size=cap if high is None else min(high, cap))
    if kind == "array":
        low = schema.get("minItems", 0)
        return st.lists(valid(schema.get("items", {})), min_size=low, max_size=min(schema.get("maxItems", 5), low + 5))
    if kind == "object" or "properties" in schema:
        properties, required = schema.get("properties", {}), set(schema.get("required", []))
        return st.fixed_dictionaries({k: valid(v) for k, v in properties.items() if k in required},
                                     optional={k: valid(v) for k, v in properties.items() if k not in required})
    if not kind:
        return JSONISH
    raise AssertionError(f"the generator does not know this schema: {schema}")


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)


@cache
def _smallest_match(pattern: str) -> str:
    return str(find(st.from_regex(pattern, fullmatch=True), lambda _: True,
                    settings=settings(database=None, derandomize=True, phases=(Phase.generate, Phase.shrink))))


def example(schema: dict[str, Any]) -> Any:
    """One small valid value, always the same (the base that boundary cases change one field of)."""
    schema, nullable = non_null(schema)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "null" or (nullable and kind is None):
        return None
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        low, high = _bounds(schema, integer=True)
        value = low if low is not None else (min(high, 1) if high is not None else 1)
        return int(value) if kind == "integer" else float(value)
    if kind == "string":
        if schema.get("format") == "date-time":
            return "2030-01-07T10:00:00+00:00"
        if "pattern" in schema:
            return _smallest_match(schema["pattern"])
        return "a" * max(schema.get("minLength", 0), 1)
    if kind == "array":
        return [example(schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
    if kind == "object" or "properties" in schema:
        required = schema.get("required", [])
        return {k: example(v) for k, v in schema.get("properties", {}).items() if k in required}
    return None


# ---- invalid values --------------------------------------------------------------------------------
UNPARSEABLE_TEXT: dict[str, list[Any]] = {"integer": ["abc", "1.5"], "number": ["abc"], "boolean": ["maybe"]}
WRONG_TYPE: dict[str, list[Any]] = {"integer": ["abc", 1.5], "number": ["abc"], "boolean": [5, "maybe"],
                                    "string": [5, True], "array": ["x"], "object": ["x", 5]}


def wrong(schema: dict[str, Any], *, url: bool = False) -> list[Any]:
    """Values the schema refuses (for a URL: as the text the parameter would carry)."""
    schema, nullable = non_null(schema)
    kind = schema.get("type")
    candidates: list[Any] = []
    if url:  # a query string carries text: wrong means "does not parse" or "out of range"
        candidates += UNPARSEABLE_TEXT.get(str(kind), [])
    else:  # pydantic's lax mode parses "5" as 5 and 5 as a datetime: only unparseable types are wrong
        candidates += [[], {"x": 1}, *([] if nullable else [None]), *WRONG_TYPE.get(str(kind), [])]
    if "enum" in schema:
        candidates.append("zz-not-a-member")
    if schema.get("format") == "date-time":
        candidates.append("not-a-date")
    if kind in ("integer", "number"):
        low, high = schema.get("minimum"), schema.get("maximum")
        candidates += [v for v in (None if low is None else low - 1, None if high is None else high + 1,
                                   schema.get("exclusiveMinimum")) if v is not None]
    if kind == "string":
        if schema.get("minLength", 0) > 0:
            candidates.append("x" * (schema["minLength"] - 1))
        if "maxLength" in schema:
            candidates.append("x" * (schema["maxLength"] + 1))
    if kind == "array" and "maxItems" in schema:
        candidates.append([example(schema.get("items", {}))] * (schema["maxItems"] + 1))
    if kind == "array" and schema.get("minItems", 0) > 0:
        candidates.append([])
    candidates = [(str(v).lower() if isinstance(v, bool) else str(v)) if url else v for v in candidates]
    return [v for v in candidates if not is_valid(parsed(v, schema) if url else v, schema)]


def parsed(text: str, schema: dict[str, Any]) -> Any:
    """What a query parameter's text means, for checking it against its schema."""
    kind = non_null(schema)[0].get("type")
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text, text)
    return text


def broken_objects(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    """(what is broken, an invalid object): a required field missing, a forbidden extra one, one field
    with a wrong value (nested objects included), each from the schema's example."""
    schema = non_null(schema)[0]
    if schema.get("type") != "object" and "properties" not in schema:
        return [("body", v) for v in wrong(schema)]
    base = example(schema)
    cases = [(f"without {k}", {x: y for x, y in base.items() if x != k}) for k in schema.get("required", [])]
    if schema.get("additionalProperties") is False:
        cases.append(("extra field", base | {"zz_extra": 1}))
    for key, prop in schema.get("properties", {}).items():
        inner = non_null(prop)[0]
        if inner.get("type") == "object" or "properties" in inner:
            cases += [(f"{key}.{what}", base | {key: value}) for what, value in broken_objects(prop)]
        cases += [(f"{key}={value!r:.40}", base | {key: value}) for value in wrong(prop)]
    return [(what, value) for what, value in cases if not is_valid(value, schema)]


def edges(schema: dict[str, Any], *, url: bool = False) -> list[Any]:
    """Values at a schema's edges, valid or not (each enum member, empty, min/max, one past)."""
    schema, nullable = non_null(schema)
    kind = schema.get("type")
    values: list[Any] = list(schema.get("enum", []))
    if nullable:
        values.append(None)
    if kind == "string" and "enum" not in schema and "pattern" not in schema:
        values += ["", "é", " a "]
        for n in (schema.get("minLength"), schema.get("maxLength")):
            if n is not None:
                values += ["x" * n]
    if schema.get("format") == "date-time":
        values += ["1970-01-01T00:00:00Z", "2030-01-07T10:00:00+14:00", "9999-12-31T23:59:59Z",
                   "2030-01-07T10:00:00"]
    if kind in ("integer", "number"):
        low, high = _bounds(schema, integer=kind == "integer")
        values += [int(v) if kind == "integer" else v for v in (low, high, 0, -1, 2**53) if v is not None]
    if kind == "boolean":
        values += [True, False]
    values += wrong(schema, url=url)
    return values


# ---- requests --------------------------------------------------------------------------------------
def _url_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def base_request(op: Operation) -> Request:
    path = {p["name"]: str(example(p["schema"])) for p in op.of("path")}
    query = {p["name"]: _url_text(example(p["schema"])) for p in op.of("query") if p.get("required")}
    return Request(path, query, example(op.body) if op.body else None, has_body=op.body is not None)


def boundary_requests(op: Operation) -> list[Request]:
    """Deterministic edge cases, one change at a time, evenly sampled down to the budget."""
    base, cases = base_request(op), []
    for p in op.params:
        for value in edges(p["schema"], url=True):
            text = None if value is None else (value if isinstance(value, str) else _url_text(value))
            where = "path_params" if p["in"] == "path" else "query"
            params = dict(getattr(base, where))
            if text is None:
                params.pop(p["name"], None)
            else:
                params[p["name"]] = text
            refused = (text is None and p.get("required")) or (
                text is not None and not is_valid(parsed(text, p["schema"]), p["schema"]))
            if where == "path_params" and not text:
                continue  # an empty path segment is another route
            changed = replace(base, path_params=params) if where == "path_params" else replace(base, query=params)
            cases.append(replace(changed, must_refuse=bool(refused), note=f"{p['name']}={text!r:.40}"))
    if op.body is not None:
        body_schema = non_null(op.body)[0]
        for key, prop in body_schema.get("properties", {}).items():
            for value in edges(prop):
                body = dict(base.body) | {key: value}
                cases.append(replace(base, body=body, must_refuse=not is_valid(body, op.body),
                                     note=f"{key}={value!r:.40}"))
        cases += [replace(base, body=value, must_refuse=True, note=what) for what, value in broken_objects(op.body)]
        encoded = json.dumps(base.body).encode()
        for content_type in ("text/plain", "application/xml", "multipart/form-data",
                             "multipart/form-data; boundary=zz", "application/x-www-form-urlencoded"):
            cases.append(replace(base, raw=encoded, content_type=content_type, must_refuse=True, note=content_type))
        cases.append(replace(base, raw=b'{"unterminated', content_type="application/json", must_refuse=True,
                             note="broken JSON"))
        cases.append(replace(base, has_body=False, must_refuse=op.body_required, note="no body"))
    for p in op.of("query"):
        if p.get("required"):
            query = {k: v for k, v in base.query.items() if k != p["name"]}
            cases.append(replace(base, query=query, must_refuse=True, note=f"without {p['name']}"))
    if len(cases) > BOUNDARIES:
        step = len(cases) / BOUNDARIES
        cases = [cases[int(i * step)] for i in range(BOUNDARIES)]
    return [base, *cases]


def valid_requests(op: Operation, known_ids: dict[str, str]) -> st.SearchStrategy[Request]:
    path = {p["name"]: valid(p["schema"], url=True).map(str) for p in op.of("path")}
    if path and any(name in known_ids for name in path):  # half the time, the seeded resources
        real = {name: st.just(known_ids[name]) if name in known_ids else s for name, s in path.items()}
        path_st = st.one_of(st.fixed_dictionaries(path), st.fixed_dictionaries(real))
    else:
        path_st = st.fixed_dictionaries(path)
    query = {p["name"]: valid(p["schema"], url=True) for p in op.of("query")}
    required = {k for k in query if any(p["name"] == k and p.get("required") for p in op.of("query"))}
    query_st = st.fixed_dictionaries({k: v for k, v in query.items() if k in required},
                                     optional={k: v for k, v in query.items() if k not in required}).map(
        lambda q: {k: _url_text(v) for k, v in q.items() if v is not None})
    body_st = valid(op.body) if op.body is not None else st.none()
    return st.builds(Request, path_params=path_st, query=query_st, body=body_st, has_body=st.just(op.body is not None),
                     note=st.just("valid"))


def _with_query(base: Request, name: str, value: str) -> Request:
    return replace(base, query=base.query | {name: value}, note=f"{name}={value!r:.40}")


def _with_field(base: Request, key: str, body_and_value: tuple[dict[str, Any], Any]) -> Request:
    body, value = body_and_value
    return replace(base, body=body | {key: value}, note=f"{key}={value!r:.40}")


def invalid_requests(op: Operation) -> st.SearchStrategy[Request] | None:
    """One thing broken in an otherwise valid request (None: the document leaves nothing to break)."""
    base, options = base_request(op), []
    for p in op.of("query"):
        bad = wrong(p["schema"], url=True)
        if bad:
            options.append(st.sampled_from(bad).map(partial(_with_query, base, p["name"])))
    if op.body is not None:
        broken = broken_objects(op.body)
        if broken:
            options.append(st.sampled_from(broken).map(lambda c: replace(base, body=c[1], note=c[0])))
        body = non_null(op.body)[0]
        for key, prop in body.get("properties", {}).items():
            bad = wrong(prop)
            if bad:  # a random valid body with this one field wrong
                options.append(st.tuples(valid(body), st.sampled_from(bad)).map(partial(_with_field, base, key)))
    if not options:
        return None
    return st.one_of(options).map(lambda r: replace(r, must_refuse=True))


# ---- realistic values ------------------------------------------------------------------------------
def _listing() -> dict[str, Any]:
    return {
        "title": "Fuzzing driveway", "description": "Fits a Model Y.",
        "address": {"line1": "4206 Avenue D", "city": "Austin", "region": "TX", "postal_code": "78751",
                    "country": "US"},
        "location": {"lat": 30.3105, "lng": -97.7420}, "timezone": "America/Chicago", "vehicle_size": "standard",
        "amenities": ["covered"], "pricing": {"currency": "usd", "hourly_cents": 350}, "instant_book": True,
        "availability": {"weekly": [{"day": d, "start": "00:00", "end": "24:00"} for d in range(7)]},
    }


def _email() -> str:
    return f"fuzz-{uuid.uuid4().hex[:10]}@example.com"


# Bodies the domain accepts: the fuzzer keeps some of its generated fields and takes the rest from
# here, so an odd value meets the domain's rules instead of failing beside an invalid email.
TEMPLATES: dict[str, Callable[[], dict[str, Any]]] = {
    "create_driveway": _listing,
    "update_driveway": _listing,
    "auth_register": lambda: {"email": _email(), "password": PASSWORD, "name": "Fuzz", "role": "driver"},
    "auth_login": lambda: {"email": _email(), "password": PASSWORD},
    "auth_forgot_password": lambda: {"email": _email()},
    "auth_reset_password": lambda: {"email": _email(), "code": "123456", "new_password": PASSWORD},
    "auth_confirm": lambda: {"email": _email(), "code": "123456"},
}


def realistic(name: str, request: Request, known_ids: dict[str, str], data: st.DataObject) -> Request:
    """Half the time: some fields from a template the domain accepts, ids naming the seeded resources,
    a bookable window (soon, an hour or more)."""
    body = request.body
    if not isinstance(body, dict) or not data.draw(st.booleans(), label="realistic"):
        return request
    if name in TEMPLATES:
        keep = data.draw(st.sets(st.sampled_from(sorted(body))), label="fuzzed fields") if body else set()
        body = TEMPLATES[name]() | {key: body[key] for key in keep}
    body = body | {key: value for key, value in known_ids.items() if key in body}
    if "start" in body and "end" in body:
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(
            days=data.draw(st.integers(1, 20), label="days ahead"), hours=data.draw(st.integers(0, 23), label="hour"))
        hours = data.draw(st.integers(-1, 72), label="hours")
        body |= {"start": start.isoformat(), "end": (start + timedelta(hours=hours)).isoformat()}
    return replace(request, body=body, note="realistic")


# ---- sending and judging ---------------------------------------------------------------------------
def outcome(response: requests.Response) -> str:
    """``"201"`` or ``"400 invalid_request"``: what the summary counts."""
    try:
        code = response.json()["error"]["code"] if response.status_code >= 400 else ""
    except (ValueError, KeyError, TypeError):
        code = "?"
    return f"{response.status_code} {code}".strip()


def assert_contract(response: requests.Response, label: str, op: Operation | None = None) -> None:
    status, text = response.status_code, response.text
    where = f"{label}\n-> {status} {response.headers.get('Content-Type')}: {text[:500]}"
    assert status < 500, where
    media = response.headers.get("Content-Type", "").split(";")[0].strip()
    if 400 <= status < 500:
        assert media == "application/json", where
        body = response.json()
        assert isinstance(body, dict) and set(body) == {"error"}, where
        assert is_valid(body, {"$ref": "#/components/schemas/Error"}), where
    if op is None:
        return
    documented = op.responses.get(str(status)) or op.responses.get(f"{status // 100}XX")
    assert documented is not None, f"{where}\n(status not documented: {sorted(op.responses)})"
    content = deref(documented).get("content")
    if not content:
        assert not response.content, f"{where}\n(documented without a body)"
        return
    assert media in content, f"{where}\n(documented media types: {sorted(content)})"
    if media == "application/json":
        value = response.json()
        assert is_valid(value, content[media]["schema"]), f"{where}\n(does not validate against the document)"


def send(op: Operation, request: Request, session: requests.Session, base_url: str,
         headers: dict[str, str]) -> requests.Response:
    path = op.path
    for name, value in request.path_params.items():
        path = path.replace(f"{{{name}}}", quote(value, safe=""))
    extra: dict[str, Any] = {}
    if request.raw is not None:
        extra = {"data": request.raw, "headers": headers | {"Content-Type": str(request.content_type)}}
    elif request.has_body:
        extra = {"data": json.dumps(request.body).encode(), "headers": headers | {"Content-Type": "application/json"}}
    response = session.request(op.method, f"{base_url}{path}", params=request.query, timeout=30,
                               **({"headers": headers} | extra))
    SENT[op.name] += 1
    OUTCOMES[op.name][outcome(response)] += 1
    return response


def judge(op: Operation, request: Request, response: requests.Response) -> None:
    sent = response.request.body if isinstance(response.request.body, bytes | str) else b""
    label = f"{op.name} ({request.note}): {op.method} {response.request.url} body={sent[:300]!r}"
    assert_contract(response, label, op)
    if request.must_refuse:
        assert 400 <= response.status_code < 500, f"{label}\n-> {response.status_code}: the document says invalid"


# ---- fixtures --------------------------------------------------------------------------------------
def role_for(route: Route) -> str:
    """The self-service role (driver first) whose permissions include the route's."""
    return next(role for role in SELF_SERVICE_ROLES if route.permission in ROLE_PERMISSIONS[role])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _onboard(api: str, host: dict[str, str]) -> None:
    """The host completes the fake Stripe's Connect onboarding, so a driver can book their driveway."""
    link = requests.post(f"{api}/payouts/onboarding", headers=host, timeout=30)
    assert link.status_code == 200, link.text
    page = requests.get(link.json()["url"], timeout=30, allow_redirects=False)
    assert page.status_code in (200, 302, 303), page.text
    for _ in range(100):  # account.updated reaches our Connect webhook asynchronously
        if requests.get(f"{api}/payouts", headers=host, timeout=30).json().get("charges_enabled"):
            return
        time.sleep(0.05)
    raise AssertionError("the host never became payable")


def _vehicle_id(api: str, driver: dict[str, str]) -> str | None:
    """Link the simulator's Tesla account (auto-consent) and return its car, if the simulator lets us."""
    connect = requests.get(f"{api}/tesla/connect", headers=driver, timeout=30)
    if connect.status_code != 200:
        return None
    requests.get(connect.json()["authorize_url"], timeout=30, allow_redirects=True)
    vehicles = requests.get(f"{api}/vehicles", headers=driver, timeout=30)
    items = vehicles.json().get("items", []) if vehicles.status_code == 200 else []
    return str(items[0]["vehicle_id"]) if items else None


@pytest.fixture(scope="module")
def base_url(api: str) -> str:
    return api.removesuffix(f"/{API_STAGE}")  # the document's paths carry the stage


@pytest.fixture(scope="module")
def api_key(local_cloud: Any) -> str | None:
    """The local partner API key, for routes behind a usage plan (None: the cloud has none)."""
    return local_cloud.urls.get("api_key")


@pytest.fixture(scope="module")
def tokens(driver: dict[str, str], host: dict[str, str]) -> dict[str, str]:
    return {"driver": driver["access_token"], "host": host["access_token"]}


@pytest.fixture(scope="module")
def known_ids(api: str, tokens: dict[str, str]) -> dict[str, str]:
    """A driveway (its host onboarded), a booking of it and, if the simulator links, a vehicle."""
    host, driver = _bearer(tokens["host"]), _bearer(tokens["driver"])
    _onboard(api, host)
    created = requests.post(f"{api}/driveways", json=_listing(), headers=host, timeout=30)
    assert created.status_code == 201, created.text
    driveway_id = created.json()["driveway_id"]
    start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=15, minute=0, second=0, microsecond=0)
    booked = requests.post(f"{api}/bookings", headers=driver, timeout=30, json={
        "driveway_id": driveway_id, "start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()})
    assert booked.status_code == 201, booked.text
    ids = {"driveway_id": driveway_id, "booking_id": booked.json()["booking"]["booking_id"]}
    vehicle_id = _vehicle_id(api, driver)
    return ids | ({"vehicle_id": vehicle_id} if vehicle_id else {})


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    started = time.monotonic()
    yield
    print(f"\nfuzz: {len(SENT)} operations, {sum(SENT.values())} requests, {time.monotonic() - started:.1f} s")
    for name in sorted(OUTCOMES):
        print(f"  {name}: {dict(sorted(OUTCOMES[name].items()))}")


# ---- the tests -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(OPERATIONS, key=lambda n: (LAST.index(n) if n in LAST else -1, n)))
def test_operation_keeps_the_contract(
    name: str, api: str, base_url: str, tokens: dict[str, str], known_ids: dict[str, str], api_key: str | None,
    session: requests.Session,
) -> None:
    op, route = OPERATIONS[name], ROUTES_BY_NAME[name]
    headers: dict[str, str] = {}
    if route.auth:
        role = role_for(route)
        headers = _bearer(register_and_login(api, role)["access_token"] if name in THROWAWAY else tokens[role])
    if needs_api_key(route):
        assert api_key, f"{name} needs an API key and the local cloud offers none"
        headers[API_KEY_HEADER] = api_key

    for request in boundary_requests(op):
        judge(op, request, send(op, request, session, base_url, headers))

    @FUZZ_SETTINGS
    @given(request=valid_requests(op, known_ids), data=st.data())
    def valid_cases(request: Request, data: st.DataObject) -> None:
        request = realistic(name, request, known_ids, data)
        judge(op, request, send(op, request, session, base_url, headers))

    valid_cases()
    invalid = invalid_requests(op)
    if invalid is not None:
        @FUZZ_SETTINGS
        @given(request=invalid)
        def invalid_cases(request: Request) -> None:
            judge(op, request, send(op, request, session, base_url, headers))

        invalid_cases()
    # A wrong token or API key set-up would turn every case into a gateway refusal and prove nothing.
    refusals = {"401 unauthorized", "403 forbidden"}  # what the gateway says for a bad token or API key
    assert set(OUTCOMES[name]) - refusals, f"{name} never got past the gateway: {dict(OUTCOMES[name])}"


@pytest.mark.parametrize("name", sorted(r.name for r in REST_ROUTES if r.auth))
def test_authenticated_route_refuses_a_missing_or_forged_token(name: str, api: str, session: requests.Session) -> None:
    route = ROUTES_BY_NAME[name]
    url = f"{api}{str(route.path).replace('{', '').replace('}', '')}"
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic Zm9vOmJhcg=="}):
        response = session.request(str(route.method), url, headers=headers, json={}, timeout=30)
        assert_contract(response, f"{name} with {headers or 'no token'}")
        assert response.status_code == 401, f"{name}: {response.status_code} {response.text[:200]}"


@pytest.mark.parametrize("name", sorted(r.name for r in REST_ROUTES if needs_api_key(r)))
def test_partner_route_refuses_a_missing_or_wrong_api_key(name: str, api: str, session: requests.Session) -> None:
    route = ROUTES_BY_NAME[name]
    url = f"{api}{str(route.path).replace('{', '').replace('}', '')}"
    for headers in ({}, {API_KEY_HEADER: "not-a-key"}):
        response = session.request(str(route.method), url, headers=headers, timeout=30)
        assert_contract(response, f"{name} with {headers or 'no API key'}")
        assert response.status_code == 403, f"{name}: {response.status_code} {response.text[:200]}"


SIGNATURE_HEADERS = st.fixed_dictionaries({}, optional={
    "Stripe-Signature": st.one_of(
        st.text(max_size=80),
        st.builds("t={},v1={}".format, st.integers(min_value=0, max_value=2**40),
                  st.text("0123456789abcdef", max_size=64))),
    "X-Telemetry-Timestamp": st.one_of(st.integers(min_value=0, max_value=2**40).map(str), st.text(max_size=20)),
    "X-Telemetry-Signature": st.text(max_size=80).map("v1={}".format),
}).map(lambda h: {k: v for k, v in h.items() if v.isascii() and v.isprintable()})
WEBHOOK_BODIES = st.one_of(
    st.binary(max_size=200),
    JSONISH.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(["payment_intent.succeeded", "account.updated", "charge.refunded"]).map(
        lambda t: json.dumps({"id": "evt_fuzz", "type": t, "data": {"object": {"id": "pi_fuzz"}}}).encode()),
)


@pytest.mark.parametrize("name", WEBHOOKS)
def test_webhook_refuses_forged_signatures(name: str, api: str, session: requests.Session) -> None:
    route = ROUTES_BY_NAME[name]

    @FUZZ_SETTINGS
    @given(body=WEBHOOK_BODIES, headers=SIGNATURE_HEADERS,
           content_type=st.sampled_from(["application/json", "application/octet-stream", "text/plain"]))
    def forged(body: bytes, headers: dict[str, str], content_type: str) -> None:
        response = session.post(f"{api}{route.path}", data=body, timeout=30,
                                headers={**headers, "Content-Type": content_type})
        SENT[f"{name} (forged)"] += 1
        OUTCOMES[f"{name} (forged)"][outcome(response)] += 1
        label = f"{name}: body={body[:80]!r} headers={headers}"
        assert_contract(response, label, OPERATIONS[name])
        assert response.status_code in (400, 401), f"{label}\n-> {response.status_code} {response.text[:300]}"

    forged()


def test_the_document_covers_every_rest_route() -> None:
    # Every route every stage serves; the dev-only docs page (get_docs) is tooling, not the contract.
    assert {r.name for r in DOCUMENTED_ROUTES} == set(OPERATIONS), \
        "docs/openapi.json and the route table disagree: run `python -m local.openapi`"


# ---- what the fuzzer found, pinned (the sampled runs may not draw these exact cases again) ---------
@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
def test_a_json_body_sent_as_another_media_type_is_a_400(
    content_type: str, api: str, session: requests.Session
) -> None:
    # Was a 500: Powertools raises RequestUnsupportedContentType (text/plain, XML) or a bare ValueError
    # (multipart/form-data without a boundary) while parsing the body, and neither is a validation error.
    response = session.post(f"{api}/auth/login", data=json.dumps({"email": "a@example.com", "password": "x"}),
                            headers={"Content-Type": content_type}, timeout=30)
    assert_contract(response, content_type)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "unsupported_content_type")


def test_an_empty_vehicle_id_is_a_400(api: str, tokens: dict[str, str], known_ids: dict[str, str]) -> None:
    # Was a 500: "" reached DynamoDB as a key (ValidationException) in the vehicle lookup.
    start = (datetime.now(UTC) + timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
    response = requests.post(f"{api}/bookings", headers=_bearer(tokens["driver"]), timeout=30, json={
        "driveway_id": known_ids["driveway_id"], "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(), "vehicle_id": ""})
    assert_contract(response, "vehicle_id=''")
    assert response.status_code == 400
    assert [d["field"] for d in response.json()["error"]["details"]] == ["body.vehicle_id"]
