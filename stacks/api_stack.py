"""Lambda functions for every route, the Cognito user pool, and the REST and WebSocket APIs.

Everything is driven by ``driveway_hub.routes.ROUTES``: one function per entry, with access to the
tables it lists and the resources it ``uses``; a REST method per ``rest`` entry (behind the authorizer
when ``auth``); a WebSocket route per ``websocket`` entry. Adding a route to the table is all it takes
to deploy it.

Route functions (with their roles, policies, log groups, invoke permissions and triggers) live in one
nested stack per package of functions/ (``constants.function_group``), so this stack holds the APIs,
the user pool and the functions those need in the same template (the two authorizers and the
Cognito trigger, whose permissions and the pool name each other), and stays far below
CloudFormation's 500 resources per template as routes are added (about 3 resources per REST route
here, 5 in the group's nested stack).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as apigwv2_authorizers
from aws_cdk import aws_apigatewayv2_integrations as apigwv2_integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from driveway_hub.config import env_for
from driveway_hub.data.tables import TABLES_BY_ID
from driveway_hub.routes import API_STAGE, ROUTES, Route, routes_for
from stacks import constants as c
from stacks.api_domain import ApiCustomDomain
from stacks.data_stack import DataStack
from stacks.environment import EnvironmentConfig
from stacks.identity import Identity
from stacks.nag import acknowledge, acknowledge_wildcard_resource
from stacks.route_function import ARCHITECTURE, RUNTIME, RouteFunction
from stacks.triggers import consume_telemetry_stream, schedule_reconciler
from stacks.waf import RestApiFirewall


class Use(StrEnum):
    """What a route may use besides its tables.

    A route declares them as ``uses`` in driveway_hub.routes (e.g. ``uses=("websocket",)``); a route
    without that attribute uses none. Each one grants the narrowest permission and sets the
    environment variable (see driveway_hub.config) that names the resource.
    """

    WEBSOCKET = "websocket"  # post to / look up / close client connections
    WORKFLOW_START = "workflow:start"  # start booking lifecycle executions
    WORKFLOW_STOP = "workflow:stop"  # stop them (cancellation)
    WORKFLOW_CALLBACK = "workflow:callback"  # resume .waitForTaskToken tasks
    PHOTOS = "photos"  # read/write driveway photos (presigned URLs)
    TESLA_TOKENS = "tesla_tokens"  # encrypt/decrypt Tesla OAuth tokens
    # Read one of the Secrets Manager entries (names, not values).
    STRIPE_SECRET = "secret:stripe"  # noqa: S105
    TESLA_SECRET = "secret:tesla"  # noqa: S105
    TELEMETRY_SECRET = "secret:telemetry"  # noqa: S105


def route_uses(route: Route) -> tuple[Use, ...]:
    """The route's declared ``uses``; an unknown name fails synthesis instead of deploying no access."""
    declared: Iterable[str] = getattr(route, "uses", ())
    try:
        return tuple(Use(name) for name in declared)
    except ValueError as exc:
        raise ValueError(f"route {route.name}: {exc}; known: {', '.join(u.value for u in Use)}") from exc


# API Gateway's own errors (unknown path, throttling, authorizer denials...) in the API's error
# envelope. MISSING_AUTHENTICATION_TOKEN is what API Gateway answers for a path or method that does
# not exist (no route uses IAM auth), so it becomes 404 not_found. Messages are JSON: either a literal
# or $context.error.messageString, which API Gateway renders as a quoted, escaped string.
_GATEWAY_RESPONSES: tuple[tuple[apigw.ResponseType, str | None, str, str], ...] = (
    (apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "404", "not_found", '"No such resource"'),
    (apigw.ResponseType.UNAUTHORIZED, "401", "unauthorized", "$context.error.messageString"),
    (apigw.ResponseType.ACCESS_DENIED, "403", "forbidden", "$context.error.messageString"),
    (apigw.ResponseType.AUTHORIZER_FAILURE, "500", "authorizer_failed", '"Authorization failed"'),
    (apigw.ResponseType.THROTTLED, "429", "too_many_requests", "$context.error.messageString"),
    (apigw.ResponseType.QUOTA_EXCEEDED, "429", "quota_exceeded", "$context.error.messageString"),
    (apigw.ResponseType.BAD_REQUEST_BODY, "400", "invalid_request", "$context.error.messageString"),
    (apigw.ResponseType.BAD_REQUEST_PARAMETERS, "400", "invalid_request", "$context.error.messageString"),
    (apigw.ResponseType.REQUEST_TOO_LARGE, "413", "request_too_large", "$context.error.messageString"),
    (apigw.ResponseType.INTEGRATION_TIMEOUT, "504", "upstream_timeout", '"The request timed out"'),
    # Defaults keep API Gateway's status code.
    (apigw.ResponseType.DEFAULT_4_XX, None, "bad_request", "$context.error.messageString"),
    (apigw.ResponseType.DEFAULT_5_XX, None, "internal_error", '"Internal server error"'),
)

