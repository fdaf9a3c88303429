"""`make invoke FN=<function> EVENT=<file>`: run one function on a sample event against a fresh local
cloud, the way `sam local invoke` would, and print what it returned.

FN is a route name from the route table (or a Lambda function name); EVENT defaults to
events/<FN>.json. Sample events carry made-up ids, so a handler may well answer 404: that is its
real answer to that event.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from driveway_hub.routes import ROUTES_BY_NAME, Route
from local.clock import VirtualClock
from local.cloud import LocalCloud, Ports
from local.lambda_runtime import invoke

ROOT = Path(__file__).resolve().parents[1]
EXTRA = {  # functions that are not doors of the route table (stacks/constants.py declares them the same way)
    "auth_authorizer": Route("authorizer", "task", "functions.auth.authorizer", auth=False),
    "auth_ws_authorizer": Route("ws_authorizer", "task", "functions.auth.ws_authorizer", auth=False),
    "auth_pre_token_generation": Route("pre_token_generation", "task", "functions.auth.pre_token_generation",
                                       auth=False),
}


def resolve(name: str) -> Route:
    short = name.rsplit("-", 1)[-1] if name.startswith("driveway-hub-") else name
    route = ROUTES_BY_NAME.get(short) or EXTRA.get(short)
    if route is None:
        known = ", ".join(sorted([*ROUTES_BY_NAME, *EXTRA]))
        raise SystemExit(f"unknown function {name!r}; one of: {known}")
    return route


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.invoke", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("function")
    parser.add_argument("event", nargs="?", help="event JSON file (default: events/<function>.json)")
    args = parser.parse_args(argv)
    route = resolve(args.function)
    event_path = Path(args.event) if args.event else ROOT / "events" / f"{args.function}.json"
    event = json.loads(event_path.read_text())
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with LocalCloud(clock=VirtualClock.real(), ports=Ports.ephemeral()):
        try:
            result = invoke(route, event)
        except Exception as exc:  # noqa: BLE001 - shown like Lambda shows an unhandled error
            print(json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}, indent=2))
            return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
