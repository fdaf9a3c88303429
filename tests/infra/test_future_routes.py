"""Code paths the route table does not reach yet: authorizers, state machines and route ``uses``.

Synthesized (dev, with cdk-nag) from the real routes plus tests.infra.synth.FUTURE_ROUTES and a
fixture ASL, so adding such routes later cannot break synthesis, nag or least privilege.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from stacks import constants as c
from stacks.application import build_app, new_app
from tests.infra.synth import (
    FUTURE_ASL,
    FUTURE_ROUTES,
    FutureRoute,
    Synthesized,
    as_list,
    flat,
    references_in,
    require_dependency_layer,
    resource_at,
)

pytestmark = pytest.mark.infra

MACHINE = "driveway-hub-dev-booking-lifecycle"


def _api(synth: Synthesized) -> str:
    return c.stack_id("dev", c.API_STACK)


def _flat(synth: Synthesized, route: str, value: Any) -> str:
    """A value of route's function (env, policy) as text, references rendered <LogicalId> of the
    resource they reach wherever it lives, to compare ARNs."""
    return flat(synth, synth.function_stack(route), value)


def _statements_with(synth: Synthesized, route: str, prefix: str) -> list[dict[str, Any]]:
    return [
        s for s in synth.function_statements(route)
        if any(a.startswith(prefix) for a in as_list(s["Action"]))
    ]


# --- Authorizers ---------------------------------------------------------------------------------
def test_websocket_connect_is_authorized_with_the_token_query_parameter(future: Synthesized) -> None:
    [(authorizer_id, authorizer)] = future.resources("AWS::ApiGatewayV2::Authorizer").items()
    assert authorizer["Properties"]["IdentitySource"] == ["route.request.querystring.token"]
    uri = authorizer["Properties"]["AuthorizerUri"]
    assert set(references_in(future, _api(future), uri)) == {
        future.function_location(c.WEBSOCKET_AUTHORIZER_FUNCTION.name)
    }
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"] for r in future.resources("AWS::ApiGatewayV2::Route").values()
    }
    assert routes["$connect"]["AuthorizationType"] == "CUSTOM"
    assert routes["$connect"]["AuthorizerId"] == {"Ref": authorizer_id}
    assert all(p["AuthorizationType"] == "NONE" for key, p in routes.items() if key != "$connect")


# --- State machine -------------------------------------------------------------------------------
def test_state_machine_fills_every_placeholder_and_logs_and_traces(future: Synthesized) -> None:
    [machine] = future.resources("AWS::StepFunctions::StateMachine").values()
    props = machine["Properties"]
    workflow = c.stack_id("dev", c.WORKFLOW_STACK)
    assert props["StateMachineName"] == MACHINE
    assert props["StateMachineType"] == "STANDARD"
    assert props["DefinitionString"] == FUTURE_ASL
    placeholders = set(re.findall(r"\$\{(\w+)\}", FUTURE_ASL))
    substitutions = props["DefinitionSubstitutions"]
    assert set(substitutions) == placeholders
    fn = resource_at(future, references_in(future, workflow, substitutions["Fn_future_reserve"])[0])
    assert fn["Properties"]["FunctionName"] == "driveway-hub-dev-future_reserve"
    table = resource_at(future, references_in(future, workflow, substitutions["Table_booking_history"])[0])
    assert table["Properties"]["TableName"] == "driveway-hub-dev-booking-history"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is True  # dev; prod turns it off


def test_state_machine_role_invokes_only_the_functions_and_tables_its_definition_names(
    future: Synthesized,
) -> None:
    workflow = c.stack_id("dev", c.WORKFLOW_STACK)
    [role_id] = future.resources("AWS::IAM::Role", c.WORKFLOW_STACK)
    statements = future.role_statements(role_id, c.WORKFLOW_STACK)
    invoke = [s for s in statements if "lambda:InvokeFunction" in as_list(s["Action"])]
    invoked = {
        resource_at(future, loc)["Properties"]["FunctionName"]
        for s in invoke for loc in references_in(future, workflow, s["Resource"])
    }
    assert invoked == {"driveway-hub-dev-future_reserve"}  # no other task function: the ASL names only this one
    reached = {
        resource_at(future, loc)["Properties"]["TableName"]
        for s in statements if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
        for loc in references_in(future, workflow, s["Resource"])
    }
    assert reached == {"driveway-hub-dev-booking-history"}


def test_each_state_machine_has_a_failed_executions_alarm(future: Synthesized) -> None:
    monitoring = c.stack_id("dev", c.MONITORING_STACK)
    [alarm] = [
        a["Properties"] for a in future.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "ExecutionsFailed"
    ]
    assert alarm["Namespace"] == "AWS/States"
    assert alarm["Threshold"] == future.hub.config.alarms.state_machine_failed_executions
    [dimension] = alarm["Dimensions"]
    machine = resource_at(future, references_in(future, monitoring, dimension["Value"])[0])
    assert machine["Properties"]["StateMachineName"] == MACHINE


# --- What routes use -----------------------------------------------------------------------------
def _env(synth: Synthesized, route: str) -> dict[str, Any]:
    _, fn = synth.function(route)
    variables: dict[str, Any] = fn["Properties"]["Environment"]["Variables"]
    return variables


def test_workflow_uses_grant_start_stop_and_callback_on_the_booking_lifecycle_only(future: Synthesized) -> None:
    grants = {
        route: {(a, _flat(future, route, r)) for s in _statements_with(future, route, "states:")
                for a in as_list(s["Action"]) for r in as_list(s["Resource"])}
        for route in ("future_start", "future_stop", "future_callback")
    }
    machine_arn = f"arn:aws:states:us-east-1:<AWS::AccountId>:stateMachine:{MACHINE}"
    assert grants["future_start"] == {("states:StartExecution", machine_arn)}
    executions = f"arn:aws:states:us-east-1:<AWS::AccountId>:execution:{MACHINE}:*"
    assert grants["future_stop"] == {("states:StopExecution", executions), ("states:DescribeExecution", executions)}
    assert {a for a, _ in grants["future_callback"]} == {
        "states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"
    }
    assert {r for _, r in grants["future_callback"]} == {machine_arn}
    for route in grants:
        assert _flat(future, route, _env(future, route)["STATE_MACHINE_ARN"]) == machine_arn
    assert not _statements_with(future, "future_photos", "states:")
    assert "STATE_MACHINE_ARN" not in _env(future, "future_photos")


def test_websocket_use_grants_manage_connections_on_our_api_stage_only(future: Synthesized) -> None:
    [api_id] = future.resources("AWS::ApiGatewayV2::Api")
    for route in ("future_subscribe", "future_reserve", "future_notify"):
        [statement] = _statements_with(future, route, "execute-api:")
        assert statement["Action"] == "execute-api:ManageConnections"
        assert _flat(future, route, statement["Resource"]) == (
            f"arn:aws:execute-api:us-east-1:<AWS::AccountId>:<{api_id}>/v1/*/@connections/*"
        )
        url = _flat(future, route, _env(future, route)["WEBSOCKET_MANAGEMENT_URL"])
        assert url.startswith(f"https://<{api_id}>.execute-api.us-east-1.") and url.endswith("/v1")
    for route in ("future_start", "ws_connect", "get_health"):
        assert not _statements_with(future, route, "execute-api:")
        assert "WEBSOCKET_MANAGEMENT_URL" not in _env(future, route)


def test_photo_tesla_key_and_secret_uses_grant_only_their_resource(future: Synthesized) -> None:
    [photo] = _statements_with(future, "future_photos", "s3:")
    assert set(photo["Action"]) == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    bucket_name = _flat(future, "future_photos", _env(future, "future_photos")["PHOTO_BUCKET"])
    assert _flat(future, "future_photos", photo["Resource"]) == f"arn:aws:s3:::{bucket_name}/*"
    data_buckets = future.resources("AWS::S3::Bucket", c.DATA_STACK).values()
    assert bucket_name in {flat(future, c.DATA_STACK, b["Properties"].get("BucketName")) for b in data_buckets}

    [kms] = _statements_with(future, "future_tesla", "kms:")
    assert set(kms["Action"]) == {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"}
    tesla = future.function_stack("future_tesla")
    [key] = references_in(future, tesla, kms["Resource"])
    assert resource_at(future, key)["Type"] == "AWS::KMS::Key"
    assert references_in(future, tesla, _env(future, "future_tesla")["TESLA_TOKEN_KEY_ID"]) == [key]

    def secrets_read_by(route: str) -> set[str]:
        return {
            resource_at(future, loc)["Properties"]["Name"]
            for s in _statements_with(future, route, "secretsmanager:")
            for loc in references_in(future, future.function_stack(route), s["Resource"])
        }

    assert secrets_read_by("future_start") == {"driveway-hub/dev/stripe"}
    assert secrets_read_by("future_callback") == {"driveway-hub/dev/stripe"}
    assert secrets_read_by("future_tesla") == {"driveway-hub/dev/tesla"}
    assert secrets_read_by("future_photos") == set()
    assert "STRIPE_SECRET_ID" in _env(future, "future_start")


def test_dev_tables_are_removed_with_their_stack(future: Synthesized) -> None:
    for table in future.resources("AWS::DynamoDB::Table").values():
        assert table["DeletionPolicy"] == "Delete"
        assert table["Properties"]["DeletionProtectionEnabled"] is False


# --- Declarations the stacks refuse --------------------------------------------------------------
def _build(tmp_path: Path, routes: Any, asl: str | None = None) -> None:
    require_dependency_layer()
    machines = tmp_path / "statemachines"
    machines.mkdir()
    if asl is not None:
        (machines / f"{c.BOOKING_LIFECYCLE}{c.ASL_SUFFIX}").write_text(asl)
    build_app(new_app(outdir=str(tmp_path / "out")), env="dev", routes=routes, state_machines_dir=machines, nag=False)


def test_an_unknown_use_fails_synthesis(tmp_path: Path) -> None:
    routes = (*FUTURE_ROUTES, FutureRoute("future_typo", "task", "functions.workflow.typo", uses=("workflow:begin",)))
    with pytest.raises(ValueError, match=r"route future_typo: .*workflow:begin"):
        _build(tmp_path, routes, FUTURE_ASL)


def test_an_authorized_websocket_route_behind_a_public_connect_fails_synthesis(tmp_path: Path) -> None:
    # FUTURE_ROUTES has an authorized WebSocket route (future_subscribe); make $connect public.
    routes = tuple(dataclasses.replace(r, auth=False, permission=None) if r.route_key == "$connect" else r
                   for r in FUTURE_ROUTES)
    with pytest.raises(ValueError, match=r"need \$connect to have auth=True"):
        _build(tmp_path, routes, FUTURE_ASL)


def test_an_unknown_asl_placeholder_fails_synthesis(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown placeholder \$\{Fn_future_missing\}"):
        _build(tmp_path, FUTURE_ROUTES, FUTURE_ASL.replace("Fn_future_reserve", "Fn_future_missing"))


def test_a_workflow_use_without_its_state_machine_fails_synthesis(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"booking_lifecycle\.asl\.json does not exist"):
        _build(tmp_path, FUTURE_ROUTES)