_CORS_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-Correlation-Id")

_REST_ACCESS_LOG = {
    "requestId": "$context.requestId",
    "xrayTraceId": "$context.xrayTraceId",
    "requestTime": "$context.requestTimeEpoch",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integration.status",
    "principalId": "$context.authorizer.principalId",
    "authorizerError": "$context.authorizer.error",
    "errorType": "$context.error.responseType",
    "errorMessage": "$context.error.message",
}

_WEBSOCKET_ACCESS_LOG = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTimeEpoch",
    "ip": "$context.identity.sourceIp",
    "connectionId": "$context.connectionId",
    "eventType": "$context.eventType",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "integrationStatus": "$context.integrationStatus",
    "integrationLatency": "$context.integrationLatency",
    "principalId": "$context.authorizer.principalId",
    "authorizerError": "$context.authorizer.error",
    "errorMessage": "$context.error.message",
}


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """apigwv2.IAccessLogSettings is an interface, not a struct, so Python needs a class for it."""

    def __init__(self, log_group: logs.ILogGroup, fields: dict[str, str]) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)
        self._format = apigw.AccessLogFormat.custom(json.dumps(fields))

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


# Partner search: requests per second (steady, burst) and per month, per API key.
PARTNER_RATE_LIMIT = 5
PARTNER_BURST_LIMIT = 10
PARTNER_MONTHLY_QUOTA = 500_000


