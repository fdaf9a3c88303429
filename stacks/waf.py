"""The REST API's firewall: an AWS WAFv2 web ACL (scope REGIONAL) on the API's stage, with its logs.

Rules, in order (lower priority first; a terminating match ends the evaluation):

0. ``AWSManagedRulesAmazonIpReputationList``: addresses AWS threat intelligence knows as bad actors.
1. ``RateLimitPerIp``: more than ``waf.rate_limit_per_5min`` requests from one IP in any 5 minutes →
   429 in the API's error envelope. Webhooks are exempt: Stripe and the telemetry relay send from few
   addresses at a rate set by our own traffic, their requests are signature-verified before anything
   happens, and the stage's throttling still bounds them.
2. ``AWSManagedRulesCommonRuleSet`` (OWASP-style checks), with ``SizeRestrictions_BODY`` (bodies over
   8 KB) only COUNTED: Stripe event payloads and telemetry batches (up to 500 records) are legitimately
   larger. The count labels the request, and rule 4 blocks that label everywhere but the webhooks.
3. ``AWSManagedRulesKnownBadInputsRuleSet``: request patterns of known exploits (Log4j, ...).
4. ``OversizedBodyOutsideWebhooks``: the body-size check of rule 2, enforced (413) outside the webhooks.

Visibility: every rule and the ACL publish CloudWatch metrics (namespace AWS/WAFV2) and sampled
requests. Logs: blocked and counted requests only (allowed ones are in the API access logs) to
``aws-waf-logs-<app>-<stage>``, with the Authorization and x-api-key headers and the query string
(OAuth codes) redacted.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from driveway_hub.routes import API_STAGE
from stacks import constants as c
from stacks.environment import EnvironmentConfig

# URI paths of the webhooks as WAF sees them: through the stage (execute-api, or a custom domain's "v1"
# base path) and, with a custom domain, through its root mapping too (stacks/api_domain.py).
WEBHOOK_PATH_PREFIXES = (f"/{API_STAGE}/webhooks/", "/webhooks/")
# What AWSManagedRulesCommonRuleSet's SizeRestrictions_BODY adds to a request it matches.
OVERSIZED_BODY_LABEL = "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body"
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
)
RATE_LIMIT_RULE = "RateLimitPerIp"
OVERSIZED_BODY_RULE = "OversizedBodyOutsideWebhooks"
# Custom response bodies: the API's error envelope (driveway_hub.http), keyed by error code.
_RESPONSES = {
    "too_many_requests": (429, "Too many requests from this address; slow down and retry later."),
    "request_too_large": (413, "The request body is too large."),
}


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )


def _block(code: str) -> wafv2.CfnWebACL.RuleActionProperty:
    status, _message = _RESPONSES[code]
    return wafv2.CfnWebACL.RuleActionProperty(
        block=wafv2.CfnWebACL.BlockActionProperty(
            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                response_code=status, custom_response_body_key=code
            )
        )
    )


def _not_a_webhook() -> wafv2.CfnWebACL.StatementProperty:
    prefixes = [
        wafv2.CfnWebACL.StatementProperty(
            byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                positional_constraint="STARTS_WITH",
                search_string=prefix,
                text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="LOWERCASE")],
            )
        )
        for prefix in WEBHOOK_PATH_PREFIXES
    ]
    return wafv2.CfnWebACL.StatementProperty(
        not_statement=wafv2.CfnWebACL.NotStatementProperty(
            statement=wafv2.CfnWebACL.StatementProperty(
                or_statement=wafv2.CfnWebACL.OrStatementProperty(statements=prefixes)
            )
        )
    )


def _managed(priority: int, name: str, overrides: dict[str, str] | None = None) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS",
                name=name,
                rule_action_overrides=[
                    wafv2.CfnWebACL.RuleActionOverrideProperty(
                        name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(**{action: {}})
                    )
                    for rule, action in (overrides or {}).items()
                ]
                or None,
            )
        ),
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        visibility_config=_visibility(name),
    )


class RestApiFirewall(Construct):
    """The web ACL, its association with ``stage`` and its logging configuration."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, stage: apigw.Stage):
        super().__init__(scope, construct_id)
        name = c.resource_name(config.name, "rest")
        self.web_acl_name = name
        rules = [
            _managed(0, "AWSManagedRulesAmazonIpReputationList"),
            wafv2.CfnWebACL.RuleProperty(
                name=RATE_LIMIT_RULE,
                priority=1,
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        aggregate_key_type="IP",
                        limit=config.waf.rate_limit_per_5min,
                        evaluation_window_sec=300,
                        scope_down_statement=_not_a_webhook(),
                    )
                ),
                action=_block("too_many_requests"),
                visibility_config=_visibility(RATE_LIMIT_RULE),
            ),
            # Large bodies are counted (and labelled), not blocked, here: see rule 4 and the module docstring.
            _managed(2, "AWSManagedRulesCommonRuleSet", {"SizeRestrictions_BODY": "count"}),
            _managed(3, "AWSManagedRulesKnownBadInputsRuleSet"),
            wafv2.CfnWebACL.RuleProperty(
                name=OVERSIZED_BODY_RULE,
                priority=4,
                statement=wafv2.CfnWebACL.StatementProperty(
                    and_statement=wafv2.CfnWebACL.AndStatementProperty(
                        statements=[
                            wafv2.CfnWebACL.StatementProperty(
                                label_match_statement=wafv2.CfnWebACL.LabelMatchStatementProperty(
                                    scope="LABEL", key=OVERSIZED_BODY_LABEL
                                )
                            ),
                            _not_a_webhook(),
                        ]
                    )
                ),
                action=_block("request_too_large"),
                visibility_config=_visibility(OVERSIZED_BODY_RULE),
            ),
        ]
        self.web_acl = wafv2.CfnWebACL(
            self,
            c.WEB_ACL,
            name=name,
            description=f"Driveway-Hub {config.name} REST API: AWS managed rules and a per-IP rate limit",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(name),
            custom_response_bodies={
                code: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON",
                    content=json.dumps({"error": {"code": code, "message": message, "details": []}}),
                )
                for code, (_status, message) in _RESPONSES.items()
            },
            rules=rules,
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, c.WEB_ACL_ASSOCIATION, resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
        self._logging(config)

    def _logging(self, config: EnvironmentConfig) -> None:
        # WAF only logs to groups named aws-waf-logs-*, and wants the group's ARN without the ":*" suffix.
        log_group_name = f"aws-waf-logs-{c.resource_name(config.name, 'rest')}"
        self.log_group = logs.LogGroup(
            self,
            c.WAF_LOGS,
            log_group_name=log_group_name,
            retention=config.log_retention,
            removal_policy=config.cdk_removal_policy,
        )
        log_group_arn = cdk.Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name=log_group_name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        logging = wafv2.CfnLoggingConfiguration(
            self,
            c.WAF_LOGGING,
            resource_arn=self.web_acl.attr_arn,
            log_destination_configs=[log_group_arn],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": "authorization"}),
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": "x-api-key"}),
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(query_string={}),
            ],
            logging_filter={
                "DefaultBehavior": "DROP",
                "Filters": [
                    {
                        "Behavior": "KEEP",
                        "Requirement": "MEETS_ANY",
                        "Conditions": [
                            {"ActionCondition": {"Action": action}}
                            for action in ("BLOCK", "COUNT", "EXCLUDED_AS_COUNT")
                        ],
                    }
                ],
            },
        )
        logging.node.add_dependency(self.log_group)
