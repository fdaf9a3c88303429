"""AWS (and Tesla) cost per completed booking, and per month, from counted quantities x bench/prices.py.

The arithmetic is here and nothing else: ``BookingQuantities`` says what one booking used (and on what
basis: measured in a lifecycle run, or estimated), ``booking_cost`` prices each part, ``fixed_monthly``
prices what is paid per month whatever the traffic, ``monthly`` adds them up for N bookings.

What is deliberately not in the total (and said so in the output): free tiers, CloudWatch Logs ingestion
and storage (log volume was not measured), DynamoDB storage and backups, S3, data transfer, Cognito MAUs,
and Lambda INIT time (shown separately as an upper bound: every invocation cold).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.prices import AWS, HOURS_PER_MONTH, TESLA, AwsPrices, TeslaPrices

REPO_ROOT = Path(__file__).resolve().parent.parent
ASL = REPO_ROOT / "statemachines" / "booking_lifecycle.asl.json"
DEFAULT_MEMORY_MB = 512


def billed_seconds(durations: Iterable[float]) -> float:
    """Lambda bills each invocation's duration rounded up to the next millisecond."""
    return sum(math.ceil(round(d * 1000, 6)) / 1000 for d in durations)


@dataclass(frozen=True)
class LambdaUse:
    name: str
    invocations: int
    billed_seconds: float
    memory_mb: int = DEFAULT_MEMORY_MB

    @property
    def gb_seconds(self) -> float:
        return self.billed_seconds * self.memory_mb / 1024


@dataclass
class BookingQuantities:
    """What one completed booking used. ``basis`` says where the figures come from; ``basis_by_part``
    overrides it for parts that are assumed or estimated in an otherwise measured run."""

    basis: str
    description: str = ""
    lambdas: list[LambdaUse] = field(default_factory=list)
    sfn_transitions: int = 0
    dynamodb_rru: float = 0.0
    dynamodb_wru: float = 0.0
    rest_requests: int = 0
    ws_messages: int = 0
    ws_connection_minutes: float = 0.0
    kms_requests: int = 0
    secrets_calls: int = 0
    xray_traces: int = 0
    basis_by_part: dict[str, str] = field(default_factory=dict)

    @property
    def invocations(self) -> int:
        return sum(use.invocations for use in self.lambdas)

    @property
    def gb_seconds(self) -> float:
        return sum(use.gb_seconds for use in self.lambdas)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["lambdas"] = [{**asdict(u), "gb_seconds": round(u.gb_seconds, 6)} for u in self.lambdas]
        data["invocations"], data["gb_seconds"] = self.invocations, round(self.gb_seconds, 6)
        return data


@dataclass(frozen=True)
class CostLine:
    part: str
    quantity: float
    unit: str
    usd: float
    basis: str = "measured"
    in_total: bool = True


def _line(q: BookingQuantities, part: str, quantity: float, unit: str, unit_price: float) -> CostLine:
    return CostLine(part, quantity, unit, quantity * unit_price, q.basis_by_part.get(part, q.basis))


def booking_cost(q: BookingQuantities, prices: AwsPrices = AWS) -> list[CostLine]:
    """Each AWS part of one booking, priced."""
    return [
        _line(q, "Lambda requests", q.invocations, "invocations", prices.lambda_request),
        _line(q, "Lambda duration", q.gb_seconds, "GB-s", prices.lambda_gb_second_x86),
        _line(q, "Step Functions", q.sfn_transitions, "transitions", prices.sfn_standard_transition),
        _line(q, "DynamoDB reads", q.dynamodb_rru, "RRU", prices.dynamodb_rru),
        _line(q, "DynamoDB writes", q.dynamodb_wru, "WRU", prices.dynamodb_wru),
        _line(q, "API Gateway REST", q.rest_requests, "requests", prices.apigw_rest_request),
        _line(q, "WebSocket messages", q.ws_messages, "messages", prices.apigw_ws_message),
        _line(q, "WebSocket connection", q.ws_connection_minutes, "conn-minutes", prices.apigw_ws_connection_minute),
        _line(q, "KMS requests", q.kms_requests, "requests", prices.kms_request),
        _line(q, "Secrets Manager API", q.secrets_calls, "calls", prices.secrets_api_call),
        _line(q, "X-Ray traces", q.xray_traces, "traces", prices.xray_trace),
    ]


def init_upper_bound(uses: Iterable[LambdaUse], init_seconds: Mapping[str, float],
                     prices: AwsPrices = AWS) -> CostLine:
    """INIT is billed (since 2025-08-01, on-demand functions): the cost if every invocation were cold."""
    gb_s = sum(u.invocations * init_seconds.get(u.name, 0.0) * u.memory_mb / 1024 for u in uses)
    return CostLine("Lambda INIT if all cold", gb_s, "GB-s", gb_s * prices.lambda_gb_second_x86,
                    "upper bound", in_total=False)


