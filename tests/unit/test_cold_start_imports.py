"""Cold start (issue #8): what a handler loads at import, what X-Ray patches, and models bound when they
are imported after ``bind_models`` (the data layer is imported on first use)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pynamodb.attributes import UnicodeAttribute

from bench import cold_start
from driveway_hub.config import env_for, settings_from_env
from driveway_hub.data import base
from driveway_hub.data.base import TableModel, bind_models

# Loaded on first use, never at import: the data layer, the vendors' SDKs, boto3 (created per client),
# and what X-Ray's patch_all() used to import (sqlite3, the SDK's pynamodb patch).
DEFERRED = ("pynamodb", "stripe", "requests", "boto3", "sqlite3", "aws_xray_sdk.ext.pynamodb")
# One function of each kind: a WebSocket route, a REST route of every package, a workflow task, a
# webhook and the authorizer (which verifies a JWT on every call, so PyJWT is loaded at import).
REPRESENTATIVES = (
    "functions.ws.connect", "functions.ws.subscribe", "functions.api.get_health", "functions.auth.login",
    "functions.bookings.create_booking", "functions.workflow.notify", "functions.driveways.get_driveway",
    "functions.payments.stripe_webhook", "functions.tesla.navigate", "functions.auth.authorizer",
)


def _in_lambda_env(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter with a deployed function's environment; it prints one JSON line."""
    done = subprocess.run([sys.executable, "-c", code], env=cold_start.lambda_env("dev"), cwd=cold_start.REPO_ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    answer: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


@pytest.mark.parametrize("module", REPRESENTATIVES)
def test_a_handler_defers_its_collaborators_to_their_first_use(module: str) -> None:
    loaded = _in_lambda_env(
        f"import json, sys\nimport {module}\n"
        f"print(json.dumps({{'loaded': [m for m in {DEFERRED!r} if m in sys.modules]}}))"
    )
    assert loaded == {"loaded": []}


@pytest.mark.parametrize("module", ["functions.driveways.get_driveway", "functions.tesla.telemetry_webhook"])
def test_h3_is_loaded_only_when_a_location_is_checked(module: str) -> None:
    answer = _in_lambda_env(f"""
import json, sys
import {module}
from driveway_hub.domain import geo
at_import = "h3" in sys.modules
cells = geo.cell_keys(52.52, 13.405)
print(json.dumps({{"at_import": at_import, "after": "h3" in sys.modules, "cells": len(cells)}}))
""")
    assert answer == {"at_import": False, "after": True, "cells": 2}


def test_x_ray_patches_botocore_and_requests_when_they_are_imported_and_nothing_else() -> None:
    answer = _in_lambda_env("""
import json, sys
import wrapt
from driveway_hub.observability import tracer
before = [m for m in ("botocore.client", "requests", "sqlite3", "pynamodb") if m in sys.modules]
import botocore.client, requests
from aws_xray_sdk.core import patcher
print(json.dumps({
    "enabled": not tracer.disabled, "before": before, "patched": sorted(patcher._PATCHED_MODULES),
    "botocore": isinstance(botocore.client.BaseClient.__dict__["_make_api_call"], wrapt.FunctionWrapper),
    "requests": isinstance(requests.Session.__dict__["request"], wrapt.FunctionWrapper),
}))
""")
    assert answer == {"enabled": True, "before": [], "patched": ["botocore", "requests"], "botocore": True,
                      "requests": True}


def test_a_library_imported_before_observability_is_patched_at_once() -> None:
    answer = _in_lambda_env("""
import json
import botocore.client
import driveway_hub.observability
print(json.dumps({"xray": getattr(botocore.client, "_xray_enabled", False)}))
""")
    assert answer == {"xray": True}


def test_a_model_imported_after_bind_models_is_bound_as_it_is_defined(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "_bound_to", base._bound_to)  # restored afterwards
    settings = settings_from_env(env_for("dev", AWS_ENDPOINT_URL="http://127.0.0.1:4999"))
    bind_models(settings)

    class LateModel(TableModel):  # as a lazily imported data module defines its models
        logical_id = "connections"

        connection_id = UnicodeAttribute(hash_key=True)

    assert (LateModel.Meta.table_name, LateModel.Meta.region, LateModel.Meta.host) == (
        "driveway-hub-dev-connections", "us-east-1", "http://127.0.0.1:4999")
    assert TableModel.Meta.table_name == "unbound"  # the base's Meta is never written


def test_the_function_environment_turns_off_pydantic_plugin_discovery() -> None:
    # We use no pydantic plugin; discovery scans every installed distribution at each cold start.
    assert env_for("prod")["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
