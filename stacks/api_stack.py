"""Lambda functions for every route, and the REST and WebSocket APIs in front of them.

Everything is driven by ``driveway_hub.routes.ROUTES``: one function per entry; a REST method per
``rest`` entry; a WebSocket route per ``websocket`` entry. Adding a route to the table is all it
takes to deploy it.
"""

from __future__ import annotations

import json
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
from constructs import Construct
from driveway_hub.config import env_for
from driveway_hub.data.tables import TABLES_BY_ID
from driveway_hub.routes import API_STAGE, ROUTES, Route

from stacks import constants as c
from stacks.data_stack import DataStack
from stacks.environment import EnvironmentConfig
from stacks.nag import acknowledge
from stacks.route_function import ARCHITECTURE, RUNTIME, RouteFunction


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
    STRIPE_SECRET = "secret:stripe"
    TESLA_SECRET = "secret:tesla"
    TELEMETRY_SECRET = "secret:telemetry"


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
    (apigw.ResponseType.DEFAULT_4XX, None, "bad_request", "$context.error.messageString"),
    (apigw.ResponseType.DEFAULT_5XX, None, "internal_error", '"Internal server error"'),
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


class ApiStack(cdk.Stack):
    """One function per route; the REST API (stage v1) and the WebSocket API (stage v1)."""

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
        self.routes = tuple(routes)
        self._state_machine_names = tuple(state_machine_names)
        self._rest_authorizer: apigw.IAuthorizer | None = None

        # The WebSocket API exists before the functions: their environment names its callback URL.
        self.websocket_api = apigwv2.WebSocketApi(
            self, c.WEBSOCKET_API, api_name=c.resource_name(config.name, "websocket")
        )
        self.websocket_stage = self._websocket_stage()

        layers = [self._shared_layer(), self._dependency_layer(dependency_layer_dir)]
        code = self._functions_code()
        environment = env_for(config.name)
        # Lambda sets AWS_REGION itself and rejects functions that try to.
        environment.pop("AWS_REGION")
        group = Construct(self, c.FUNCTIONS)
        self.functions: dict[str, RouteFunction] = {}
        for route in self.routes:
            if route.name in self.functions:
                raise ValueError(f"duplicate route name {route.name!r} in the route table")
            function = RouteFunction(
                group,
                c.function_id(route.name),
                route=route,
                config=config,
                code=code,
                layers=layers,
                environment=environment,
            )
            function.grant_tables(data.tables, TABLES_BY_ID)
            for use in route_uses(route):
                self._grant_use(function, use)
            self.functions[route.name] = function

        self.rest_api = self._rest_api()
        for route in self.routes:
            if route.kind == "rest":
                self._add_rest_method(route)
        self._acknowledge_cors_preflight()
        self._add_websocket_routes()

    # --- Code and layers ---------------------------------------------------------------------
    def _functions_code(self) -> lambda_.Code:
        # One asset for every function: the repository root filtered down to the functions package,
        # so the handler strings of the route table (functions.api.get_health.handler) resolve from
        # /var/task. '*' drops every top-level entry (CDK then never walks .venv or node_modules).
        return lambda_.Code.from_asset(
            str(c.REPO_ROOT),
            exclude=["*", f"!{c.FUNCTIONS_PACKAGE}", "**/__pycache__", "**/*.pyc"],
        )

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
            code=lambda_.Code.from_asset(str(directory)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    # --- What a route may use ----------------------------------------------------------------
    def _grant_use(self, function: RouteFunction, use: Use) -> None:
        fn, role, data = function.function, function.role, self.data
        if use is Use.WEBSOCKET:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["execute-api:ManageConnections"],
                    resources=[self._websocket_connections_arn()],
                )
            )
            acknowledge(
                role,
                "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:"
                f"<AWS::Region>:<AWS::AccountId>:<{self.get_logical_id(self._websocket_api_cfn)}>"
                f"/{API_STAGE}/*/@connections/*]",
                "Connection ids are created per client at run time; this is our WebSocket API's "
                "v1 @connections collection and nothing else.",
            )
            fn.add_environment("WEBSOCKET_MANAGEMENT_URL", self.websocket_stage.callback_url)
        elif use in (Use.WORKFLOW_START, Use.WORKFLOW_STOP, Use.WORKFLOW_CALLBACK):
            self._grant_workflow(function, use)
        elif use is Use.PHOTOS:
            bucket = data.photo_bucket
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    resources=[bucket.arn_for_objects("*")],
                )
            )
            acknowledge(
                role,
                f"AwsSolutions::AwsSolutions-IAM5[Resource::<{self._data_logical_id(bucket)}.Arn>/*]",
                "Photo object keys are generated per upload; access is limited to objects of the "
                "photo bucket (no bucket-level or list actions).",
            )
            fn.add_environment("PHOTO_BUCKET", bucket.bucket_name)
        elif use is Use.TESLA_TOKENS:
            data.tesla_token_key.grant_encrypt_decrypt(role)
            fn.add_environment("TESLA_TOKEN_KEY_ID", data.tesla_token_key.key_arn)
        else:  # the secrets
            name = use.value.split(":", 1)[1]
            secret = data.secrets[name]
            secret.grant_read(role)
            fn.add_environment(f"{name.upper()}_SECRET_ID", secret.secret_arn)

    def _grant_workflow(self, function: RouteFunction, use: Use) -> None:
        if c.BOOKING_LIFECYCLE not in self._state_machine_names:
            raise ValueError(
                f"route {function.route.name} uses {use.value} but "
                f"statemachines/{c.BOOKING_LIFECYCLE}{c.ASL_SUFFIX} does not exist"
            )
        # Built from the machine's fixed name rather than referenced: the workflow stack already
        # depends on this one (its tasks are these functions), so a reference would be a cycle.
        machine_arn = self.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=c.resource_name(self.config.name, c.BOOKING_LIFECYCLE),
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        if use is Use.WORKFLOW_START:
            statement = iam.PolicyStatement(actions=["states:StartExecution"], resources=[machine_arn])
        elif use is Use.WORKFLOW_STOP:
            executions = self.format_arn(
                service="states",
                resource="execution",
                resource_name=f"{c.resource_name(self.config.name, c.BOOKING_LIFECYCLE)}:*",
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
            )
            statement = iam.PolicyStatement(
                actions=["states:StopExecution", "states:DescribeExecution"], resources=[executions]
            )
            acknowledge(
                function.role,
                "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:"
                f"<AWS::AccountId>:execution:{c.resource_name(self.config.name, c.BOOKING_LIFECYCLE)}:*]",
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

    def _data_logical_id(self, construct: Construct) -> str:
        child = construct.node.default_child
        assert isinstance(child, cdk.CfnElement)
        return self.data.get_logical_id(child)

    # --- REST API ----------------------------------------------------------------------------
    def _rest_api(self) -> apigw.RestApi:
        config = self.config
        access_logs = logs.LogGroup(
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
        acknowledge(
            api,
            "AwsSolutions::AwsSolutions-APIG3",
            "No WAF yet: every route is rate limited by stage throttling and, except health and "
            "signed webhooks, authenticated; a WebACL is planned with the partner API keys.",
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
            apigw.LambdaIntegration(
                self.functions[route.name].function, proxy=True, allow_test_invoke=False
            ),
            authorizer=self._authorizer() if route.auth else None,
            authorization_type=apigw.AuthorizationType.CUSTOM if route.auth else apigw.AuthorizationType.NONE,
            request_validator=self._request_validator,
        )
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

    def _authorizer(self) -> apigw.IAuthorizer:
        """The REST API's authorizer: the one place that decides how protected routes are checked."""
        if self._rest_authorizer is None:
            self._rest_authorizer = apigw.RequestAuthorizer(
                self,
                c.REST_AUTHORIZER,
                authorizer_name=c.resource_name(self.config.name, "authorizer"),
                handler=self._authorizer_function(),
                identity_sources=[apigw.IdentitySource.header("Authorization")],
                # Not cached: logout must take effect at once, and a cached policy would be reused
                # for other methods than the one it was issued for.
                results_cache_ttl=cdk.Duration.seconds(0),
            )
        return self._rest_authorizer

    def _authorizer_function(self) -> lambda_.IFunction:
        function = self.functions.get(c.AUTHORIZER_ROUTE)
        if function is None:
            raise ValueError(
                f"routes with auth=True need the authorizer route {c.AUTHORIZER_ROUTE!r} in "
                "driveway_hub.routes.ROUTES"
            )
        return function.function

    def _acknowledge_cors_preflight(self) -> None:
        for method in self.rest_api.methods:
            if method.http_method == "OPTIONS":
                reason = (
                    "CORS preflight (MOCK integration, no Lambda): browsers send it without "
                    "credentials, so it cannot require authorization."
                )
                acknowledge(method, "AwsSolutions::AwsSolutions-APIG4", reason)
                acknowledge(method, "AwsSolutions::AwsSolutions-COG4", reason)

    # --- WebSocket API -----------------------------------------------------------------------
    @property
    def _websocket_api_cfn(self) -> cdk.CfnElement:
        child = self.websocket_api.node.default_child
        assert isinstance(child, cdk.CfnElement)
        return child

    def _websocket_stage(self) -> apigwv2.WebSocketStage:
        config = self.config
        access_logs = logs.LogGroup(
            self,
            c.WEBSOCKET_ACCESS_LOGS,
            log_group_name=c.log_group_name("apigateway", c.resource_name(config.name, "websocket")),
            retention=config.log_retention,
            removal_policy=config.cdk_removal_policy,
        )
        return apigwv2.WebSocketStage(
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

    def _websocket_connections_arn(self) -> str:
        return self.format_arn(
            service="execute-api",
            resource=self.websocket_api.api_id,
            resource_name=f"{API_STAGE}/*/@connections/*",
        )

    def _add_websocket_routes(self) -> None:
        routes = [r for r in self.routes if r.kind == "websocket"]
        connect = next((r for r in routes if r.route_key == "$connect"), None)
        if any(r.auth for r in routes) and not (connect and connect.auth):
            # API Gateway authorizes a WebSocket once, at $connect; later messages inherit it.
            raise ValueError("WebSocket routes with auth=True need $connect to have auth=True")
        for route in routes:
            assert route.route_key, f"websocket route {route.name} needs a route_key"
            authorizer = self._websocket_authorizer() if route is connect and route.auth else None
            api_route = self.websocket_api.add_route(
                route.route_key,
                integration=apigwv2_integrations.WebSocketLambdaIntegration(
                    f"{c.pascal(route.name)}Integration", self.functions[route.name].function
                ),
                authorizer=authorizer,
            )
            if authorizer is None:
                if route.auth:
                    reason = (
                        f"{route.route_key} runs on a connection already authorized at $connect; API "
                        "Gateway allows authorizers on $connect only."
                    )
                    acknowledge(api_route, "AwsSolutions::AwsSolutions-APIG4", reason)
                else:
                    _acknowledge_public(api_route, route)

    def _websocket_authorizer(self) -> apigwv2.IWebSocketRouteAuthorizer:
        return apigwv2_authorizers.WebSocketLambdaAuthorizer(
            c.WEBSOCKET_AUTHORIZER,
            self._authorizer_function(),
            # Browsers cannot set headers on a WebSocket handshake: the token comes in the query.
            identity_source=["route.request.querystring.token"],
        )


def _acknowledge_public(construct: Construct, route: Route) -> None:
    reason = (
        f"Route {route.name} is declared public (auth=False) in driveway_hub.routes: health checks, "
        "webhooks verified by their signature and OAuth redirects cannot carry our bearer token."
    )
    acknowledge(construct, "AwsSolutions::AwsSolutions-APIG4", reason)
    if route.kind == "rest":
        acknowledge(construct, "AwsSolutions::AwsSolutions-COG4", reason)