def tesla_cost(counters: Mapping[str, float], prices: TeslaPrices = TESLA) -> list[CostLine]:
    """Tesla Fleet API pay-per-use for the counted responses (the simulator's billing counters)."""
    parts = (("wakes", "Tesla wakes", prices.wake), ("commands", "Tesla commands", prices.command),
             ("data_requests", "Tesla data requests", prices.data_request),
             ("signals_streamed", "Tesla streamed signals", prices.streamed_signal))
    return [CostLine(part, float(counters.get(key, 0)), key.replace("_", " "), float(counters.get(key, 0)) * price)
            for key, part, price in parts]


@dataclass(frozen=True)
class FixedResources:
    """What is paid per month whatever the traffic (counted from the CDK stacks' code, see __main__)."""

    kms_keys: int
    secrets: int
    alarms: int
    kinesis_shards: int


def fixed_monthly(fixed: FixedResources, prices: AwsPrices = AWS) -> list[CostLine]:
    return [
        CostLine("KMS keys", fixed.kms_keys, "key-months", fixed.kms_keys * prices.kms_key_month, "deployed"),
        CostLine("Secrets Manager secrets", fixed.secrets, "secret-months",
                 fixed.secrets * prices.secrets_secret_month, "deployed"),
        CostLine("CloudWatch alarms", fixed.alarms, "alarm-months", fixed.alarms * prices.cloudwatch_alarm_month,
                 "deployed"),
        CostLine("Kinesis telemetry shards", fixed.kinesis_shards, "shard-months",
                 fixed.kinesis_shards * HOURS_PER_MONTH * prices.kinesis_shard_hour, "deployed"),
    ]


def total(lines: Iterable[CostLine]) -> float:
    return sum(line.usd for line in lines if line.in_total)


@dataclass(frozen=True)
class Monthly:
    bookings: int
    variable_usd: float
    fixed_usd: float

    @property
    def total_usd(self) -> float:
        return self.variable_usd + self.fixed_usd

    @property
    def per_booking_usd(self) -> float:
        return self.total_usd / self.bookings if self.bookings else math.nan


def monthly(per_booking_usd: float, fixed_lines: Iterable[CostLine], bookings: int = 10_000) -> Monthly:
    return Monthly(bookings, per_booking_usd * bookings, total(fixed_lines))


# ---- the estimate, when no lifecycle could run ---------------------------------------------------------

# The requests of a booking's happy path besides the workflow's own tasks (documented, not measured):
# the driver books, Stripe sends its payment events, the driver checks in, the host confirms parking,
# the driver views the booking three times and checks out.
ESTIMATED_REST_CALLS = {"create_booking": 1, "stripe_webhook": 6, "check_in": 1, "confirm_parked": 1,
                        "get_booking": 1, "list_bookings": 1, "booking_status": 1, "checkout": 1}
ESTIMATED_SECONDS_PER_INVOCATION = 0.1


def happy_path(asl: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """(state, task function route or None) along the happy path: Next, a Choice's Default, to the end."""
    states: Mapping[str, Any] = asl["States"]
    path: list[tuple[str, str | None]] = []
    name: str | None = asl["StartAt"]
    while name is not None and len(path) <= len(states):
        state = states[name]
        target = str((state.get("Parameters") or {}).get("FunctionName") or state.get("Resource") or "")
        route = target[len("${Fn_"):-1] if target.startswith("${Fn_") and target.endswith("}") else None
        path.append((name, route))
        name = None if state.get("End") or state["Type"] in ("Succeed", "Fail") else (
            state.get("Default") if state["Type"] == "Choice" else state.get("Next"))
    return path


def estimate(per_call_rru: Mapping[str, float], per_call_wru: Mapping[str, float], *,
             memory_mb: int = DEFAULT_MEMORY_MB, asl_path: Path = ASL) -> BookingQuantities:
    """Quantities from the ASL's happy path (states = transitions, Task functions = invocations) plus the
    documented REST calls, with per-call RRU/WRU measured per route in the session where available."""
    path = happy_path(json.loads(asl_path.read_text()))
    calls: dict[str, int] = dict(ESTIMATED_REST_CALLS)
    for _, route in path:
        if route is not None:
            calls[route] = calls.get(route, 0) + 1
    authorized = sum(n for name, n in ESTIMATED_REST_CALLS.items() if name != "stripe_webhook")
    calls["authorizer"] = authorized
    lambdas = [LambdaUse(name, n, n * ESTIMATED_SECONDS_PER_INVOCATION, memory_mb) for name, n in sorted(calls.items())]
    invocations = sum(calls.values())
    dynamodb = "per-route RRU/WRU measured in the session" if per_call_rru or per_call_wru else (
        "no DynamoDB figures (no session ran)")
    return BookingQuantities(
        basis="estimated",
        description=f"{len(path)} states on the ASL happy path (= transitions and task invocations), the documented "
                    f"REST calls of ESTIMATED_REST_CALLS, {ESTIMATED_SECONDS_PER_INVOCATION * 1000:.0f} ms per "
                    f"invocation, {dynamodb}; no telemetry, no WebSocket",
        lambdas=lambdas, sfn_transitions=len(path),
        dynamodb_rru=sum(per_call_rru.get(name, 0.0) * n for name, n in calls.items()),
        dynamodb_wru=sum(per_call_wru.get(name, 0.0) * n for name, n in calls.items()),
        rest_requests=sum(ESTIMATED_REST_CALLS.values()), xray_traces=invocations,
    )
