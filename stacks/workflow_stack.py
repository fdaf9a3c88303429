"""Step Functions state machines, one per ``statemachines/<name>.asl.json``, deployed as written.

The ASL files use placeholders that the local cloud fills in the same way:
``${Fn_<route name>}`` is the ARN of that task route's function and ``${Table_<logical id>}`` the
name of that table. The machine's role may invoke only the functions and reach only the tables its
definition names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from driveway_hub.data.tables import TABLES_BY_ID
from stacks import constants as c
from stacks.api_stack import ApiStack
from stacks.data_stack import DataStack
from stacks.environment import EnvironmentConfig
from stacks.nag import acknowledge
from stacks.route_function import TABLE_ACTIONS

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
FUNCTION_PREFIX = "Fn_"
TABLE_PREFIX = "Table_"


def definitions_in(directory: Path) -> dict[str, Path]:
    """``{name: path}`` of the ASL files in ``directory`` (``booking_lifecycle.asl.json`` -> booking_lifecycle)."""
    return {p.name.removesuffix(c.ASL_SUFFIX): p for p in sorted(directory.glob(f"*{c.ASL_SUFFIX}"))}


class WorkflowStack(cdk.Stack):
    """Standard state machines with logging and X-Ray, invoking the task functions of the API stack."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        api: ApiStack,
        data: DataStack,
        definitions: Mapping[str, Path],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self._api = api
        self._data = data
        self.state_machines: dict[str, sfn.StateMachine] = {
            name: self._state_machine(name, path.read_text()) for name, path in definitions.items()
        }

    def _state_machine(self, name: str, definition: str) -> sfn.StateMachine:
        config = self.config
        physical_name = c.resource_name(config.name, name)
        functions, tables = self._placeholders(name, definition)
        log_group = logs.LogGroup(
            self,
            f"{c.pascal(name)}Logs",
            # The /aws/vendedlogs/ prefix keeps the log group out of CloudWatch Logs' resource policy
            # size limit, which Step Functions' log delivery otherwise fills up.
            log_group_name=f"/aws/vendedlogs/states/{physical_name}",
            retention=config.log_retention,
            removal_policy=config.cdk_removal_policy,
        )
        substitutions = {f"{FUNCTION_PREFIX}{n}": self._api.functions[n].function.function_arn for n in functions}
        substitutions |= {f"{TABLE_PREFIX}{t}": self._data.tables[t].table_name for t in tables}
        machine = sfn.StateMachine(
            self,
            c.state_machine_id(name),
            state_machine_name=physical_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            # Inlined rather than uploaded as an asset: the template shows exactly what runs.
            definition_body=sfn.DefinitionBody.from_string(definition),
            definition_substitutions=substitutions,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=log_group,
                level=sfn.LogLevel.ALL,
                include_execution_data=config.state_machine_log_execution_data,
            ),
            removal_policy=config.cdk_removal_policy,
        )
        if functions:
            # Unqualified ARNs only: the definition invokes $LATEST, so no ":*" version wildcard.
            machine.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"],
                    resources=[self._api.functions[n].function.function_arn for n in functions],
                )
            )
        if tables:
            resources: list[str] = []
            for logical_id in tables:
                arn = self._data.tables[logical_id].table_arn
                resources += [arn] + [f"{arn}/index/{i.name}" for i in TABLES_BY_ID[logical_id].indexes]
            machine.add_to_role_policy(iam.PolicyStatement(actions=list(TABLE_ACTIONS), resources=resources))
        acknowledge(
            machine,
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "Log delivery (logs:CreateLogDelivery and friends) and X-Ray (xray:PutTraceSegments...) "
            "have no resource-level permissions: AWS requires Resource '*' for them.",
        )
        return machine

    def _placeholders(self, name: str, definition: str) -> tuple[list[str], list[str]]:
        """Function route names and table ids the definition refers to; unknown ones fail synthesis."""
        task_routes = {r.name for r in self._api.routes if r.kind == "task"}
        functions: list[str] = []
        tables: list[str] = []
        unknown: list[str] = []
        for placeholder in sorted(set(_PLACEHOLDER.findall(definition))):
            if placeholder.startswith(FUNCTION_PREFIX) and placeholder[len(FUNCTION_PREFIX):] in task_routes:
                functions.append(placeholder[len(FUNCTION_PREFIX):])
            elif placeholder.startswith(TABLE_PREFIX) and placeholder[len(TABLE_PREFIX):] in self._data.tables:
                tables.append(placeholder[len(TABLE_PREFIX):])
            else:
                unknown.append(f"${{{placeholder}}}")
        if unknown:
            raise ValueError(
                f"statemachines/{name}{c.ASL_SUFFIX}: unknown placeholder {', '.join(unknown)}: use "
                f"${{{FUNCTION_PREFIX}<name of a task route>}} or ${{{TABLE_PREFIX}<table logical id>}}"
            )
        return functions, tables
