"""Production readiness (issue #9): the REST API's WAF, the alarms on AWS and business metrics, the dashboard
of business metrics, and the Tesla settings and partner-key domain, asserted on synthesized templates."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cfnlint.api import lint_file

from driveway_hub import business_metrics as bm
from driveway_hub.routes import API_STAGE, ROUTES
from stacks import constants as c
from stacks.application import cdk_json_context, new_app
from stacks.environment import load_environment
from stacks.waf import MANAGED_RULE_GROUPS, OVERSIZED_BODY_LABEL, WEBHOOK_PATH_PREFIXES
from tests.infra.synth import Synthesized, flat, synthesize

pytestmark = pytest.mark.infra

DOMAIN = "api.staging.driveway-hub.example"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"
PROXY = "https://tesla-proxy.staging.internal:4443"
TESLA_SECRET_ROUTES = [r.name for r in ROUTES if "secret:tesla" in r.uses]


@pytest.fixture(scope="module")
def with_domain(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """staging with a custom domain and Tesla settings in its context (synthesized with cdk-nag)."""
    environments = cdk_json_context()[c.CONTEXT_ENVIRONMENTS]
    staging = {
        **environments["staging"],
        "api_domain": {"domain_name": DOMAIN, "certificate_arn": CERTIFICATE},
        "tesla": {"command_base": PROXY, "public_key_pem": PUBLIC_KEY},
    }
    context = {c.CONTEXT_ENVIRONMENTS: {**environments, "staging": staging}}
    return synthesize(tmp_path_factory.mktemp("cdk-staging-domain"), context=context, env="staging")


def web_acl(synth: Synthesized) -> dict[str, Any]:
    [acl] = synth.resources("AWS::WAFv2::WebACL").values()
    return dict(acl["Properties"])


def rules_by_name(synth: Synthesized) -> dict[str, dict[str, Any]]:
    return {rule["Name"]: rule for rule in web_acl(synth)["Rules"]}


def webhook_exemption(statement: dict[str, Any]) -> list[str]:
    """The URI prefixes a ``NOT (starts with any of ...)`` statement exempts."""
    prefixes = statement["NotStatement"]["Statement"]["OrStatement"]["Statements"]
    assert all(p["ByteMatchStatement"]["FieldToMatch"] == {"UriPath": {}} for p in prefixes)
    assert all(p["ByteMatchStatement"]["PositionalConstraint"] == "STARTS_WITH" for p in prefixes)
    return [p["ByteMatchStatement"]["SearchString"] for p in prefixes]


# --- WAF -------------------------------------------------------------------------------------------
def test_a_regional_web_acl_runs_aws_managed_rule_groups_and_a_per_ip_rate_limit(prod: Synthesized) -> None:
    acl = web_acl(prod)
    assert acl["Scope"] == "REGIONAL"
    assert acl["DefaultAction"] == {"Allow": {}}
    rules = rules_by_name(prod)
    for group in MANAGED_RULE_GROUPS:
        statement = rules[group]["Statement"]["ManagedRuleGroupStatement"]
        assert (statement["VendorName"], statement["Name"]) == ("AWS", group)
        assert rules[group]["OverrideAction"] == {"None": {}}  # the groups' own actions (block) apply
    rate = rules["RateLimitPerIp"]
    statement = rate["Statement"]["RateBasedStatement"]
    assert statement["AggregateKeyType"] == "IP"
    assert statement["Limit"] == prod.hub.config.waf.rate_limit_per_5min == 3000
    assert statement["EvaluationWindowSec"] == 300
    # Stripe and the telemetry relay send from few addresses: webhooks are not rate limited per IP.
    assert webhook_exemption(statement["ScopeDownStatement"]) == list(WEBHOOK_PATH_PREFIXES)
    assert rate["Action"]["Block"]["CustomResponse"] == {"ResponseCode": 429,
                                                         "CustomResponseBodyKey": "too_many_requests"}
    body = json.loads(acl["CustomResponseBodies"]["too_many_requests"]["Content"])
    assert body["error"]["code"] == "too_many_requests"  # the API's error envelope
    # Reputation first; the oversized-body rule reads a label the common rule set adds, so it comes later.
    priorities = {name: rule["Priority"] for name, rule in rules.items()}
    assert priorities["AWSManagedRulesAmazonIpReputationList"] < priorities["RateLimitPerIp"]
    assert priorities["AWSManagedRulesCommonRuleSet"] < priorities["OversizedBodyOutsideWebhooks"]
    assert len(set(priorities.values())) == len(priorities)


def test_webhooks_may_send_large_bodies_which_are_refused_everywhere_else(prod: Synthesized) -> None:
    rules = rules_by_name(prod)
    common = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    assert common["RuleActionOverrides"] == [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    oversized = rules["OversizedBodyOutsideWebhooks"]
    label, exemption = oversized["Statement"]["AndStatement"]["Statements"]
    assert label == {"LabelMatchStatement": {"Scope": "LABEL", "Key": OVERSIZED_BODY_LABEL}}
    assert webhook_exemption(exemption) == list(WEBHOOK_PATH_PREFIXES)
    assert oversized["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 413
    # The prefixes are where the route table puts the webhooks.
    webhooks = [r.path for r in ROUTES if r.kind == "rest" and r.path and "/webhooks/" in r.path]
    assert webhooks and all(f"/{API_STAGE}{path}".startswith(WEBHOOK_PATH_PREFIXES[0]) for path in webhooks)


def test_the_web_acl_protects_the_rest_api_stage(prod: Synthesized) -> None:
    [(stack, stage_id)] = prod.locate("AWS::ApiGateway::Stage")
    [rest_api_id] = prod.resources("AWS::ApiGateway::RestApi", stack)
    [association] = prod.resources("AWS::WAFv2::WebACLAssociation", stack).values()
    arn = flat(prod, stack, association["Properties"]["ResourceArn"])
    assert arn.endswith(f":apigateway:us-east-1::/restapis/<{rest_api_id}>/stages/<{stage_id}>")
    [acl_id] = prod.resources("AWS::WAFv2::WebACL", stack)
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}


def test_waf_publishes_metrics_and_logs_blocked_and_counted_requests_without_credentials(prod: Synthesized) -> None:
    acl = web_acl(prod)
    for visibility in [acl["VisibilityConfig"], *(rule["VisibilityConfig"] for rule in acl["Rules"])]:
        assert visibility["CloudWatchMetricsEnabled"] and visibility["SampledRequestsEnabled"]
    [logging] = prod.resources("AWS::WAFv2::LoggingConfiguration").values()
    properties = logging["Properties"]
    [destination] = properties["LogDestinationConfigs"]
    [group] = [g["Properties"] for g in prod.resources("AWS::Logs::LogGroup", "Api").values()
               if g["Properties"]["LogGroupName"].startswith("aws-waf-logs-")]
    assert flat(prod, "Api", destination).endswith(f":log-group:{group['LogGroupName']}")  # no ":*" suffix
    assert group["RetentionInDays"] == prod.hub.config.log_retention_days
    assert {"SingleHeader": {"Name": "authorization"}} in properties["RedactedFields"]
    assert {"SingleHeader": {"Name": "x-api-key"}} in properties["RedactedFields"]
    assert {"QueryString": {}} in properties["RedactedFields"]  # OAuth codes on /tesla/callback
    kept = properties["LoggingFilter"]["Filters"][0]
    assert properties["LoggingFilter"]["DefaultBehavior"] == "DROP" and kept["Behavior"] == "KEEP"
    assert {cond["ActionCondition"]["Action"] for cond in kept["Conditions"]} >= {"BLOCK", "COUNT"}


def test_the_waf_finding_is_satisfied_not_acknowledged(prod: Synthesized) -> None:
    report = json.loads((prod.outdir / "validation-report.json").read_text())
    [nag] = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success"
    assert not [v for v in nag["suppressedViolations"] if "APIG3" in v["acknowledgedId"]]


@pytest.mark.parametrize("env", c.ENVIRONMENTS)
def test_every_environment_sets_its_rate_limit_and_business_alarm_thresholds(env: str) -> None:
    config = load_environment(new_app(), env)
    assert config.waf.rate_limit_per_5min >= 100
    assert min(config.alarms.payment_failures, config.alarms.tesla_api_unavailable,
               config.alarms.webhook_signature_failures) >= 1


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("waf", {"rate_limit_per_5min": 50}, "rate_limit_per_5min"),
    ("api_domain", {"domain_name": DOMAIN, "certificate_arn": "not-an-arn"}, "certificate_arn"),
    ("tesla", {"public_key_pem": "a private key by mistake"}, "public_key_pem"),
])
def test_a_wrong_setting_fails_synthesis_with_its_name(setting: str, value: Any, message: str) -> None:
    environments = cdk_json_context()[c.CONTEXT_ENVIRONMENTS]
    broken = {**environments["dev"], setting: value}
    with pytest.raises(ValueError, match=message):
        load_environment(new_app(context={c.CONTEXT_ENVIRONMENTS: {"dev": broken}}), "dev")


# --- Alarms ------------------------------------------------------------------------------------------
def alarms(synth: Synthesized) -> dict[str, dict[str, Any]]:
    """Alarm properties by alarm name."""
    return {a["Properties"]["AlarmName"]: a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm").values()}


@pytest.mark.parametrize(("alarm", "metric", "threshold"), [
    ("payment-failures", bm.PAYMENT_FAILED, "payment_failures"),
    ("tesla-api-unavailable", bm.TESLA_API_UNAVAILABLE, "tesla_api_unavailable"),
    ("webhook-signature-failures", bm.WEBHOOK_SIGNATURE_FAILURES, "webhook_signature_failures"),
])
def test_business_metric_alarms_read_what_powertools_publishes_with_the_environments_threshold(
    alarm: str, metric: str, threshold: str, prod: Synthesized
) -> None:
    thresholds = prod.hub.config.alarms
    properties = alarms(prod)[f"driveway-hub-prod-{alarm}"]
    assert (properties["Namespace"], properties["MetricName"]) == ("DrivewayHub", metric)
    assert properties["Dimensions"] == [{"Name": "service", "Value": "driveway-hub"}]
    assert properties["Statistic"] == "Sum"
    assert properties["Period"] == thresholds.period_minutes * 60
    assert properties["Threshold"] == getattr(thresholds, threshold)
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    [topic] = prod.resources("AWS::SNS::Topic")
    assert properties["AlarmActions"] == properties["OKActions"] == [{"Ref": topic}]


def test_every_alarm_of_the_production_checklist_exists(prod: Synthesized) -> None:
    thresholds = prod.hub.config.alarms
    by_name = alarms(prod)
    rate = by_name["driveway-hub-prod-api-5xx-rate"]
    assert (rate["MetricName"], rate["Statistic"], rate["Threshold"]) == ("5XXError", "Average", 0.05)
    latency = by_name["driveway-hub-prod-api-latency-p95"]
    assert (latency["MetricName"], latency["ExtendedStatistic"], latency["Threshold"]) == ("Latency", "p95", 2000)
    assert thresholds.api_5xx_rate_percent == 5 and thresholds.api_p95_latency_ms == 2000
    failed = by_name[c.resource_name("prod", f"{c.BOOKING_LIFECYCLE}-executions-failed")]
    assert (failed["Namespace"], failed["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    depth = [a for name, a in by_name.items() if name.endswith("-dlq-depth")]
    assert len(depth) == 2 and {a["MetricName"] for a in depth} == {"ApproximateNumberOfMessagesVisible"}
    for name in ("payment-failures", "tesla-api-unavailable", "webhook-signature-failures"):
        assert f"driveway-hub-prod-{name}" in by_name


def test_money_that_needs_a_person_raises_one_alarm_at_the_first_occurrence(prod: Synthesized) -> None:
    money = alarms(prod)["driveway-hub-prod-money-needs-attention"]
    assert money["Threshold"] == 1 and money["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    watched = {q["MetricStat"]["Metric"]["MetricName"] for q in money["Metrics"] if "MetricStat" in q}
    assert watched == set(bm.NEEDS_ATTENTION)
    [expression] = [q["Expression"] for q in money["Metrics"] if "Expression" in q]
    assert expression.count("FILL(") == len(bm.NEEDS_ATTENTION)


# --- Dashboard -----------------------------------------------------------------------------------------
def dashboard_widgets(synth: Synthesized) -> dict[str, dict[str, Any]]:
    [(stack, _), *_rest] = synth.locate("AWS::CloudWatch::Dashboard")
    [dashboard] = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = json.loads(flat(synth, stack, dashboard["Properties"]["DashboardBody"]))
    return {w["properties"].get("title", ""): w["properties"] for w in body["widgets"]}


def metric_names(widget: dict[str, Any]) -> set[str]:
    """Business metrics a widget graphs, directly or inside its expressions (``[namespace, name, ...]``)."""
    return {m[1] for m in widget["metrics"] if m[0] == bm.NAMESPACE}


def expressions(widget: dict[str, Any]) -> list[str]:
    return [m[-1]["expression"] for m in widget["metrics"] if isinstance(m[-1], dict) and "expression" in m[-1]]


def test_the_dashboard_shows_the_business_metrics(prod: Synthesized) -> None:
    widgets = dashboard_widgets(prod)
    assert metric_names(widgets["Bookings"]) == {bm.BOOKINGS_CREATED, bm.BOOKINGS_CONFIRMED}
    payments = widgets["Payment success rate (%)"]
    assert expressions(payments) == ["100 * FILL(s, 0) / (FILL(s, 0) + FILL(f, 0))"]
    assert metric_names(payments) == {bm.PAYMENT_SUCCEEDED, bm.PAYMENT_FAILED}
    tesla = widgets["Tesla command success rate (%)"]
    assert expressions(tesla) == ["100 * FILL(s, 0) / (FILL(s, 0) + FILL(f, 0))"]
    assert metric_names(tesla) == {bm.TESLA_COMMAND_SUCCEEDED, bm.TESLA_COMMAND_FAILED, bm.TESLA_API_UNAVAILABLE}
    latency = widgets["Arrival detection latency (ms)"]
    assert metric_names(latency) == {bm.ARRIVAL_DETECTION_LATENCY}
    assert sorted(m[-1]["stat"] for m in latency["metrics"]) == ["p50", "p95"]
    connections = widgets["WebSocket connections"]
    assert metric_names(connections) == {bm.WEBSOCKET_CONNECTIONS}
    assert sorted(expressions(connections)) == ["(n + s) / 2", "(n - s) / 2"]
    assert metric_names(widgets["Webhook signature failures"]) == {bm.WEBHOOK_SIGNATURE_FAILURES}
    assert "WAF requests (REST API)" in widgets
    assert {"payment-failures", "tesla-api-unavailable"} <= {
        name.removeprefix("driveway-hub-prod-") for name in alarms(prod)}


# --- Tesla settings and the partner key's domain -------------------------------------------------------
def environment_of(synth: Synthesized, route_name: str) -> dict[str, Any]:
    _, function = synth.function(route_name)
    return dict(function["Properties"]["Environment"]["Variables"])


def test_without_a_custom_domain_tesla_functions_keep_the_code_defaults(prod: Synthesized) -> None:
    assert not prod.resources("AWS::ApiGateway::DomainName")
    for name in TESLA_SECRET_ROUTES:
        variables = environment_of(prod, name)
        assert "TESLA_SECRET_ID" in variables
        assert not {"TESLA_REDIRECT_URI", "TESLA_PARTNER_DOMAIN", "TESLA_COMMAND_BASE"} & set(variables), name
    assert "TESLA_PUBLIC_KEY_PEM" not in environment_of(prod, c.TESLA_PUBLIC_KEY_ROUTE)


def test_a_custom_domain_serves_the_api_under_v1_and_the_partner_key_at_its_root(with_domain: Synthesized) -> None:
    [(stack, domain_id)] = with_domain.locate("AWS::ApiGateway::DomainName")
    domain = with_domain.templates[stack]["Resources"][domain_id]["Properties"]
    assert domain["DomainName"] == DOMAIN and domain["RegionalCertificateArn"] == CERTIFICATE
    assert domain["EndpointConfiguration"] == {"Types": ["REGIONAL"]} and domain["SecurityPolicy"] == "TLS_1_2"
    [(_, stage_id)] = with_domain.locate("AWS::ApiGateway::Stage")
    mappings = with_domain.resources("AWS::ApiGateway::BasePathMapping", stack).values()
    assert sorted(m["Properties"].get("BasePath", "") for m in mappings) == ["", API_STAGE]
    assert all(m["Properties"]["Stage"] == {"Ref": stage_id} for m in mappings)
    assert all(m["Properties"]["DomainName"] == {"Ref": domain_id} for m in mappings)
    # The key's path is a route of the stage, so the root mapping serves it at the domain's root.
    [key_route] = [r for r in ROUTES if r.name == c.TESLA_PUBLIC_KEY_ROUTE]
    assert key_route.path == "/.well-known/appspecific/com.tesla.3p.public-key.pem" and not key_route.auth
    outputs = with_domain.templates[stack]["Outputs"]
    assert any(o["Value"] == {"Fn::GetAtt": [domain_id, "RegionalDomainName"]} for o in outputs.values())
    assert rules_by_name(with_domain)["RateLimitPerIp"]["Statement"]["RateBasedStatement"]["Limit"] == 1000


def test_tesla_functions_get_the_partner_domain_redirect_uri_and_proxy_from_the_context(
    with_domain: Synthesized,
) -> None:
    for name in TESLA_SECRET_ROUTES:
        variables = environment_of(with_domain, name)
        assert variables["TESLA_PARTNER_DOMAIN"] == DOMAIN, name
        assert variables["TESLA_REDIRECT_URI"] == f"https://{DOMAIN}/{API_STAGE}/tesla/callback", name
        assert variables["TESLA_COMMAND_BASE"] == PROXY, name
        assert "TESLA_API_BASE" not in variables  # unset: the code's default (NA region, then 421 switches)
    pem = environment_of(with_domain, c.TESLA_PUBLIC_KEY_ROUTE)["TESLA_PUBLIC_KEY_PEM"]
    assert pem.replace("\\n", "\n") == PUBLIC_KEY and "\n" not in pem


def test_cfn_lint_accepts_the_api_template_with_a_custom_domain(with_domain: Synthesized) -> None:
    [template] = with_domain.outdir.glob(f"{c.stack_id('staging', c.API_STACK)}.template.json")
    findings = [f"{m.rule.id} {m.message}" for m in lint_file(template) if m.rule.id[0] in "EW"]
    assert [f for f in findings if not f.startswith("W3005")] == []  # W3005: see test_nag_and_lint