class ApiStack(cdk.Stack):
    """One function per route, the Cognito user pool, the REST API and the WebSocket API (stage v1)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        data: DataStack,
        routes: Sequence[Route] = ROUTES,
        state_machine_names: Sequence[str] = (),
        dependency_layer_dir: Path = c.DEPENDENCY_LAYER_DIR,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.data = data
        self.routes = routes_for(config.name, tuple(routes))  # Route.stages: e.g. get_docs is not in prod
        self._state_machine_names = tuple(state_machine_names)
        self._rest_authorizer: apigw.IAuthorizer | None = None

        # The WebSocket API exists before the functions: their environment names its callback URL.
        self.websocket_api = apigwv2.WebSocketApi(
            self, c.WEBSOCKET_API, api_name=c.resource_name(config.name, "websocket")
        )
        self.websocket_stage = self._websocket_stage()

        self._layers = [self._shared_layer(), self._dependency_layer(dependency_layer_dir)]
        # One code asset per stack: CDK binds an asset to the first stack that uses it.
        self._code: dict[str, lambda_.Code] = {}
        self._environment = env_for(config.name)
        # Lambda sets AWS_REGION itself and rejects functions that try to.
        self._environment.pop("AWS_REGION")
        # The functions that stay in this stack: the authorizers (API Gateway's authorizer resources
        # and their invoke permissions name each other) and the Cognito trigger (pool and trigger do).
        self._functions_group = Construct(self, c.FUNCTIONS)
        self.function_groups: dict[str, cdk.NestedStack] = {}
        self.functions: dict[str, RouteFunction] = {}
        for route in self.routes:
            self._add_function(route, scope=self._function_group(route))
        # The authorizers exist only when a route needs them (API Gateway rejects unused authorizers).
        if any(r.auth for r in self.routes if r.kind == "rest"):
            self._add_function(c.REST_AUTHORIZER_FUNCTION, "REST API authorizer (Cognito access tokens)")
        if any(r.auth for r in self.routes if r.route_key == "$connect"):
            self._add_function(c.WEBSOCKET_AUTHORIZER_FUNCTION, "WebSocket $connect authorizer (?token=)")
        trigger = self._add_function(
            c.PRE_TOKEN_GENERATION_FUNCTION, "Cognito pre-token-generation trigger (claims)"
        )
        self.identity = Identity(self, c.IDENTITY, config=config, trigger=trigger.function)
        for function in self.functions.values():
            # Not the trigger: the pool names it, so naming the pool back would be a cycle (and
            # Cognito puts the pool id in every trigger event).
            if function is not trigger:
                self.identity.configure(function.function)
            self.identity.grant_declared_actions(function.role, function.route.name)

        self.rest_api = self._rest_api()
        # The WebSocket stage logs through the account-level CloudWatch role the REST API sets up.
        account = self.rest_api.node.find_child("Account")
        self.websocket_stage.node.add_dependency(account)
        self._partner_methods: list[apigw.Method] = []
        for route in self.routes:
            if route.kind == "rest":
                self._add_rest_method(route)
        self._partner_usage_plan()
        # AWS managed rules and a per-IP rate limit in front of the stage (stacks/waf.py).
        self.firewall = RestApiFirewall(self, c.FIREWALL, config=config, stage=self.rest_api.deployment_stage)
        self.api_domain = (
            ApiCustomDomain(self, c.API_DOMAIN, domain=config.api_domain, rest_api=self.rest_api)
            if config.api_domain
            else None
        )
        public_key = self.functions.get(c.TESLA_PUBLIC_KEY_ROUTE)
        if public_key is not None and config.tesla.public_key_pem:
            # A public key, not a secret. Line breaks escaped: the handler turns "\\n" back into them.
            public_key.function.add_environment(
                "TESLA_PUBLIC_KEY_PEM", config.tesla.public_key_pem.strip().replace("\n", "\\n")
            )
        self._add_websocket_routes()

        # Task functions with a trigger of their own, each with a dead-letter queue (alarmed on by
        # the monitoring stack): the reconciler's schedule and the telemetry stream's consumer.
        self.dead_letter_queues: dict[str, sqs.IQueue] = {}
        if c.RECONCILER_ROUTE in self.functions:
            self.dead_letter_queues[c.RECONCILER_ROUTE] = schedule_reconciler(
                self.functions[c.RECONCILER_ROUTE], config
            )
        if c.TELEMETRY_CONSUMER_ROUTE in self.functions:
            self.dead_letter_queues[c.TELEMETRY_CONSUMER_ROUTE] = consume_telemetry_stream(
                self.functions[c.TELEMETRY_CONSUMER_ROUTE], data.telemetry_stream, config
            )

    def _function_group(self, route: Route) -> cdk.NestedStack:
        """The nested stack of the route's package, created with its first route."""
        group = c.function_group(route)
        if group not in self.function_groups:
            packages = sorted({group, *(p for p, g in c.FUNCTION_GROUP_ALIASES.items() if g == group)})
            self.function_groups[group] = cdk.NestedStack(
                self,
                c.function_group_id(group),
                description=(
                    f"Driveway-Hub {self.config.name}: route functions of "
                    + ", ".join(f"{c.FUNCTIONS_PACKAGE}.{p}" for p in packages)
                ),
            )
        return self.function_groups[group]

    def _add_function(
        self, route: Route, description: str | None = None, *, scope: Construct | None = None
    ) -> RouteFunction:
        if route.name in self.functions:
            raise ValueError(f"duplicate function name {route.name!r} (route table and stacks.constants)")
        scope = scope or self._functions_group
        function = RouteFunction(
            scope,
            c.function_id(route.name),
            route=route,
            config=self.config,
            code=self._functions_code(cdk.Stack.of(scope)),
            layers=self._layers,
            environment=self._environment,
            description=description,
        )
        function.grant_tables(self.data.tables, TABLES_BY_ID)
        for use in route_uses(route):
            self._grant_use(function, use)
        self.functions[route.name] = function
        return function

    # --- Code and layers ---------------------------------------------------------------------
    def _functions_code(self, stack: cdk.Stack) -> lambda_.Code:
        # One asset for every function: the repository root filtered down to the functions package,
        # so the handler strings of the route table (functions.api.get_health.handler) resolve from
        # /var/task. '*' drops every top-level entry (CDK then never walks .venv or node_modules).
        # The same content (one hash, one upload) is declared once per stack that uses it.
        key = stack.node.path
        if key not in self._code:
            self._code[key] = lambda_.Code.from_asset(
                str(c.REPO_ROOT),
                exclude=["*", ".*", f"!{c.FUNCTIONS_PACKAGE}", "**/__pycache__", "**/*.pyc"],
            )
        return self._code[key]

    def _shared_layer(self) -> lambda_.LayerVersion:
        return lambda_.LayerVersion(
            self,
            c.SHARED_LAYER,
            layer_version_name=c.resource_name(self.config.name, "shared"),
            description="driveway_hub: domain, data access and adapters shared by every function",
            code=lambda_.Code.from_asset(str(c.SHARED_LAYER_DIR), exclude=["**/__pycache__", "**/*.pyc"]),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            removal_policy=cdk.RemovalPolicy.RETAIN,  # functions of a rollback may still use it
        )

    def _dependency_layer(self, directory: Path) -> lambda_.LayerVersion:
        if not (directory / "python").is_dir():
            raise FileNotFoundError(
                f"{directory}/python is missing: build it with `python layers/build_dependency_layer.py`"
            )
        return lambda_.LayerVersion(
            self,
            c.DEPENDENCY_LAYER,
            layer_version_name=c.resource_name(self.config.name, "dependencies"),
            description="Third-party packages of requirements.txt (manylinux2014_x86_64, cp312)",
            # Dot files are the build's bookkeeping (requirements fingerprint), not layer content.
            code=lambda_.Code.from_asset(str(directory), exclude=[".*"]),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    # --- What a route may use ----------------------------------------------------------------
    def _grant_use(self, function: RouteFunction, use: Use) -> None:
        fn, role, data = function.function, function.role, self.data
        # ARNs are built in the function's own stack (a nested stack of this one).
        stack = cdk.Stack.of(function)
        if use is Use.WEBSOCKET:
            connections = stack.format_arn(
                service="execute-api",
                resource=self.websocket_api.api_id,
                resource_name=f"{API_STAGE}/*/@connections/*",
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=["execute-api:ManageConnections"], resources=[connections])
            )
            acknowledge_wildcard_resource(
                role,
                connections,
                "Connection ids are created per client at run time; the grant covers the @connections "
                "of our WebSocket API's v1 stage and nothing else.",
            )
            fn.add_environment("WEBSOCKET_MANAGEMENT_URL", self.websocket_stage.callback_url)
        elif use in (Use.WORKFLOW_START, Use.WORKFLOW_STOP, Use.WORKFLOW_CALLBACK):
            self._grant_workflow(function, use)
        elif use is Use.PHOTOS:
            bucket_name = c.photo_bucket_name(self.config.name, stack.account, stack.region)
            objects = stack.format_arn(
                service="s3", region="", account="", resource=bucket_name, resource_name="*"
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources=[objects]
                )
            )
            acknowledge_wildcard_resource(
                role,
                objects,
                "Photo object keys are generated per upload; access is limited to the objects of the "
                "photo bucket (no bucket-level or list actions).",
            )
            fn.add_environment("PHOTO_BUCKET", bucket_name)
        elif use is Use.TESLA_TOKENS:
            key = data.tesla_token_key
            # Named actions (not grant_encrypt_decrypt's GenerateDataKey*/ReEncrypt* wildcards).
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], resources=[key.key_arn]
                )
            )
            fn.add_environment("TESLA_TOKEN_KEY_ID", key.key_arn)
        else:  # the secrets
            name = use.value.split(":", 1)[1]
            secret = data.secrets[name]
            secret.grant_read(role)
            fn.add_environment(f"{name.upper()}_SECRET_ID", secret.secret_arn)
            if use is Use.TESLA_SECRET:
                # Whoever talks to Tesla also needs where (regional base, proxy) and as whom (domain, redirect).
                for variable, value in self._tesla_environment().items():
                    fn.add_environment(variable, value)

    def _tesla_environment(self) -> dict[str, str]:
        """TESLA_* settings (driveway_hub.config) from the context; unset ones keep the code's defaults."""
        tesla, domain = self.config.tesla, self.config.api_domain
        callback = next((r.path for r in self.routes if r.name == c.TESLA_CALLBACK_ROUTE), None)
        redirect = tesla.redirect_uri or (
            f"https://{domain.domain_name}/{API_STAGE}{callback}" if domain and callback else None
        )
        values = {
            "TESLA_API_BASE": tesla.api_base,
            "TESLA_AUTH_BASE": tesla.auth_base,
            "TESLA_COMMAND_BASE": tesla.command_base,
            # The public key is served at the root of the API's custom domain unless told otherwise.
            "TESLA_PARTNER_DOMAIN": tesla.partner_domain or (domain.domain_name if domain else None),
            "TESLA_REDIRECT_URI": redirect,
        }
        return {key: value for key, value in values.items() if value}

    def _grant_workflow(self, function: RouteFunction, use: Use) -> None:
        if c.BOOKING_LIFECYCLE not in self._state_machine_names:
            raise ValueError(
                f"route {function.route.name} uses {use.value} but "
                f"statemachines/{c.BOOKING_LIFECYCLE}{c.ASL_SUFFIX} does not exist"
            )
        # Built from the machine's fixed name rather than referenced: the workflow stack already
        # depends on this one (its tasks are these functions), so a reference would be a cycle.
        stack = cdk.Stack.of(function)
        machine_arn = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=c.resource_name(self.config.name, c.BOOKING_LIFECYCLE),
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        if use is Use.WORKFLOW_START:
            statement = iam.PolicyStatement(actions=["states:StartExecution"], resources=[machine_arn])
        elif use is Use.WORKFLOW_STOP:
            executions = stack.format_arn(
                service="states",
                resource="execution",
                resource_name=f"{c.resource_name(self.config.name, c.BOOKING_LIFECYCLE)}:*",
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
            )
            statement = iam.PolicyStatement(
                actions=["states:StopExecution", "states:DescribeExecution"], resources=[executions]
            )
            acknowledge_wildcard_resource(
                function.role,
                executions,
                "Executions are named after bookings at run time; the grant covers executions of the "
                "booking lifecycle machine only.",
            )
        else:
            # Task tokens are authorized against the state machine that issued them.
            statement = iam.PolicyStatement(
                actions=["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
                resources=[machine_arn],
            )
        function.role.add_to_principal_policy(statement)
        function.function.add_environment("STATE_MACHINE_ARN", machine_arn)

    # --- REST API ----------------------------------------------------------------------------
    def _rest_api(self) -> apigw.RestApi:
        config = self.config
        self.rest_access_logs = access_logs = logs.LogGroup(
            self,
            c.REST_ACCESS_LOGS,
            log_group_name=c.log_group_name("apigateway", c.resource_name(config.name, "rest")),
            retention=config.log_retention,
            removal_policy=config.cdk_removal_policy,
        )
        api = apigw.RestApi(
            self,
            c.REST_API,
            rest_api_name=c.resource_name(config.name, "rest"),
            description="Driveway-Hub REST API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            fail_on_warnings=True,
            # Access and execution logging need API Gateway's account-level CloudWatch role. It is
            # one setting per account and region, so it is retained when a stack goes away.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=cdk.RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=API_STAGE,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # would log request bodies and bearer tokens
                throttling_rate_limit=config.api_throttle_rate,
                throttling_burst_limit=config.api_throttle_burst,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(_REST_ACCESS_LOG)),
            ),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=list(config.cors_allow_origins),
                allow_methods=apigw.Cors.ALL_METHODS,
                allow_headers=list(_CORS_HEADERS),
                max_age=cdk.Duration.hours(1),
            ),
        )
        acknowledge(
            api,
            "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level logging role: AWS's managed policy for it is the documented "
            "and maintained set of log permissions for this service-wide role.",
        )
        self._request_validator = api.add_request_validator(
            c.REST_REQUEST_VALIDATOR, validate_request_body=True, validate_request_parameters=True
        )
        cors_origin = config.cors_allow_origins[0] if len(config.cors_allow_origins) == 1 else None
        for response_type, status, code, message in _GATEWAY_RESPONSES:
            api.add_gateway_response(
                f"{response_type.response_type}Response",
                type=response_type,
                status_code=status,
                # Browsers hide error bodies without it; with several origins there is no static value.
                response_headers={"Access-Control-Allow-Origin": f"'{cors_origin}'"} if cors_origin else None,
                templates={
                    "application/json": (
                        f'{{"error": {{"code": "{code}", "message": {message}, "details": []}}}}'
                    )
                },
            )
        return api

    def _add_rest_method(self, route: Route) -> None:
        assert route.method and route.path, f"rest route {route.name} needs method and path"
        resource = self.rest_api.root.resource_for_path(route.path)
        method = resource.add_method(
            route.method,
            self._lambda_proxy(self.functions[route.name], route.method, route.path),
            authorizer=self._authorizer() if route.auth else None,
            authorization_type=apigw.AuthorizationType.CUSTOM if route.auth else apigw.AuthorizationType.NONE,
            request_validator=self._request_validator,
            api_key_required=route.api_key,
        )
        if route.api_key:
            self._partner_methods.append(method)
        if route.auth:
            acknowledge(
                method,
                "AwsSolutions::AwsSolutions-COG4",
                "A Lambda authorizer verifies the Cognito user pool's JWTs (RS256, issuer, audience, "
                "token_use, expiry, logout revocation) and adds RBAC permissions a Cognito "
                "authorizer cannot.",
            )
        else:
            _acknowledge_public(method, route)

    def _partner_usage_plan(self) -> None:
        """Partners reach the routes flagged ``api_key`` with a key of this usage plan: throttled and with a
        monthly quota, on top of the stage's own throttling. Key values are generated by API Gateway and
        handed out by ops (never in code); one key, for our own apps, is created here."""
        if not self._partner_methods:
            return
        plan = self.rest_api.add_usage_plan(
            c.PARTNER_USAGE_PLAN,
            name=c.resource_name(self.config.name, "partners"),
            throttle=apigw.ThrottleSettings(rate_limit=PARTNER_RATE_LIMIT, burst_limit=PARTNER_BURST_LIMIT),
            quota=apigw.QuotaSettings(limit=PARTNER_MONTHLY_QUOTA, period=apigw.Period.MONTH),
        )
        plan.add_api_stage(stage=self.rest_api.deployment_stage)
        app_key = self.rest_api.add_api_key(c.APP_API_KEY, api_key_name=c.resource_name(self.config.name, "app"))
        plan.add_api_key(app_key)

    def _lambda_proxy(self, function: RouteFunction, http_method: str, path: str) -> apigw.Integration:
        """What LambdaIntegration(proxy=True, allow_test_invoke=False) deploys, with the invoke
        permission beside the function, in its nested stack, instead of one per route in this stack.

        The permission allows this API's v1 stage to call the function for this method and path only
        (path parameters as '*', like the method ARN). The stage is named, not referenced: the stage
        depends on the deployment, which depends on every method, which depends on the function's
        nested stack, so a reference from that stack back to the stage would be a cycle.
        """
        fn = function.function
        fn.add_permission(
            "RestApiInvoke",
            principal=iam.ServicePrincipal("apigateway.amazonaws.com"),
            source_arn=self.rest_api.arn_for_execute_api(http_method, _path_for_arn(path), API_STAGE),
        )
        return apigw.AwsIntegration(
            proxy=True, service="lambda", path=f"2015-03-31/functions/{fn.function_arn}/invocations"
        )

    def _authorizer(self) -> apigw.IAuthorizer:
        """The REST API's authorizer: the one place that decides how protected routes are checked."""
        if self._rest_authorizer is None:
            self._rest_authorizer = apigw.RequestAuthorizer(
                self,
                c.REST_API_AUTHORIZER,
                authorizer_name=c.resource_name(self.config.name, "authorizer"),
                handler=self.functions[c.REST_AUTHORIZER_FUNCTION.name].function,
                identity_sources=[apigw.IdentitySource.header("Authorization")],
                # The authorizer allows the whole stage, so one cached answer serves every route; a
                # logout takes effect for cached tokens within this time.
                results_cache_ttl=cdk.Duration.seconds(self.config.authorizer_cache_seconds),
            )
        return self._rest_authorizer

    # --- WebSocket API -----------------------------------------------------------------------
    def _websocket_stage(self) -> apigwv2.WebSocketStage:
        config = self.config
        access_logs = logs.LogGroup(
            self,
            c.WEBSOCKET_ACCESS_LOGS,
            log_group_name=c.log_group_name("apigateway", c.resource_name(config.name, "websocket")),
            retention=config.log_retention,
            removal_policy=config.cdk_removal_policy,
        )
        stage = apigwv2.WebSocketStage(
            self,
            c.WEBSOCKET_STAGE,
            web_socket_api=self.websocket_api,
            stage_name=API_STAGE,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=config.websocket_throttle_rate, burst_limit=config.websocket_throttle_burst
            ),
            access_log_settings=_AccessLogSettings(access_logs, _WEBSOCKET_ACCESS_LOG),
        )
        # Execution logs for errors, as on the REST stage (the L2 construct has no option for it).
        cfn_stage = stage.node.default_child
        assert isinstance(cfn_stage, apigwv2.CfnStage)
        cfn_stage.add_property_override("DefaultRouteSettings.LoggingLevel", "ERROR")
        cfn_stage.add_property_override("DefaultRouteSettings.DataTraceEnabled", False)
        return stage

    def _add_websocket_routes(self) -> None:
        routes = [r for r in self.routes if r.kind == "websocket"]
        connect = next((r for r in routes if r.route_key == "$connect"), None)
        if any(r.auth for r in routes) and not (connect and connect.auth):
            # API Gateway authorizes a WebSocket once, at $connect; later messages inherit it.
            raise ValueError("WebSocket routes with auth=True need $connect to have auth=True")
        for route in routes:
            assert route.route_key, f"websocket route {route.name} needs a route_key"
            authorizer = self._websocket_authorizer() if route.route_key == "$connect" and route.auth else None
            api_route = self.websocket_api.add_route(
                route.route_key,
                integration=apigwv2_integrations.WebSocketLambdaIntegration(
                    f"{c.pascal(route.name)}Integration", self.functions[route.name].function
                ),
                authorizer=authorizer,
            )
            if route.route_key != "$connect":
                acknowledge(
                    api_route,
                    "AwsSolutions::AwsSolutions-APIG4",
                    f"{route.route_key} runs on a connection that was accepted by $connect; API "
                    "Gateway allows authorizers on $connect only.",
                )
            elif authorizer is None:
                _acknowledge_public(api_route, route)

    def _websocket_authorizer(self) -> apigwv2.IWebSocketRouteAuthorizer:
        return apigwv2_authorizers.WebSocketLambdaAuthorizer(
            c.WEBSOCKET_API_AUTHORIZER,
            self.functions[c.WEBSOCKET_AUTHORIZER_FUNCTION.name].function,
            # Browsers cannot set headers on a WebSocket handshake: the token comes in the query.
            identity_source=["route.request.querystring.token"],
        )


def _path_for_arn(path: str) -> str:
    """``/bookings/{booking_id}`` -> ``/bookings/*``: path parameters as they appear in execute-api ARNs."""
    return re.sub(r"\{[^}]*\}", "*", path)


def _acknowledge_public(construct: Construct, route: Route) -> None:
    reason = (
        f"Route {route.name} is declared public (auth=False) in driveway_hub.routes, the reviewed list "
        "of unauthenticated entry points (health, signature-verified webhooks, OAuth redirects)."
    )
    acknowledge(construct, "AwsSolutions::AwsSolutions-APIG4", reason)
    if route.kind == "rest":
        acknowledge(construct, "AwsSolutions::AwsSolutions-COG4", reason)
