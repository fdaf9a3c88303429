"""What the infra tests synthesize, and helpers to read the templates.

Two cloud assemblies, each synthesized with cdk-nag AwsSolutions active (a finding fails the fixture):

- ``prod``: the real app from the real route table and statemachines/ folder.
- ``future``: dev, with the real routes plus routes of the kinds the route table will grow (an
  authorized WebSocket $connect, tasks, routes that use the workflow, secrets, photos, the Tesla key and
  the WebSocket management API) and a state machine definition. It exercises code paths no real route
  reaches yet, so they are proven (and nag-clean) before anyone relies on them.

The dependency layer folder must exist (``python layers/build_dependency_layer.py``, run by
``make test`` first); asset staging is disabled because the tests read templates, not assets.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from driveway_hub.routes import ROUTES, Route
from stacks import constants as c
from stacks.application import DrivewayHub, build_app, new_app

FAST_SYNTH = {"aws:cdk:disable-asset-staging": True}


@dataclass(frozen=True)
class FutureRoute(Route):
    """A route with the ``uses`` declaration the stacks read (see stacks.api_stack.Use)."""

    uses: tuple[str, ...] = ()


# Prefixed "future_" (and under /future) so they never collide with routes the table gains meanwhile.
FUTURE_ROUTES: tuple[Route, ...] = (
    # The real WebSocket routes and health only: with every real route as well, this extra app would pass
    # CloudFormation's resource limit in one stack (see test_every_stack_keeps_headroom…).
    *(dataclasses.replace(r, auth=True) if r.route_key == "$connect" else r
      for r in ROUTES if r.kind == "websocket" or r.name in ("get_health", "auth_me")),
    FutureRoute("future_start", "rest", "functions.api.future_start", "POST", "/future/bookings",
                tables=("bookings", "driveways"), uses=("workflow:start", "secret:stripe")),
    FutureRoute("future_stop", "rest", "functions.api.future_stop", "POST",
                "/future/bookings/{booking_id}/cancel", tables=("bookings",), uses=("workflow:stop",)),
    FutureRoute("future_callback", "rest", "functions.api.future_callback", "POST", "/future/webhooks/stripe",
                auth=False, tables=("webhook_events",), uses=("workflow:callback", "secret:stripe")),
    FutureRoute("future_photos", "rest", "functions.api.future_photos", "POST",
                "/future/driveways/{driveway_id}/photos", tables=("driveways",), uses=("photos",)),
    FutureRoute("future_tesla", "rest", "functions.api.future_tesla", "GET", "/future/tesla/callback",
                auth=False, tables=("tesla_accounts",), uses=("tesla_tokens", "secret:tesla")),
    FutureRoute("future_subscribe", "websocket", "functions.ws.future_subscribe", route_key="future_subscribe",
                tables=("subscriptions",), uses=("websocket",)),
    FutureRoute("future_reserve", "task", "functions.workflow.future_reserve", tables=("bookings",),
                uses=("websocket",)),
    FutureRoute("future_notify", "task", "functions.workflow.future_notify", uses=("websocket",)),
)

FUTURE_ASL = textwrap.dedent("""\
    {
      "Comment": "Test fixture: a callback task, a plain task and a DynamoDB integration.",
      "StartAt": "Reserve",
      "States": {
        "Reserve": {
          "Type": "Task",
          "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
          "Parameters": {"FunctionName": "${Fn_future_reserve}", "Payload": {"token.$": "$$.Task.Token"}},
          "Next": "Record"
        },
        "Record": {
          "Type": "Task",
          "Resource": "arn:aws:states:::dynamodb:putItem",
          "Parameters": {"TableName": "${Table_booking_history}",
                         "Item": {"booking_id": {"S.$": "$.id"}, "seq": {"N": "1"}}},
          "End": true
        }
      }
    }
