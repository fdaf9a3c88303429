"""``python -m bench``: one plain-text report (stdout) and bench/results.json.

Sections: cold start per function, package size, DynamoDB work per route, AWS cost per completed booking
(and per month), Tesla and Stripe per booking, radius search (bench/search_bench.py, if present).
Progress goes to stderr. Nothing asserts on a timing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cold_start, cost, package_size, prices
from bench.dynamodb_work import UNATTRIBUTED, BookingRun, DynamoCounts, SessionResult, run_session

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results.json"
CDK_JSON = REPO_ROOT / "cdk.json"

# Assumed, not measurable with an instant clock: how long the apps hold their WebSocket open per booking.
# The driver's from the navigation lead (30 min before the start) through a 3-hour booking; the host's
# for about 10 minutes (confirming the car is parked).
DRIVER_CONNECTED_MIN = 30 + 180
HOST_CONNECTED_MIN = 10
BOOKING_TARGETS = ("create_booking", "get_booking", "list_bookings", "booking_status", "check_in", "checkout",
                   "confirm_parked", "cancel_booking")


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---- formatting ----------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], indent: str = "  ") -> list[str]:
    """Columns padded to their widest cell: the first left-aligned, the others right-aligned."""
    body = [list(r) for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return indent + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                                  enumerate(zip(cells, widths, strict=True))).rstrip()

    rule = (indent + "  ".join("-" * w for w in widths)).rstrip()
    return [line(headers), rule, *(line(r) for r in body)]


def num(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def usd(value: float, digits: int = 2) -> str:
    return f"${value:,.{digits}f}"


def mb(n_bytes: int) -> str:
    return f"{n_bytes / package_size.MB:,.2f}"


# ---- 1. cold start -------------------------------------------------------------------------------------


def cold_start_section(measures: Mapping[str, cold_start.Measure], runs: int, workers: int) -> list[str]:
    base, rows = cold_start.compare(measures)
    out = [f"1. COLD START per function: whole-process import time and peak RSS, median of {runs} fresh processes "
           f"({workers} at a time), Lambda env of stage dev; target <= {cold_start.TARGET_RATIO}x the baseline"]
    cells = []
    if base is not None:
        cells.append([base.label, num(base.median_s, 3), num(base.min_s, 3), num(base.peak_rss_mb), "1.00", "1.00",
                      "1.00", ""])
    for r in rows:
        flag = "ERROR " + (r.error or "") if r.error and math.isnan(r.median_s) else (
            f"> {cold_start.TARGET_RATIO}x" if r.flagged else "")
        cells.append([r.label.removeprefix("functions."), num(r.median_s, 3), num(r.min_s, 3), num(r.peak_rss_mb),
                      num(r.ratio, 2), num(r.best_ratio, 2), num(r.cpu_ratio, 2), flag])
    out += table(["function", "median s", "best s", "peak RSS MB", "x baseline", "x (best)", "x (CPU)", ""], cells)
    flagged = [r for r in rows if r.flagged]
    both = [r for r in flagged if r.best_ratio > cold_start.TARGET_RATIO]
    out.append(f"  {len(flagged)} of {len(rows)} functions above {cold_start.TARGET_RATIO}x the baseline "
               f"(ratio of medians); {len(both)} of them also on the best samples")
    return out


# ---- 2. package size -----------------------------------------------------------------------------------


def package_section(assets: Sequence[package_size.AssetSize]) -> list[str]:
    out = ["2. PACKAGE SIZE as CDK packages it (Code.from_asset excludes); Lambda limit 250 MB unzipped, "
           "function code + layers"]
    cells = []
    for a in assets:
        if not a.exists:
            cells.append([a.name, "n/a", "not built", "-"])
            continue
        cells.append([a.name, f"{a.files:,}", mb(a.unzipped_bytes), mb(a.zipped_bytes)])
    unzipped = sum(a.unzipped_bytes for a in assets)
    cells.append(["every function (all three)", "", mb(unzipped), mb(sum(a.zipped_bytes for a in assets))])
    out += table(["asset", "files", "unzipped MB", "zipped MB"], cells)
    share = unzipped / package_size.LAMBDA_UNZIPPED_LIMIT_BYTES * 100
    headroom = mb(package_size.LAMBDA_UNZIPPED_LIMIT_BYTES - unzipped)
    out.append(f"  {share:.1f}% of the 250 MB limit; headroom {headroom} MB")
    layer = assets[0]
    if layer.exists and layer.largest:
        out.append("  10 largest top-level packages in the dependency layer (unzipped MB): "
                   + ", ".join(f"{name} {n / package_size.MB:.1f}" for name, n in layer.largest))
    elif not layer.exists:
        out.append("  dependency layer not built: run `make bench` (builds .build/dependency-layer first)")
    return out


# ---- 3. DynamoDB per route -----------------------------------------------------------------------------


def dynamodb_section(session: SessionResult) -> list[str]:
    from driveway_hub.routes import ROUTES

    out = [f"3. DYNAMODB WORK PER ROUTE, per call (botocore after-call hooks on every session, incl. PynamoDB's; "
           f"scripted session over HTTP through the local cloud, {session.seconds:.0f} s)"]
    if session.error:
        out.append(f"  session error: {session.error} (handler logs: {session.log_path})")
    names = sorted(set(session.calls) | {n for n, c in session.dynamo.items() if c.requests})
    cells = []
    for name in names:
        calls = session.calls.get(name, 0)
        counts = session.dynamo.get(name, DynamoCounts())
        per = max(calls, 1)
        durations = sorted(session.durations.get(name, []))
        median_ms = durations[len(durations) // 2] * 1000 if durations else math.nan
        cells.append([name, str(calls) if name != UNATTRIBUTED else "-", num(counts.requests / per),
                      num(counts.items_read / per), num(counts.items_written / per), num(counts.rru / per),
                      num(counts.wru / per), num(median_ms, 0), "SCAN" if counts.scans else ""])
    out += table(["route", "calls", "requests", "items read", "items written", "RRU", "WRU", "median ms", ""], cells)
    failed = session.failed_routes()
    if failed:
        out.append("  n/a (tried, did not work): " + "; ".join(f"{r}: {why}" for r, why in sorted(failed.items())))
    untried = [r.name for r in ROUTES if r.name not in session.calls and r.name not in failed]
    if untried:
        out.append("  not exercised by the session: " + ", ".join(untried))
    for name in names:
        counts = session.dynamo.get(name, DynamoCounts())
        if counts.scans:
            out.append(f"  WARNING: {counts.scans} Scan(s) on the request path of {name}")
    if not any(c.scans for c in session.dynamo.values()):
        out.append("  no Scan on any request path")
    if session.calls and not any(c.requests for c in session.dynamo.values()):
        out.append("  WARNING: handlers ran but the botocore hook counted no DynamoDB request (hook not installed?)")
    out.append("  items read = ScannedCount of Query/Scan + Item of GetItem + BatchGet/TransactGet items; "
               "RRU/WRU computed from item sizes (moto returns no ConsumedCapacity), GSI writes included; "
               "median ms = handler wall time in this process (modules imported beforehand)")
    return out


# ---- 4-5. cost -----------------------------------------------------------------------------------------


def environment_config(env: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(CDK_JSON.read_text())["context"]["environments"][env]
    return config


def fixed_resources(env_config: Mapping[str, Any], env: str = "prod") -> tuple[cost.FixedResources, str]:
    """Counted from the stacks' code: kms.Key(...) constructs, the SECRETS table, and the monitoring
    stack's alarms (2 on the REST API + 1 per function + 1 per dead-letter queue + 1 per state machine + the
    business alarms). tests/infra/test_bench_fixed_costs.py checks the counts against the prod template."""
    from driveway_hub.routes import routes_for
    from stacks import constants

    routes = routes_for(env)
    kms_keys = sum(p.read_text().count("kms.Key(") for p in (REPO_ROOT / "stacks").glob("*.py"))
    extra_functions = (constants.REST_AUTHORIZER_FUNCTION, constants.WEBSOCKET_AUTHORIZER_FUNCTION,
                       constants.PRE_TOKEN_GENERATION_FUNCTION)
    machines = len(list(constants.STATE_MACHINES_DIR.glob(f"*{constants.ASL_SUFFIX}")))
    dead_letter_queues = 2  # the reconciler schedule and the telemetry consumer (stacks/triggers.py)
    business = 4  # payment failures, Tesla API unavailable, webhook signature failures, money needs attention
    alarms = 2 + len(routes) + len(extra_functions) + dead_letter_queues + machines + business
    fixed = cost.FixedResources(kms_keys=kms_keys, secrets=len(constants.SECRETS), alarms=alarms,
                                kinesis_shards=int(env_config.get("telemetry_stream_shards", 1)))
    why = (f"alarms = 2 API + {len(routes) + len(extra_functions)} functions ({len(routes)} routes + 2 authorizers "
           f"+ Cognito trigger) + {dead_letter_queues} DLQs + {machines} state machine + {business} business "
           "(stacks/monitoring_stack.py)")
    return fixed, why


def quantities_from_run(run: BookingRun, memory_mb: int) -> cost.BookingQuantities:
    durations = {**run.gateway_functions, **run.task_functions}
    lambdas = [cost.LambdaUse(name, len(d), cost.billed_seconds(d), memory_mb) for name, d in sorted(durations.items())]
    invocations = sum(u.invocations for u in lambdas)
    return cost.BookingQuantities(
        basis="measured",
        lambdas=lambdas, sfn_transitions=run.transitions or 0,
        dynamodb_rru=run.dynamo.rru, dynamodb_wru=run.dynamo.wru,
        rest_requests=run.rest_requests, ws_messages=run.ws_messages,
        ws_connection_minutes=DRIVER_CONNECTED_MIN + HOST_CONNECTED_MIN,
        kms_requests=run.service_calls.get("kms", 0), secrets_calls=run.service_calls.get("secrets-manager", 0),
        xray_traces=invocations,
        basis_by_part={"Lambda duration": "measured locally", "WebSocket connection": "assumed",
                       "X-Ray traces": "upper bound", "Secrets Manager API": "measured, warm"},
    )


def quantities_by_estimate(session: SessionResult, memory_mb: int) -> cost.BookingQuantities:
    rru = {n: c.rru / max(session.calls.get(n, 1), 1) for n, c in session.dynamo.items()}
    wru = {n: c.wru / max(session.calls.get(n, 1), 1) for n, c in session.dynamo.items()}
    return cost.estimate(rru, wru, memory_mb=memory_mb)


def init_seconds(measures: Mapping[str, cold_start.Measure]) -> dict[str, float]:
    """Function name -> median cold import seconds of its module."""
    from driveway_hub.routes import ROUTES

    modules = {r.name: r.module for r in ROUTES}
    modules.update({"authorizer": "functions.auth.authorizer", "ws_authorizer": "functions.auth.ws_authorizer"})
    return {name: measures[m].median_s for name, m in modules.items() if m in measures and measures[m].seconds}


def cost_section(q: cost.BookingQuantities, run: BookingRun | None, fixed: cost.FixedResources, fixed_why: str,
                 env: str, memory_mb: int, bookings: int,
                 init: Mapping[str, float]) -> tuple[list[str], dict[str, Any]]:
    lines = cost.booking_cost(q)
    if init:
        lines.append(cost.init_upper_bound(q.lambdas, init))
    per_booking = cost.total(lines)
    fixed_lines = cost.fixed_monthly(fixed)
    month = cost.monthly(per_booking, fixed_lines, bookings)
    out = [f"4. AWS COST PER COMPLETED BOOKING (us-east-1 on-demand prices of {prices.PRICES_AS_OF}, bench/prices.py; "
           f"stage {env}: {memory_mb} MB functions, x86_64)"]
    if run is not None and run.completed:
        out.append(f"  basis: MEASURED - the second of two full lifecycles through the local cloud (warm functions), "
                   f"booked > paid > {run.transitions} state transitions > COMPLETED; Tesla linked: "
                   f"{run.tesla_linked}, arrival by {run.arrival}, parked by {run.parked}; "
                   f"{run.telemetry_batches} telemetry batches")
    else:
        why = "; ".join(run.notes) if run is not None and run.notes else "no session"
        out.append(f"  basis: ESTIMATE - no lifecycle completed ({why}): {q.description}")
    cells = [[ln.part, num(ln.quantity, 2), ln.unit, usd(ln.usd, 6), usd(ln.usd * bookings), ln.basis
              + ("" if ln.in_total else ", not in total")] for ln in lines]
    cells.append(["TOTAL per booking (variable)", "", "", usd(per_booking, 6), usd(per_booking * bookings), ""])
    out += table(["part", "quantity", "unit", "USD/booking", f"USD/{bookings:,} bookings", "basis"], cells)
    out.append("  fixed monthly (whatever the traffic):")
    out += table(["resource", "count", "unit", "USD/month"],
                 [[ln.part, num(ln.quantity), ln.unit, usd(ln.usd)] for ln in fixed_lines], indent="    ")
    out.append(f"    {fixed_why}")
    out.append(f"  PER MONTH at {bookings:,} bookings: variable {usd(month.variable_usd)} + fixed "
               f"{usd(month.fixed_usd)} = {usd(month.total_usd)}  ({usd(month.per_booking_usd, 6)} per booking all-in)")
    top = sorted(q.lambdas, key=lambda u: -u.gb_seconds)[:5]
    out.append("  Lambda GB-s by function (top 5): " + ", ".join(
        f"{u.name} {u.invocations}x {u.gb_seconds:.3f}" for u in top))
    data = {"quantities": q.to_dict(), "lines": [ln.__dict__ for ln in lines], "per_booking_usd": per_booking,
            "fixed_monthly": [ln.__dict__ for ln in fixed_lines], "fixed_basis": fixed_why,
            "monthly": {"bookings": bookings, "variable_usd": month.variable_usd, "fixed_usd": month.fixed_usd,
                        "total_usd": month.total_usd, "per_booking_all_in_usd": month.per_booking_usd}}
    return out, data


def vendor_section(run: BookingRun | None, bookings: int) -> tuple[list[str], dict[str, Any]]:
    out = ["5. TESLA AND STRIPE PER BOOKING"]
    data: dict[str, Any] = {"tesla": None, "stripe": None}
    if run is None or not run.completed or run.tesla is None:
        out.append("  Tesla: n/a (no lifecycle run)")
    elif not run.tesla_linked:
        out.append("  Tesla: n/a (the lifecycle ran without a linked Tesla)")
    else:
        lines = cost.tesla_cost(run.tesla)
        per = cost.total(lines)
        out += table(["Tesla Fleet API", "count", "USD/booking", f"USD/{bookings:,}"],
                     [[ln.part, num(ln.quantity), usd(ln.usd, 6), usd(ln.usd * bookings)] for ln in lines]
                     + [["TOTAL Tesla", "", usd(per, 6), usd(per * bookings)]])
        own = usd(run.tesla.get("estimated_cost_usd", 0.0), 6)
        out.append(f"  (simulator's own estimate: {own}; signals scale with driving time: "
                   f"{run.telemetry_batches} batches of 5 s)")
        data["tesla"] = {"counters": run.tesla, "usd_per_booking": per}
    if run is None or run.stripe_calls is None or not run.completed:
        out.append("  Stripe: n/a (no lifecycle run)")
    else:
        calls = sum(run.stripe_calls.values())
        detail = ", ".join(f"{k} x{v}" for k, v in sorted(run.stripe_calls.items(), key=lambda kv: -kv[1]))
        out.append(f"  Stripe: {calls} API calls per booking from our functions ({detail}); "
                   f"{run.stripe_webhooks} webhook deliveries to us; + 1 confirm by the driver's app (Stripe.js)")
        data["stripe"] = {"api_calls": calls, "by_endpoint": dict(run.stripe_calls), "webhooks": run.stripe_webhooks}
    return out, data


# ---- 6. search -----------------------------------------------------------------------------------------


def search_section(size: int, queries: int) -> tuple[list[str], Any]:
    header = f"6. RADIUS SEARCH (bench/search_bench.py: {size:,} driveways, {queries} searches, moto)"
    try:
        from bench import search_bench
    except ImportError:
        return [header, "  not available (bench/search_bench.py is not there)"], None
    needed = ("moto_tables", "run")
    if not all(hasattr(search_bench, n) for n in needed):
        return [header, "  not available (bench/search_bench.py exposes no run()/moto_tables())"], None
    try:
        from driveway_hub.data.driveways import DynamoDrivewayStore

        with search_bench.moto_tables():
            report = search_bench.run(DynamoDrivewayStore(), size, queries)
        bands = report.bands()
    except Exception as exc:  # noqa: BLE001 - another engineer's module: report, do not stop the bench
        return [header, f"  failed: {type(exc).__name__}: {exc}"], None
    cells = [[str(b["band_km"]), str(b["searches"]), f"{b['queries_p50']:g}/{b['queries_max']}",
              f"{b['items_p50']:g}/{b['items_p95']:g}", f"{b['found_p50']:g}",
              f"{b['amp_p50']:.2f}/{b['amp_p95']:.2f}", f"{b['rcu_p50']:g}"] for b in bands]
    out = [header, *table(["radius km", "n", "Query p50/max", "items p50/p95", "found p50", "amplif. p50/p95",
                           "RCU p50"], cells),
           f"  exact vs brute force: {'all' if report.all_exact else 'NOT ALL'}"]
    return out, {"metro_size": size, "queries": queries, "all_exact": report.all_exact, "bands": bands}


# ---- main ----------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=cold_start.RUNS, help="fresh processes per function (cold start)")
    parser.add_argument("--workers", type=int, default=cold_start.WORKERS,
                        help="cold-start processes at once (default 1: parallel samples disturb each other)")
    parser.add_argument("--env", default="dev", choices=("dev", "staging", "prod"),
                        help="cdk.json environment whose memory size and shard count are priced")
    parser.add_argument("--bookings", type=int, default=10_000, help="bookings per month for the monthly figure")
    parser.add_argument("--drive-km", type=float, default=5.0, help="the simulated car's drive to the driveway")
    parser.add_argument("--search-size", type=int, default=10_000, help="driveways in the search benchmark")
    parser.add_argument("--search-queries", type=int, default=200, help="searches in the search benchmark")
    parser.add_argument("--skip-cold-start", action="store_true")
    parser.add_argument("--skip-session", action="store_true", help="no local cloud: cost from the ASL estimate")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    return parser.parse_args(argv)


def _timed(label: str, step: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    _progress(f"{label}...")
    result = step()
    _progress(f"{label}: {time.perf_counter() - started:.0f} s")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    env_config = environment_config(args.env)
    memory_mb = int(env_config.get("lambda_memory_mb", cost.DEFAULT_MEMORY_MB))

    # Cold start first, while this process is small and nothing else of the bench runs beside the children.
    measures: dict[str, cold_start.Measure] = {} if args.skip_cold_start else _timed(
        "cold start", lambda: cold_start.run(args.runs, args.workers, progress=_progress))
    assets = _timed("package size", package_size.run)
    session = SessionResult() if args.skip_session else _timed(
        "DynamoDB session and booking lifecycles", lambda: run_session(drive_km=args.drive_km))
    search_lines, search_data = ([], None) if args.skip_search else _timed(
        "radius search", lambda: search_section(args.search_size, args.search_queries))

    run = session.booking
    if run is not None and run.completed:
        q = quantities_from_run(run, memory_mb)
    else:
        q = quantities_by_estimate(session, memory_mb)
    fixed, fixed_why = fixed_resources(env_config, args.env)
    cost_lines, cost_data = cost_section(q, run, fixed, fixed_why, args.env, memory_mb, args.bookings,
                                         init_seconds(measures))
    vendor_lines, vendor_data = vendor_section(run, args.bookings)

    wall = time.perf_counter() - started
    report = [f"DRIVEWAY-HUB BENCH  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  python {platform.python_version()}  "
              f"{os.cpu_count()} CPUs  load avg at start {load:.1f}  wall {wall:.0f} s", ""]
    if measures:
        report += [*cold_start_section(measures, args.runs, args.workers), ""]
    report += [*package_section(assets), ""]
    if not args.skip_session:
        report += [*dynamodb_section(session), ""]
    report += [*cost_lines, "", *vendor_lines, ""]
    if search_lines:
        report += [*search_lines, ""]
    try:  # 7. load (bench/load.py): its own local cloud, real clock, after the session's has stopped
        from bench import load as load_bench

        report += [*load_bench.section(), ""]
    except Exception as exc:  # noqa: BLE001 - another module: report, do not stop the bench
        report += [f"7. LOAD: failed: {type(exc).__name__}: {exc}", ""]
    report += notes(run, session)
    print("\n".join(report))

    results = {
        "generated_at": datetime.now(UTC).isoformat(), "wall_seconds": round(wall, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_avg_start": load},
        "cold_start": {"runs": args.runs, "workers": args.workers,
                       "functions": {label: m.to_dict() for label, m in measures.items()}},
        "package_size": {a.name: a.to_dict() for a in assets},
        "dynamodb_per_route": {name: {"calls": session.calls.get(name, 0), **c.to_dict()}
                               for name, c in sorted(session.dynamo.items())},
        "session": {"seconds": round(session.seconds, 1), "error": session.error, "failed": session.failed_routes(),
                    "log": session.log_path},
        "booking": run.to_dict() if run is not None else None,
        "warm_up_booking": session.warm_up.to_dict() if session.warm_up is not None else None,
        "cost": cost_data, **vendor_data, "search": search_data, "prices": prices.as_dict(),
    }
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    _progress(f"wrote {args.json.relative_to(REPO_ROOT) if args.json.is_relative_to(REPO_ROOT) else args.json}")
    return 0


def notes(run: BookingRun | None, session: SessionResult) -> list[str]:
    out = ["NOTES (what is measured, what is not)",
           "  - Cold start: local python " + platform.python_version() + " with .venv packages (Lambda: 3.12 and the "
           "dependency layer). CDK ships no .pyc and the layer is built --no-compile, so on Lambda the first import "
           "also compiles: real INIT is longer than shown. Medians are inflated by other load on the machine; "
           "'best' is the least disturbed sample.",
           "  - DynamoDB, Lambda invocations, REST requests, WebSocket messages, SFN transitions, KMS/Secrets calls, "
           "Tesla and Stripe calls: counted in one run. Lambda durations are in-process wall times on this machine "
           "(moto serving in the same process): indicative, not Lambda's.",
           "  - REST authorizer: invoked on every authenticated request locally; API Gateway caches its answer for "
           "300 s per token, so the authorizer's invocations (and its DynamoDB reads) are an upper bound.",
           f"  - WebSocket connection minutes are assumed ({DRIVER_CONNECTED_MIN} driver + {HOST_CONNECTED_MIN} host); "
           "keep-alive pings (API Gateway drops idle sockets after 10 min) would add 2 messages and one ws_ping "
           "invocation per ~9 min connected.",
           "  - Secrets Manager: counted in one warm process (secrets cached); each cold container fetches again.",
           "  - Telemetry came through the relay webhook (one REST request + invocation per 5 s batch while the car "
           "moves); through Kinesis it would cost PUT payload units and a stream-triggered function instead.",
           "  - The bench waits for Stripe's webhooks before the app's next request, so that each DynamoDB request "
           "is counted against the route that made it (one process serves every function locally).",
           "  - Counts vary by about 1 from run to run (webhook ordering: e.g. 8 or 9 Stripe calls).",
           "  - Not in the totals: free tiers, CloudWatch Logs, DynamoDB storage/backups, S3, data transfer, Cognito."]
    if run is not None:
        out += [f"  - Booking run: {n}" for n in run.notes]
    if session.log_path:
        out.append(f"  - Handler logs of the session: {session.log_path}")
    return [re.sub(r"\s+$", "", line) for line in out]


if __name__ == "__main__":
    sys.exit(main())
