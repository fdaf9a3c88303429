"""The real app (prod), synthesized once with cdk-nag: what must hold for every route, table and policy."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from driveway_hub.auth.identity import COGNITO_ACTIONS_BY_ROUTE, PASSWORD_POLICY, USER_POOL_GROUPS
from driveway_hub.config import settings_from_env
from driveway_hub.data.tables import TABLES, Key
from driveway_hub.routes import API_STAGE, routes_for
from stacks import constants as c
from stacks.workflow_stack import definitions_in
from tests.infra.synth import (
    Synthesized,
    as_list,
    dereference,
    flat,
    referenced_resource,
    references_in,
    resource_at,
    statements,
)

pytestmark = pytest.mark.infra

# The routes the prod app has (Route.stages: the dev-only docs page is not among them).
ROUTES = routes_for("prod")

# Actions that have no resource-level permissions: AWS requires Resource "*" for them.
STAR_RESOURCE_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
API_GATEWAY_LOGGING_POLICY = "policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


# --- Functions ------------------------------------------------------------------------------------
# Functions that are not routes: the two authorizers (REST routes and $connect need auth) and the Cognito trigger.
EXTRA_FUNCTIONS = (c.REST_AUTHORIZER_FUNCTION, c.WEBSOCKET_AUTHORIZER_FUNCTION, c.PRE_TOKEN_GENERATION_FUNCTION)
ALL_FUNCTIONS = (*ROUTES, *EXTRA_FUNCTIONS)


def test_one_function_per_route_with_the_route_tables_handler_and_python_3_12(prod: Synthesized) -> None:
    functions = prod.resources("AWS::Lambda::Function")
    assert len(functions) == len(ALL_FUNCTIONS)
    for route in ALL_FUNCTIONS:
        _, fn = prod.function(route.name)
        assert fn["Properties"]["Handler"] == route.handler
        assert fn["Properties"]["Runtime"] == "python3.12"
        assert fn["Properties"]["Architectures"] == ["x86_64"]
        assert len(fn["Properties"]["Layers"]) == 2  # shared code + dependencies


def test_route_functions_live_in_one_nested_stack_per_package_and_the_api_stack_keeps_the_rest(
    prod: Synthesized,
) -> None:
    api = c.stack_id("prod", c.API_STACK)
    groups: dict[str, set[str]] = {}
    for route in ROUTES:
        stack = prod.function_stack(route.name)
        assert stack == f"{api}/{c.function_group_id(c.function_group(route))}", route.name
        # with its role, log group and (for REST routes) its invoke permission
        _, fn = prod.function(route.name)
        assert fn["Properties"]["Role"]["Fn::GetAtt"][0] in prod.template(stack)["Resources"]
        assert fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] in prod.template(stack)["Resources"]
        groups.setdefault(stack, set()).add(route.module.split(".")[1])
    assert set(groups) == set(prod.nested)
    assert groups[f"{api}/ApiFunctions"] == {"api", "ws"}  # the two small packages share a stack
    assert all(len(packages) == 1 for stack, packages in groups.items() if not stack.endswith("/ApiFunctions"))
    for extra in EXTRA_FUNCTIONS:  # their permissions and the pool / authorizers name each other
        assert prod.function_stack(extra.name) == api
    # every nested stack resource of the API stack deploys one of the synthesized nested templates
    assert {logical_id for _, logical_id in prod.nested.values()} == set(
        prod.resources("AWS::CloudFormation::Stack", c.API_STACK)
    )


def test_every_function_has_a_role_of_its_own_without_managed_policies(prod: Synthesized) -> None:
    roles = [prod.function_role(route.name) for route in ALL_FUNCTIONS]
    assert len(set(roles)) == len(roles) == len(prod.resources("AWS::Lambda::Function"))
    for location in roles:
        role = resource_at(prod, location)["Properties"]
        assert "ManagedPolicyArns" not in role
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_every_function_traces_with_xray(prod: Synthesized) -> None:
    for fn in prod.resources("AWS::Lambda::Function").values():
        assert fn["Properties"]["TracingConfig"] == {"Mode": "Active"}


def test_every_function_logs_to_its_own_log_group_with_the_environments_retention(prod: Synthesized) -> None:
    for route in ALL_FUNCTIONS:
        _, fn = prod.function(route.name)
        log_group_id = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        log_group = resource_at(prod, (prod.function_stack(route.name), log_group_id))
        assert log_group["Type"] == "AWS::Logs::LogGroup"
        assert log_group["Properties"]["LogGroupName"] == f"/aws/lambda/{route.function_name('prod')}"
        assert log_group["Properties"]["RetentionInDays"] == prod.hub.config.log_retention_days
        assert log_group["DeletionPolicy"] == "Retain"


def test_every_function_environment_is_a_valid_configuration_naming_the_real_tables(prod: Synthesized) -> None:
    table_names = {t["Properties"]["TableName"] for t in prod.resources("AWS::DynamoDB::Table").values()}
    for fn in prod.resources("AWS::Lambda::Function").values():
        env = fn["Properties"]["Environment"]["Variables"]
        assert "AWS_REGION" not in env  # reserved: Lambda sets it
        # Resource ids are references until deployment; any string stands in for them here.
        literal = {name: value if isinstance(value, str) else "resolved-at-deploy" for name, value in env.items()}
        settings = settings_from_env({**literal, "AWS_REGION": "us-east-1"})
        assert settings.stage == "prod"
        assert set(settings.tables.model_dump().values()) == table_names


def test_functions_know_the_user_pool_and_use_only_the_cognito_actions_declared_for_them(
    prod: Synthesized,
) -> None:
    [pool_id] = prod.resources("AWS::Cognito::UserPool")
    api = c.stack_id("prod", c.API_STACK)
    for route in ALL_FUNCTIONS:
        _, fn = prod.function(route.name)
        stack = prod.function_stack(route.name)
        env = fn["Properties"]["Environment"]["Variables"]
        if route is c.PRE_TOKEN_GENERATION_FUNCTION:
            assert "USER_POOL_ID" not in env  # the pool names it as its trigger: no cycle
        else:
            assert dereference(prod, stack, env["USER_POOL_ID"]) == (api, {"Ref": pool_id})
        granted = [s for s in prod.function_statements(route.name)
                   if any(a.startswith("cognito-idp:") for a in as_list(s["Action"]))]
        declared = COGNITO_ACTIONS_BY_ROUTE.get(route.name)
        if declared:
            [statement] = granted
            assert set(as_list(statement["Action"])) == set(declared)
            assert dereference(prod, stack, statement["Resource"]) == (api, {"Fn::GetAtt": [pool_id, "Arn"]})
        else:
            assert granted == []


def test_user_pool_matches_the_shared_identity_settings(prod: Synthesized) -> None:
    [pool] = prod.resources("AWS::Cognito::UserPool").values()
    props = pool["Properties"]
    assert props["Policies"]["PasswordPolicy"] == PASSWORD_POLICY.as_cognito_policy()
    assert props["UsernameAttributes"] == ["email"]
    assert props["LambdaConfig"]["PreTokenGenerationConfig"]["LambdaVersion"] == "V2_0"
    assert props["DeletionProtection"] == "ACTIVE" and pool["DeletionPolicy"] == "Retain"
    groups = {g["Properties"]["GroupName"] for g in prod.resources("AWS::Cognito::UserPoolGroup").values()}
    assert groups == set(USER_POOL_GROUPS)
    [client] = prod.resources("AWS::Cognito::UserPoolClient").values()
    assert client["Properties"]["GenerateSecret"] is False
    assert set(client["Properties"]["ExplicitAuthFlows"]) == {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}


def test_each_function_may_reach_only_the_tables_its_route_declares(prod: Synthesized) -> None:
    for route in ALL_FUNCTIONS:
        reached = {
            resource_at(prod, location)["Properties"]["TableName"]
            for statement in prod.function_statements(route.name)
            if any(a.startswith("dynamodb:") for a in as_list(statement["Action"]))
            for location in references_in(prod, prod.function_stack(route.name), statement["Resource"])
        }
        spec_names = {spec.default_name("prod") for spec in TABLES if spec.logical_id in route.tables}
        assert reached == spec_names, route.name


def test_no_function_may_scan_a_table(prod: Synthesized) -> None:
    for route in ALL_FUNCTIONS:
        actions = {a for s in prod.function_statements(route.name) for a in as_list(s["Action"])}
        assert "dynamodb:Scan" not in actions
        assert not any(a.endswith("*") for a in actions if a.startswith("dynamodb:"))


def test_every_stack_keeps_headroom_below_cloudformations_limits(prod: Synthesized) -> None:
    # CloudFormation allows 500 resources, 200 parameters, 200 outputs and 1 MB per template, nested
    # templates included. Route functions live in one nested stack per package (about 5 resources per
    # function there); the API stack keeps about 3 per REST route (method, CORS preflight, path
    # resource). Never raise these bars: split a group, or add one, instead.
    assert len(prod.templates) == len(prod.hub.stacks) + len(prod.hub.nested_stacks) > len(prod.hub.stacks)
    for stack, template in prod.templates.items():
        assert len(template["Resources"]) <= 450, f"{stack}: {len(template['Resources'])} resources"
        assert len(template.get("Parameters", {})) <= 150, f"{stack}: {len(template['Parameters'])} parameters"
        assert len(template.get("Outputs", {})) <= 150, f"{stack}: {len(template['Outputs'])} outputs"
        assert len(json.dumps(template)) <= 800_000, stack


# --- IAM -----------------------------------------------------------------------------------------
def _all_policy_statements(synth: Synthesized) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for resource_type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy in synth.resources(resource_type).values():
            found += statements(policy["Properties"]["PolicyDocument"])
    for role in synth.resources("AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            found += statements(policy["PolicyDocument"])
    return found


def test_no_iam_statement_allows_every_action_or_every_resource_beyond_what_aws_requires(
    prod: Synthesized,
) -> None:
    checked = _all_policy_statements(prod)
    assert checked
    for statement in checked:
        if statement["Effect"] != "Allow":
            continue
        actions = as_list(statement["Action"])
        assert "*" not in actions and not any(a.endswith(":*") for a in actions), statement
        if "*" in as_list(statement["Resource"]):
            assert set(actions) <= STAR_RESOURCE_ACTIONS, statement


def test_only_api_gateways_logging_role_uses_a_managed_policy(prod: Synthesized) -> None:
    with_managed = [
        role["Properties"]["ManagedPolicyArns"]
        for role in prod.resources("AWS::IAM::Role").values()
        if "ManagedPolicyArns" in role["Properties"]
    ]
    assert len(with_managed) == 1
    assert json.dumps(with_managed[0]).count(API_GATEWAY_LOGGING_POLICY) == 1


# --- Data ----------------------------------------------------------------------------------------
def _key_schema(partition: Key, sort: Key | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition.name, "KeyType": "HASH"}]
    return schema + ([{"AttributeName": sort.name, "KeyType": "RANGE"}] if sort else [])


def test_every_table_spec_becomes_an_on_demand_encrypted_table_with_pitr_ttl_and_indexes(
    prod: Synthesized,
) -> None:
    tables = {t["Properties"]["TableName"]: t for t in prod.resources("AWS::DynamoDB::Table").values()}
    assert len(tables) == len(TABLES)
    for spec in TABLES:
        table = tables[spec.default_name("prod")]
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"]["SSEEnabled"] is True
        assert props["KeySchema"] == _key_schema(spec.partition, spec.sort)
        declared = {k.name: k.type for k in (spec.partition, spec.sort) if k}
        for index in spec.indexes:
            declared |= {k.name: k.type for k in (index.partition, index.sort) if k}
        assert {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]} == declared
        if spec.ttl_attribute:
            assert props["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}
        else:
            assert "TimeToLiveSpecification" not in props
        indexes = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
        assert set(indexes) == {i.name for i in spec.indexes}
        for index in spec.indexes:
            assert indexes[index.name]["KeySchema"] == _key_schema(index.partition, index.sort)
            assert indexes[index.name]["Projection"] == {"ProjectionType": "ALL"}
        # prod keeps its data when the stack goes away
        assert table["DeletionPolicy"] == "Retain"
        assert props["DeletionProtectionEnabled"] is True


def _photo_bucket(synth: Synthesized) -> tuple[str, dict[str, Any]]:
    buckets = synth.resources("AWS::S3::Bucket", c.DATA_STACK)
    [match] = [(k, b) for k, b in buckets.items() if "photos" in json.dumps(b["Properties"].get("BucketName"))]
    return match


def test_photo_bucket_is_private_encrypted_logged_and_cleans_up_multipart_uploads(prod: Synthesized) -> None:
    _, bucket = _photo_bucket(prod)
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert "DestinationBucketName" in props["LoggingConfiguration"]
    assert any("AbortIncompleteMultipartUpload" in r for r in props["LifecycleConfiguration"]["Rules"])


def test_photo_bucket_refuses_requests_without_tls(prod: Synthesized) -> None:
    photo_id, _ = _photo_bucket(prod)
    [policy] = [
        p for p in prod.resources("AWS::S3::BucketPolicy", c.DATA_STACK).values()
        if p["Properties"]["Bucket"] == {"Ref": photo_id}
    ]
    denials = [s for s in statements(policy["Properties"]["PolicyDocument"]) if s["Effect"] == "Deny"]
    assert any(s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for s in denials)


def test_secrets_are_created_without_a_value_in_the_template(prod: Synthesized) -> None:
    secrets = prod.resources("AWS::SecretsManager::Secret")
    assert {s["Properties"]["Name"] for s in secrets.values()} == {
        f"driveway-hub/prod/{name}" for name in ("stripe", "tesla", "telemetry")
    }
    for secret in secrets.values():
        assert "SecretString" not in secret["Properties"]
        assert "GenerateSecretString" in secret["Properties"]


def test_keys_rotate_and_the_telemetry_stream_is_encrypted(prod: Synthesized) -> None:
    keys = prod.resources("AWS::KMS::Key")
    assert len(keys) == 2  # Tesla tokens, alarm topic
    assert all(k["Properties"]["EnableKeyRotation"] is True for k in keys.values())
    [stream] = prod.resources("AWS::Kinesis::Stream").values()
    assert stream["Properties"]["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}


# --- REST API ------------------------------------------------------------------------------------
def _rest_paths(synth: Synthesized) -> dict[str, str]:
    """API Gateway resource logical id -> full path ('/' for the root)."""
    resources = synth.resources("AWS::ApiGateway::Resource", c.API_STACK)

    def path(logical_id: str) -> str:
        props = resources[logical_id]["Properties"]
        parent = props["ParentId"].get("Ref")
        return f"{path(parent) if parent else ''}/{props['PathPart']}"

    return {logical_id: path(logical_id) for logical_id in resources}


def _rest_methods(synth: Synthesized) -> dict[tuple[str, str], dict[str, Any]]:
    paths = _rest_paths(synth)
    methods: dict[tuple[str, str], dict[str, Any]] = {}
    for method in synth.resources("AWS::ApiGateway::Method", c.API_STACK).values():
        props = method["Properties"]
        if props["HttpMethod"] != "OPTIONS":  # CORS preflight (MOCK), checked separately
            path = paths[props["ResourceId"]["Ref"]] if "Ref" in props["ResourceId"] else "/"
            methods[(props["HttpMethod"], path)] = props
    return methods


def test_rest_api_has_exactly_one_method_per_rest_route_proxying_to_its_function(prod: Synthesized) -> None:
    methods = _rest_methods(prod)
    rest_routes = [r for r in ROUTES if r.kind == "rest"]
    assert set(methods) == {(r.method, r.path) for r in rest_routes}
    api_stack = c.stack_id("prod", c.API_STACK)
    for route in rest_routes:
        integration = methods[(route.method, route.path)]["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert integration["IntegrationHttpMethod"] == "POST"
        assert references_in(prod, api_stack, integration["Uri"]) == [prod.function_location(route.name)]
        assert flat(prod, api_stack, integration["Uri"]).startswith(
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/<"
        )


def test_the_docs_page_is_a_public_get_in_dev_and_absent_from_prod(prod: Synthesized, future: Synthesized) -> None:
    # Route.stages: dev (and the local cloud) serve GET /v1/docs; prod has neither the method nor the function.
    assert ("GET", "/docs") not in _rest_methods(prod)
    assert "get_docs" not in prod.hub.api.functions
    assert _rest_methods(future)[("GET", "/docs")]["AuthorizationType"] == "NONE"
    assert future.function_stack("get_docs")


def test_each_rest_function_may_be_invoked_only_through_its_own_method_on_the_v1_stage(prod: Synthesized) -> None:
    [rest_api_id] = prod.resources("AWS::ApiGateway::RestApi")
    permissions = prod.locate("AWS::Lambda::Permission")
    for route in (r for r in ROUTES if r.kind == "rest"):
        stack, function_id = prod.function_location(route.name)
        [(where, permission)] = [
            (where, p["Properties"]) for (where, _), p in permissions.items()
            if references_in(prod, where, p["Properties"]["FunctionName"]) == [(stack, function_id)]
        ]
        # beside the function (in its nested stack), not one more resource per route in the API stack
        assert where == stack
        assert permission["Principal"] == "apigateway.amazonaws.com"
        assert permission["Action"] == "lambda:InvokeFunction"
        path = re.sub(r"\{[^}]*\}", "*", route.path or "")
        assert flat(prod, stack, permission["SourceArn"]) == (
            f"arn:aws:execute-api:us-east-1:<AWS::AccountId>:<{rest_api_id}>/{API_STAGE}/{route.method}{path}"
        )



def test_protected_rest_routes_share_one_request_authorizer_and_public_ones_have_none(
    prod: Synthesized,
) -> None:
    [(authorizer_id, authorizer)] = prod.resources("AWS::ApiGateway::Authorizer").items()
    props = authorizer["Properties"]
    assert props["Type"] == "REQUEST"
    assert props["IdentitySource"] == "method.request.header.Authorization"
    assert props["AuthorizerResultTtlInSeconds"] == prod.hub.config.authorizer_cache_seconds
    api_stack = c.stack_id("prod", c.API_STACK)
    assert set(references_in(prod, api_stack, props["AuthorizerUri"])) == {
        prod.function_location(c.REST_AUTHORIZER_FUNCTION.name)
    }
    methods = _rest_methods(prod)
    assert any(r.auth for r in ROUTES if r.kind == "rest")
    for route in (r for r in ROUTES if r.kind == "rest"):
        method = methods[(route.method, route.path)]
        if route.auth:
            assert method["AuthorizationType"] == "CUSTOM"
            assert method["AuthorizerId"] == {"Ref": authorizer_id}
        else:
            assert method["AuthorizationType"] == "NONE"
            assert "AuthorizerId" not in method


def test_cors_preflight_methods_are_mock_integrations(prod: Synthesized) -> None:
    preflights = [
        m["Properties"] for m in prod.resources("AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "OPTIONS"
    ]
    assert preflights
    assert all(p["Integration"]["Type"] == "MOCK" for p in preflights)


def test_rest_stage_v1_has_access_logs_tracing_error_logging_and_throttling(prod: Synthesized) -> None:
    [stage] = prod.resources("AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    config = prod.hub.config
    assert props["StageName"] == API_STAGE
    assert props["TracingEnabled"] is True
    assert "requestId" in json.loads(props["AccessLogSetting"]["Format"])
    destination = references_in(prod, c.stack_id("prod", c.API_STACK), props["AccessLogSetting"]["DestinationArn"])
    access_logs = prod.hub.api.rest_access_logs.node.default_child
    assert [ref for _, ref in destination] == [prod.hub.api.get_logical_id(access_logs)]
    [settings] = props["MethodSettings"]
    assert settings["HttpMethod"] == "*" and settings["ResourcePath"] == "/*"
    assert settings["LoggingLevel"] == "ERROR"
    assert settings["DataTraceEnabled"] is False
    assert settings["ThrottlingRateLimit"] == config.api_throttle_rate
    assert settings["ThrottlingBurstLimit"] == config.api_throttle_burst


def test_api_gateways_own_errors_answer_in_the_error_envelope(prod: Synthesized) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in prod.resources("AWS::ApiGateway::GatewayResponse").values()
    }
    assert {"MISSING_AUTHENTICATION_TOKEN", "UNAUTHORIZED", "ACCESS_DENIED", "THROTTLED",
            "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    for response_type, props in responses.items():
        # API Gateway renders $context.error.messageString as a quoted JSON string.
        body = props["ResponseTemplates"]["application/json"].replace(
            "$context.error.messageString", '"a message"'
        )
        envelope = json.loads(body)
        assert set(envelope) == {"error"}, response_type
        assert set(envelope["error"]) == {"code", "message", "details"}, response_type
        assert envelope["error"]["details"] == []
    unknown_path = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert unknown_path["StatusCode"] == "404"
    assert '"code": "not_found"' in unknown_path["ResponseTemplates"]["application/json"]
    assert responses["UNAUTHORIZED"]["StatusCode"] == "401"
    assert responses["THROTTLED"]["StatusCode"] == "429"


def test_rest_api_validates_requests(prod: Synthesized) -> None:
    [validator] = prod.resources("AWS::ApiGateway::RequestValidator").values()
    assert validator["Properties"]["ValidateRequestBody"] is True
    assert validator["Properties"]["ValidateRequestParameters"] is True


# --- WebSocket API -------------------------------------------------------------------------------
def test_websocket_api_has_one_route_per_route_key_integrated_with_its_function(prod: Synthesized) -> None:
    stack = c.stack_id("prod", c.API_STACK)
    integrations = prod.resources("AWS::ApiGatewayV2::Integration", c.API_STACK)
    routes = {r["Properties"]["RouteKey"]: r["Properties"] for r in prod.resources("AWS::ApiGatewayV2::Route").values()}
    ws_routes = [r for r in ROUTES if r.kind == "websocket"]
    assert set(routes) == {r.route_key for r in ws_routes}
    for route in ws_routes:
        [(_, integration_id)] = references_in(prod, stack, routes[route.route_key]["Target"])
        integration = integrations[integration_id]["Properties"]
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert references_in(prod, stack, integration["IntegrationUri"]) == [prod.function_location(route.name)]


def test_websocket_stage_v1_deploys_automatically_with_access_logs_and_throttling(prod: Synthesized) -> None:
    [stage] = prod.resources("AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == API_STAGE
    assert props["AutoDeploy"] is True
    assert "connectionId" in json.loads(props["AccessLogSettings"]["Format"])
    assert props["DefaultRouteSettings"]["ThrottlingRateLimit"] == prod.hub.config.websocket_throttle_rate
    assert props["DefaultRouteSettings"]["LoggingLevel"] == "ERROR"


def test_no_function_may_manage_websocket_connections_unless_its_route_says_so(prod: Synthesized) -> None:
    for route in ROUTES:
        if "websocket" in getattr(route, "uses", ()):
            continue
        actions = {a for s in prod.function_statements(route.name) for a in as_list(s["Action"])}
        assert "execute-api:ManageConnections" not in actions, route.name


# --- Monitoring ----------------------------------------------------------------------------------
def test_alarms_cover_api_5xx_rate_p95_latency_and_every_functions_errors(prod: Synthesized) -> None:
    thresholds = prod.hub.config.alarms
    stack = c.stack_id("prod", c.MONITORING_STACK)
    alarms = list(prod.resources("AWS::CloudWatch::Alarm").values())
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for alarm in alarms:
        # A metric-math alarm (money-needs-attention) has no single MetricName.
        by_metric.setdefault(alarm["Properties"].get("MetricName", "(metric math)"), []).append(alarm["Properties"])
    [rate] = by_metric["5XXError"]
    assert rate["Statistic"] == "Average"
    assert rate["Threshold"] == thresholds.api_5xx_rate_percent / 100
    [latency] = by_metric["Latency"]
    assert latency["ExtendedStatistic"] == "p95"
    assert latency["Threshold"] == thresholds.api_p95_latency_ms
    alarmed_functions = {
        resource_at(prod, referenced_resource(prod, stack, d["Value"]))["Properties"]["FunctionName"]
        for alarm in by_metric["Errors"]
        for d in alarm["Dimensions"]
    }
    assert alarmed_functions == {r.function_name("prod") for r in ALL_FUNCTIONS}
    [topic_id] = prod.resources("AWS::SNS::Topic")
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(prod: Synthesized) -> None:
    [topic] = prod.resources("AWS::SNS::Topic").values()
    key = resource_at(prod, referenced_resource(prod, c.stack_id("prod", c.MONITORING_STACK),
                                                topic["Properties"]["KmsMasterKeyId"]))
    principals = [s.get("Principal") for s in statements(key["Properties"]["KeyPolicy"])]
    assert {"Service": "cloudwatch.amazonaws.com"} in principals


def test_dashboard_exists(prod: Synthesized) -> None:
    [dashboard] = prod.resources("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == "driveway-hub-prod-dashboard"


# --- State machines (statemachines/*.asl.json) ---------------------------------------------------
@pytest.mark.parametrize("name", sorted(definitions_in(c.STATE_MACHINES_DIR)))
def test_every_asl_file_is_a_logged_traced_standard_machine_invoking_only_the_functions_it_names(
    name: str, prod: Synthesized
) -> None:
    definition = (c.STATE_MACHINES_DIR / f"{name}{c.ASL_SUFFIX}").read_text()
    workflow = c.stack_id("prod", c.WORKFLOW_STACK)
    [machine] = [
        m for m in prod.resources("AWS::StepFunctions::StateMachine").values()
        if m["Properties"]["StateMachineName"] == c.resource_name("prod", name)
    ]
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["DefinitionString"] == definition  # deployed as written
    placeholders = set(re.findall(r"\$\{(\w+)\}", definition))
    assert set(props["DefinitionSubstitutions"]) == placeholders
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False  # prod: no booking data in logs
    referenced = {p.removeprefix("Fn_") for p in placeholders if p.startswith("Fn_")}
    role_id = props["RoleArn"]["Fn::GetAtt"][0]
    invoked = {
        resource_at(prod, location)["Properties"]["FunctionName"]
        for statement in prod.role_statements(role_id, c.WORKFLOW_STACK)
        if "lambda:InvokeFunction" in as_list(statement["Action"])
        for location in references_in(prod, workflow, statement["Resource"])
    }
    assert invoked == {f"driveway-hub-prod-{n}" for n in referenced}


def test_partner_routes_need_an_api_key_of_a_throttled_usage_plan(prod: Synthesized) -> None:
    api = prod.template(c.API_STACK)["Resources"]
    methods = [r["Properties"] for r in api.values() if r["Type"] == "AWS::ApiGateway::Method"
               and r["Properties"]["HttpMethod"] != "OPTIONS"]
    keyed = [m for m in methods if m.get("ApiKeyRequired")]
    assert len(keyed) == len([r for r in ROUTES if r.kind == "rest" and r.api_key]) >= 1
    plans = [r["Properties"] for r in api.values() if r["Type"] == "AWS::ApiGateway::UsagePlan"]
    assert len(plans) == 1
    assert plans[0]["Throttle"]["RateLimit"] > 0 and plans[0]["Throttle"]["BurstLimit"] > 0
    assert plans[0]["Quota"]["Period"] == "MONTH"
    assert plans[0]["ApiStages"]
    assert any(r["Type"] == "AWS::ApiGateway::UsagePlanKey" for r in api.values())
    # No key value in the template: API Gateway generates it.
    assert all("Value" not in r["Properties"] for r in api.values() if r["Type"] == "AWS::ApiGateway::ApiKey")