""")


@dataclass
class Synthesized:
    hub: DrivewayHub
    outdir: Path
    templates: dict[str, dict[str, Any]]  # stack construct id -> template

    def template(self, stack: str) -> dict[str, Any]:
        return self.templates[c.stack_id(self.hub.config.name, stack)]

    def resources(self, resource_type: str, stack: str | None = None) -> dict[str, dict[str, Any]]:
        """``{logical id: resource}`` of one type, in one stack or across all of them."""
        templates = [self.template(stack)] if stack else list(self.templates.values())
        return {
            logical_id: resource
            for template in templates
            for logical_id, resource in template.get("Resources", {}).items()
            if resource["Type"] == resource_type
        }

    def function(self, route_name: str) -> tuple[str, dict[str, Any]]:
        """``(logical id, resource)`` of a route's Lambda function (found by its declared name)."""
        name = self.hub.api.functions[route_name].route.function_name(self.hub.config.name)
        matches = [
            (logical_id, fn)
            for logical_id, fn in self.resources("AWS::Lambda::Function", c.API_STACK).items()
            if fn["Properties"].get("FunctionName") == name
        ]
        assert len(matches) == 1, f"{len(matches)} functions named {name}"
        return matches[0]

    def role_statements(self, role_logical_id: str, stack: str) -> list[dict[str, Any]]:
        """Every statement of the policies attached to a role of ``stack`` (inline and AWS::IAM::Policy)."""
        role = self.template(stack)["Resources"][role_logical_id]
        found = [s for p in role["Properties"].get("Policies", []) for s in statements(p["PolicyDocument"])]
        for policy in self.resources("AWS::IAM::Policy", stack).values():
            if {"Ref": role_logical_id} in policy["Properties"]["Roles"]:
                found += statements(policy["Properties"]["PolicyDocument"])
        return found

    def function_statements(self, route_name: str) -> list[dict[str, Any]]:
        _, fn = self.function(route_name)
        return self.role_statements(fn["Properties"]["Role"]["Fn::GetAtt"][0], c.API_STACK)


def require_dependency_layer() -> None:
    if not (c.DEPENDENCY_LAYER_DIR / "python").is_dir():
        pytest.fail(
            f"{c.DEPENDENCY_LAYER_DIR}/python is missing: run `python layers/build_dependency_layer.py` "
            "before the infra tests (make test does)",
            pytrace=False,
        )


def synthesize(outdir: Path, **build_options: Any) -> Synthesized:
    require_dependency_layer()
    app = new_app(context=FAST_SYNTH, outdir=str(outdir))
    hub = build_app(app, **build_options)
    assembly = app.synth()  # raises on any unacknowledged cdk-nag finding
    templates = {stack.stack_name: assembly.get_stack_by_name(stack.stack_name).template for stack in hub.stacks}
    return Synthesized(hub=hub, outdir=outdir, templates=templates)


def statements(policy_document: dict[str, Any]) -> list[dict[str, Any]]:
    found = policy_document.get("Statement", [])
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# --- Following references (cross-stack ones are weak: Fn::GetStackOutput -> producer's output) ----
def referenced_resource(synth: Synthesized, stack: str, value: Any) -> tuple[str, str] | None:
    """``(stack name, logical id)`` of the resource ``value`` refers to (Ref, GetAtt, GetStackOutput)."""
    if not isinstance(value, dict):
        return None
    if "Fn::GetStackOutput" in value:
        producer = value["Fn::GetStackOutput"]["StackName"]
        output = synth.templates[producer]["Outputs"][value["Fn::GetStackOutput"]["OutputName"]]
        return referenced_resource(synth, producer, output["Value"])
    if isinstance(value.get("Ref"), str) and not value["Ref"].startswith("AWS::"):
        return stack, value["Ref"]
    if "Fn::GetAtt" in value:
        return stack, value["Fn::GetAtt"][0]
    return None


def resource_at(synth: Synthesized, location: tuple[str, str] | None) -> dict[str, Any]:
    assert location is not None, "not a reference"
    stack, logical_id = location
    return synth.templates[stack]["Resources"][logical_id]


def references_in(synth: Synthesized, stack: str, value: Any) -> list[tuple[str, str]]:
    """Every resource referred to anywhere inside ``value`` (e.g. a policy's Resource or a Fn::Join)."""
    found: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        location = referenced_resource(synth, stack, node)
        if location:
            found.append(location)
        elif isinstance(node, dict):
            for item in node.values():
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(value)
    return found
