"""`make invoke` for every function: each sample event in events/ runs against its handler in the local
cloud and gets a real answer: a response, or a domain error for the made-up ids in the samples — never
a crash (KeyError, ImportError, a 5xx from a bug)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from driveway_hub.errors import DomainError
from driveway_hub.routes import ROUTES, Route
from local.cloud import LocalCloud
from local.invoke import EXTRA, resolve
from local.lambda_runtime import invoke

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"
FUNCTIONS = [r.name for r in ROUTES if r.name != "payments_reconciler"] + list(EXTRA)
# Tasks whose answer to a made-up booking is an error the state machine would Catch.
EXPECTED_ERRORS = (DomainError, ValueError)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_sample_event_gets_a_real_answer(local_cloud: LocalCloud, name: str) -> None:
    route: Route = resolve(name)
    event = json.loads((EVENTS / f"{name}.json").read_text())
    try:
        result = invoke(route, event)
    except EXPECTED_ERRORS:
        return
    except Exception as exc:  # noqa: BLE001 - any other exception is the crash this test looks for
        # API Gateway authorizers signal "no" by raising Unauthorized, as Lambda authorizers do.
        assert type(exc).__name__ == "Unauthorized", f"{name} crashed: {exc!r}"
        return
    if isinstance(result, dict) and "statusCode" in result:
        assert int(result["statusCode"]) < 500, (name, result)
