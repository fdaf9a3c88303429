"""Builds the stacks of one environment into an App: used by app.py and by tests/infra alike."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from driveway_hub.routes import ROUTES, Route
from stacks import constants as c
from stacks.api_stack import ApiStack
from stacks.data_stack import DataStack
from stacks.environment import EnvironmentConfig, load_environment
from stacks.monitoring_stack import MonitoringStack
from stacks.workflow_stack import WorkflowStack, definitions_in


@dataclass(frozen=True)
class DrivewayHub:
    config: EnvironmentConfig
    data: DataStack
    api: ApiStack
    workflow: WorkflowStack | None
    monitoring: MonitoringStack

    @property
    def stacks(self) -> list[cdk.Stack]:
        """The top-level stacks (what `cdk deploy` names)."""
        return [s for s in (self.data, self.api, self.workflow, self.monitoring) if s is not None]

    @property
    def nested_stacks(self) -> list[cdk.NestedStack]:
        """The API stack's function groups: each is a template of its own (``*.nested.template.json``)."""
        return list(self.api.function_groups.values())


def cdk_json_context() -> dict[str, Any]:
    """The ``context`` of cdk.json. The CLI passes it to the app; a direct ``python app.py`` or a
    test does not, so the app reads it itself (CLI values still win: they are applied on top)."""
    context: dict[str, Any] = json.loads(c.CDK_JSON.read_text()).get("context", {})
    return context


def new_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> cdk.App:
    return cdk.App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)


def enable_nag(app: cdk.App) -> None:
    """cdk-nag 3 AwsSolutions checks as a CDK validation plugin (the v2 Aspects style does not work)."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def build_app(
    app: cdk.App,
    *,
    env: str | None = None,
    routes: Sequence[Route] = ROUTES,
    state_machines_dir: Path = c.STATE_MACHINES_DIR,
    dependency_layer_dir: Path = c.DEPENDENCY_LAYER_DIR,
    nag: bool = True,
) -> DrivewayHub:
    """Add one environment's stacks to ``app`` (and the cdk-nag AwsSolutions checks unless told not to).

    Findings of cdk-nag make ``app.synth()`` raise and are written to validation-report.json.
    """
    config = load_environment(app, env)
    stack_env = config.cdk_environment
    definitions = definitions_in(state_machines_dir)

    def props(stack: str, description: str) -> dict[str, Any]:
        return {
            "stack_name": c.stack_id(config.name, stack),
            "description": f"Driveway-Hub {config.name}: {description}",
            "env": stack_env,
            "termination_protection": config.retain,
            "tags": {"app": c.APP_NAME, "environment": config.name},
        }

    data = DataStack(
        app, c.stack_id(config.name, c.DATA_STACK), config=config,
        **props(c.DATA_STACK, "tables, photo bucket, keys, secrets, telemetry stream"),
    )
    api = ApiStack(
        app, c.stack_id(config.name, c.API_STACK), config=config, data=data, routes=routes,
        state_machine_names=tuple(definitions), dependency_layer_dir=dependency_layer_dir,
        **props(c.API_STACK, "REST and WebSocket APIs, user pool; route functions in nested stacks"),
    )
    # No ASL file yet means no workflow stack: CloudFormation rejects a stack without resources.
    workflow = (
        WorkflowStack(
            app, c.stack_id(config.name, c.WORKFLOW_STACK), config=config, api=api, data=data,
            definitions=definitions, **props(c.WORKFLOW_STACK, "Step Functions state machines"),
        )
        if definitions
        else None
    )
    monitoring = MonitoringStack(
        app, c.stack_id(config.name, c.MONITORING_STACK), config=config, api=api,
        state_machines=workflow.state_machines if workflow else {},
        **props(c.MONITORING_STACK, "alarms and dashboard"),
    )
    if nag:
        enable_nag(app)
    return DrivewayHub(config=config, data=data, api=api, workflow=workflow, monitoring=monitoring)
