"""One Lambda function for one entry of the route table, with its own role and log group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from driveway_hub.data.tables import TableSpec
from driveway_hub.routes import API_STAGE, Route
from stacks import constants as c
from stacks.environment import EnvironmentConfig
from stacks.nag import acknowledge

# Item-level reads and writes (TransactWriteItems is authorized per item by these actions).
# Scan is left out on purpose: no request path may scan a table (design/architecture.md, Data).
TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:DescribeTable",
)

RUNTIME = lambda_.Runtime.PYTHON_3_12
# The dependency layer holds manylinux2014_x86_64 wheels (layers/build_dependency_layer.py).
ARCHITECTURE = lambda_.Architecture.X86_64


class RouteFunction(Construct):
    """The function of ``route``: least-privilege role, retained-per-environment log group, X-Ray."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        route: Route,
        config: EnvironmentConfig,
        code: lambda_.Code,
        layers: Sequence[lambda_.ILayerVersion],
        environment: Mapping[str, str],
        description: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.route = route
        name = route.function_name(config.name)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=c.log_group_name("lambda", name),
            retention=config.log_retention,
            removal_policy=config.cdk_removal_policy,
        )
        # Its own role, without AWSLambdaBasicExecutionRole: it may write to its own log group only.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{name}: only what route {route.name} needs",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=name,
            description=description or _describe(route),
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=route.handler,
            code=code,
            layers=list(layers),
            role=self.role,
            environment=dict(environment),
            memory_size=config.lambda_memory_mb,
            timeout=cdk.Duration.seconds(config.lambda_timeout_seconds),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
        )
        acknowledge(
            self.function,
            "AwsSolutions::AwsSolutions-L1",
            "Pinned to python3.12: the dependency layer is built from cp312 wheels "
            "(layers/build_dependency_layer.py); runtime and layer are upgraded together.",
        )
        acknowledge(
            self.role,
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords have no resource-level "
            "permissions, so AWS requires Resource '*' for them.",
        )

    def grant_tables(self, tables: Mapping[str, dynamodb.ITable], specs: Mapping[str, TableSpec]) -> None:
        """Item access to the route's declared tables and their indexes (named, no wildcards)."""
        if not self.route.tables:
            return
        resources: list[str] = []
        for logical_id in self.route.tables:
            table, spec = tables[logical_id], specs[logical_id]
            resources.append(table.table_arn)
            resources += [f"{table.table_arn}/index/{index.name}" for index in spec.indexes]
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=list(TABLE_ACTIONS), resources=resources))


def _describe(route: Route) -> str:
    if route.kind == "rest":
        return f"REST {route.method} /{API_STAGE}{route.path} ({route.module})"
    if route.kind == "websocket":
        return f"WebSocket {route.route_key} ({route.module})"
    return f"{route.kind} {route.name} ({route.module})"
