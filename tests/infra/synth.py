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
    # Every real route ($connect already runs the WebSocket authorizer), then the future ones.
    *(dataclasses.replace(r, auth=True) if r.route_key == "$connect" else r for r in ROUTES),
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
    """A synthesized cloud assembly and every template in it, nested ones included.

    Templates are keyed by the name ``cdk deploy`` knows a stack by (``DrivewayHub-prod-Api``); a nested
    stack's template (its own ``*.nested.template.json`` file) by ``<parent stack name>/<nested id>``,
    e.g. ``DrivewayHub-prod-Api/BookingsFunctions``. Wherever a ``stack`` argument is taken, either
    form or the short stack suffix (``Api``, ``Data``...) may be given.
    """

    hub: DrivewayHub
    outdir: Path
    templates: dict[str, dict[str, Any]]  # template key -> template
    # nested template key -> (parent template key, logical id of its AWS::CloudFormation::Stack there)
    nested: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)

    def key(self, stack: str) -> str:
        return stack if stack in self.templates else c.stack_id(self.hub.config.name, stack)

    def template(self, stack: str) -> dict[str, Any]:
        return self.templates[self.key(stack)]

    def nested_key(self, parent: str, logical_id: str) -> str | None:
        """The template key of the nested stack that resource ``logical_id`` of ``parent`` deploys."""
        return next((k for k, where in self.nested.items() if where == (self.key(parent), logical_id)), None)

    def resources(self, resource_type: str, stack: str | None = None) -> dict[str, dict[str, Any]]:
        """``{logical id: resource}`` of one type, in one template or across all of them."""
        keys = [self.key(stack)] if stack else list(self.templates)
        found: dict[str, dict[str, Any]] = {}
        for key in keys:
            for logical_id, resource in self.templates[key].get("Resources", {}).items():
                if resource["Type"] == resource_type:
                    assert logical_id not in found, f"logical id {logical_id} in two templates"
                    found[logical_id] = resource
        return found

    def locate(self, resource_type: str, stack: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
        """``{(template key, logical id): resource}`` of one type, in one template or across all of them."""
        keys = [self.key(stack)] if stack else list(self.templates)
        return {
            (key, logical_id): resource
            for key in keys
            for logical_id, resource in self.templates[key].get("Resources", {}).items()
            if resource["Type"] == resource_type
        }

    def function_location(self, route_name: str) -> tuple[str, str]:
        """``(template key, logical id)`` of a route's Lambda function (found by its declared name)."""
        name = self.hub.api.functions[route_name].route.function_name(self.hub.config.name)
        matches = [
            location for location, fn in self.locate("AWS::Lambda::Function").items()
            if fn["Properties"].get("FunctionName") == name
        ]
        assert len(matches) == 1, f"{len(matches)} functions named {name}"
        return matches[0]

    def function(self, route_name: str) -> tuple[str, dict[str, Any]]:
        """``(logical id, resource)`` of a route's Lambda function, wherever it lives."""
        key, logical_id = self.function_location(route_name)
        return logical_id, self.templates[key]["Resources"][logical_id]

    def function_stack(self, route_name: str) -> str:
        """Template key of the stack (usually a nested one) that holds a route's function."""
        return self.function_location(route_name)[0]

    def role_statements(self, role_logical_id: str, stack: str) -> list[dict[str, Any]]:
        """Every statement of the policies attached to a role of ``stack`` (inline and AWS::IAM::Policy)."""
        role = self.template(stack)["Resources"][role_logical_id]
        found = [s for p in role["Properties"].get("Policies", []) for s in statements(p["PolicyDocument"])]
        for policy in self.resources("AWS::IAM::Policy", stack).values():
            if {"Ref": role_logical_id} in policy["Properties"]["Roles"]:
                found += statements(policy["Properties"]["PolicyDocument"])
        return found

    def function_role(self, route_name: str) -> tuple[str, str]:
        """``(template key, logical id)`` of a route function's role."""
        key, _ = self.function_location(route_name)
        _, fn = self.function(route_name)
        return key, fn["Properties"]["Role"]["Fn::GetAtt"][0]

    def function_statements(self, route_name: str) -> list[dict[str, Any]]:
        key, role_id = self.function_role(route_name)
        return self.role_statements(role_id, key)


def require_dependency_layer() -> None:
    if not (c.DEPENDENCY_LAYER_DIR / "python").is_dir():
        pytest.fail(
            f"{c.DEPENDENCY_LAYER_DIR}/python is missing: run `python layers/build_dependency_layer.py` "
            "before the infra tests (make test does)",
            pytrace=False,
        )


def synthesize(outdir: Path, context: dict[str, Any] | None = None, **build_options: Any) -> Synthesized:
    require_dependency_layer()
    app = new_app(context={**FAST_SYNTH, **(context or {})}, outdir=str(outdir))
    hub = build_app(app, **build_options)
    assembly = app.synth()  # raises on any unacknowledged cdk-nag finding
    templates = {stack.stack_name: assembly.get_stack_by_name(stack.stack_name).template for stack in hub.stacks}
    nested: dict[str, tuple[str, str]] = {}
    for stack in hub.nested_stacks:
        parent = stack.nested_stack_parent
        assert parent is not None and stack.nested_stack_resource is not None
        key = f"{parent.stack_name}/{stack.node.id}"
        templates[key] = json.loads((outdir / stack.template_file).read_text())
        nested[key] = (parent.stack_name, parent.resolve(stack.nested_stack_resource.logical_id))
    return Synthesized(hub=hub, outdir=outdir, templates=templates, nested=nested)


def statements(policy_document: dict[str, Any]) -> list[dict[str, Any]]:
    found = policy_document.get("Statement", [])
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# --- Following references --------------------------------------------------------------------------
# A value may reach its resource through other templates: a weak cross-stack reference
# (Fn::GetStackOutput -> the producer's output), a nested stack's parameter (-> the value its parent
# passes) or a nested stack's output (parent's Fn::GetAtt [<stack resource>, Outputs.<name>]).
def dereference(synth: Synthesized, stack: str, value: Any) -> tuple[str, Any]:
    """``(template key, expression)`` where ``value`` really comes from: parameters, outputs and
    cross-stack references followed until the expression names a resource (or is not a reference)."""
    stack = synth.key(stack)
    if not isinstance(value, dict):
        return stack, value
    if "Fn::GetStackOutput" in value:
        producer = value["Fn::GetStackOutput"]["StackName"]
        output = synth.templates[producer]["Outputs"][value["Fn::GetStackOutput"]["OutputName"]]
        return dereference(synth, producer, output["Value"])
    ref = value.get("Ref")
    if isinstance(ref, str) and ref in synth.templates[stack].get("Parameters", {}) and stack in synth.nested:
        parent, logical_id = synth.nested[stack]
        passed = synth.templates[parent]["Resources"][logical_id]["Properties"]["Parameters"][ref]
        return dereference(synth, parent, passed)
    if "Fn::GetAtt" in value:
        resource, attribute = value["Fn::GetAtt"]
        nested = synth.nested_key(stack, resource)
        if nested and str(attribute).startswith("Outputs."):
            output = synth.templates[nested]["Outputs"][str(attribute).removeprefix("Outputs.")]
            return dereference(synth, nested, output["Value"])
    return stack, value


def referenced_resource(synth: Synthesized, stack: str, value: Any) -> tuple[str, str] | None:
    """``(template key, logical id)`` of the resource ``value`` refers to, across stacks."""
    if not isinstance(value, dict) or not ({"Ref", "Fn::GetAtt", "Fn::GetStackOutput"} & set(value)):
        return None
    producer, expression = dereference(synth, stack, value)
    if not isinstance(expression, dict):
        return None
    if isinstance(expression.get("Ref"), str) and not expression["Ref"].startswith("AWS::"):
        return producer, expression["Ref"]
    if "Fn::GetAtt" in expression:
        return producer, expression["Fn::GetAtt"][0]
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


def flat(synth: Synthesized, stack: str, value: Any) -> str:
    """An ARN or URL as text, each reference rendered as cdk-nag does (``<LogicalId>``,
    ``<LogicalId.Attribute>``, ``<AWS::AccountId>``) but for the resource it finally reaches, in
    whichever template that resource lives."""
    stack, value = dereference(synth, stack, value)
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, parts = value["Fn::Join"]
            return str(delimiter).join(flat(synth, stack, p) for p in parts)
        if isinstance(value.get("Ref"), str):
            return f"<{value['Ref']}>"
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{resource}.{attribute}>"
    return value if isinstance(value, str) else json.dumps(value)
