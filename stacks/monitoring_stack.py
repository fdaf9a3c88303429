"""Alarms and a dashboard for what the other stacks deploy; alarms notify an encrypted SNS topic.

Besides AWS's own metrics, the business metrics the code emits with Powertools
(``driveway_hub.business_metrics``: namespace DrivewayHub, dimension ``service``) are alarmed on
(payment failures, Tesla unavailable, webhook signature failures) and graphed (bookings, payment and
Tesla command success rates, arrival detection latency, WebSocket connections).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from driveway_hub import business_metrics as bm
from stacks import constants as c
from stacks.api_stack import ApiStack
from stacks.environment import EnvironmentConfig


def business_metric(name: str, statistic: str, period: cdk.Duration, label: str | None = None) -> cloudwatch.Metric:
    """One of driveway_hub.business_metrics, as Powertools publishes it (EMF: namespace + service)."""
    return cloudwatch.Metric(
        namespace=bm.NAMESPACE,
        metric_name=name,
        dimensions_map={"service": bm.SERVICE},
        statistic=statistic,
        period=period,
        label=label,
    )


def success_rate(succeeded: str, failed: str, period: cdk.Duration, label: str) -> cloudwatch.MathExpression:
    """100 * S / (S + F) per period; a period with neither has no point (not 0 %, not 100 %)."""
    return cloudwatch.MathExpression(
        expression="100 * FILL(s, 0) / (FILL(s, 0) + FILL(f, 0))",
        using_metrics={
            "s": business_metric(succeeded, "Sum", period),
            "f": business_metric(failed, "Sum", period),
        },
        label=label,
        period=period,
    )


class MonitoringStack(cdk.Stack):
    """API 5xx rate and p95 latency, errors per function, failed executions per state machine, messages
    in any dead-letter queue, and the business metrics' alarms; a dashboard of all of it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        api: ApiStack,
        state_machines: Mapping[str, sfn.IStateMachine],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        thresholds = config.alarms
        period = cdk.Duration.minutes(thresholds.period_minutes)

        key = kms.Key(
            self,
            c.ALARM_TOPIC_KEY,
            alias=f"alias/{c.resource_name(config.name, 'alarms')}",
            description="Encrypts the alarm topic",
            enable_key_rotation=True,
            removal_policy=config.cdk_removal_policy,
        )
        # The AWS managed SNS key does not let CloudWatch publish to the topic; this key does.
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.alarm_topic = sns.Topic(
            self,
            c.ALARM_TOPIC,
            topic_name=c.resource_name(config.name, "alarms"),
            display_name=f"Driveway-Hub {config.name} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        action = cloudwatch_actions.SnsAction(self.alarm_topic)
        self.alarms: list[cloudwatch.Alarm] = []

        def alarm(construct_id: str, metric: cloudwatch.IMetric, threshold: float, description: str) -> None:
            created = cloudwatch.Alarm(
                self,
                construct_id,
                alarm_name=c.resource_name(config.name, construct_id),
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                evaluation_periods=thresholds.evaluation_periods,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                # No traffic is not an outage of these metrics' meaning (errors, failures, latency).
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            created.add_alarm_action(action)
            created.add_ok_action(action)
            self.alarms.append(created)

        rest_api = api.rest_api
        # The Average of 5XXError is the share of requests answered with a 5xx.
        server_error_rate = rest_api.metric_server_error(statistic="Average", period=period)
        latency_p95 = rest_api.metric_latency(statistic="p95", period=period)
        alarm(
            "api-5xx-rate",
            server_error_rate,
            thresholds.api_5xx_rate_percent / 100,
            f"REST API 5xx responses >= {thresholds.api_5xx_rate_percent}% of requests",
        )
        alarm(
            "api-latency-p95",
            latency_p95,
            thresholds.api_p95_latency_ms,
            f"REST API p95 latency >= {thresholds.api_p95_latency_ms} ms",
        )
        function_errors: list[cloudwatch.IMetric] = []
        function_durations: list[cloudwatch.IMetric] = []
        for name, route_function in api.functions.items():
            fn = route_function.function
            errors = fn.metric_errors(statistic="Sum", period=period)
            # Labels only on the dashboard: a labelled metric turns an alarm into a metric-math alarm.
            function_errors.append(errors.with_(label=name))
            function_durations.append(fn.metric_duration(statistic="p95", period=period, label=name))
            alarm(
                f"{name}-errors",
                errors,
                thresholds.lambda_errors,
                f"Function {route_function.route.function_name(config.name)} errors >= "
                f"{thresholds.lambda_errors} in {thresholds.period_minutes} min",
            )
        dead_letters: list[cloudwatch.IMetric] = []
        for name, queue in api.dead_letter_queues.items():
            # Maximum over the period: one message that arrives and is redriven still shows.
            depth = queue.metric_approximate_number_of_messages_visible(statistic="Maximum", period=period)
            dead_letters.append(depth.with_(label=name))
            alarm(
                f"{name}-dlq-depth",
                depth,
                1,
                f"Dead-letter queue of {c.resource_name(config.name, name)} holds messages: work its "
                "trigger could not complete (docs/runbook.md)",
            )
        executions_failed: list[cloudwatch.IMetric] = []
        for name, machine in state_machines.items():
            failed = machine.metric_failed(statistic="Sum", period=period)
            executions_failed.append(failed.with_(label=name))
            alarm(
                f"{name}-executions-failed",
                failed,
                thresholds.state_machine_failed_executions,
                f"State machine {name} failed executions >= {thresholds.state_machine_failed_executions}",
            )

        # --- Business metrics (driveway_hub.business_metrics) --------------------------------------
        payment_failures = business_metric(bm.PAYMENT_FAILED, "Sum", period)
        alarm(
            "payment-failures",
            payment_failures,
            thresholds.payment_failures,
            f"Booking payments failed (PaymentFailed) >= {thresholds.payment_failures} in "
            f"{thresholds.period_minutes} min: declines spiking or Stripe trouble (docs/payments.md)",
        )
        tesla_unavailable = business_metric(bm.TESLA_API_UNAVAILABLE, "Sum", period)
        alarm(
            "tesla-api-unavailable",
            tesla_unavailable,
            thresholds.tesla_api_unavailable,
            f"Tesla answered 5xx or could not be reached (TeslaApiUnavailable) >= "
            f"{thresholds.tesla_api_unavailable} in {thresholds.period_minutes} min: navigation falls back "
            "to 'drive there yourself'",
        )
        signature_failures = business_metric(bm.WEBHOOK_SIGNATURE_FAILURES, "Sum", period)
        alarm(
            "webhook-signature-failures",
            signature_failures,
            thresholds.webhook_signature_failures,
            f"Webhooks refused for their signature (WebhookSignatureFailures) >= "
            f"{thresholds.webhook_signature_failures} in {thresholds.period_minutes} min: a signing secret "
            "out of step (rotation, docs/runbook.md) or forged requests",
        )

        # Each of these is money a person must look at (a settlement, refund or reconciliation that failed
        # after retries, a dispute): one alarm on their sum, at the first occurrence.
        alarm(
            "money-needs-attention",
            cloudwatch.MathExpression(
                expression=" + ".join(f"FILL(m{i}, 0)" for i in range(len(bm.NEEDS_ATTENTION))),
                using_metrics={f"m{i}": business_metric(name, "Sum", period)
                               for i, name in enumerate(bm.NEEDS_ATTENTION)},
                period=period,
            ),
            1,
            "A payment needs a person: " + ", ".join(bm.NEEDS_ATTENTION) + " (docs/payments.md, docs/runbook.md)",
        )

        dashboard = cloudwatch.Dashboard(
            self, c.DASHBOARD, dashboard_name=c.resource_name(config.name, "dashboard")
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="REST requests",
                left=[rest_api.metric_count(statistic="Sum", period=period)],
                right=[server_error_rate],
                width=8,
            ),
            cloudwatch.GraphWidget(title="REST latency p95 (ms)", left=[latency_p95], width=8),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=8),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Function errors", left=function_errors, width=12),
            cloudwatch.GraphWidget(title="Function duration p95 (ms)", left=function_durations, width=12),
        )
        if dead_letters:
            dashboard.add_widgets(
                cloudwatch.GraphWidget(title="Dead-letter queue depth", left=dead_letters, width=12)
            )
        if executions_failed:
            dashboard.add_widgets(
                cloudwatch.GraphWidget(title="Failed executions", left=executions_failed, width=12)
            )
        self._business_widgets(dashboard, period, tesla_unavailable, signature_failures)
        waf = api.firewall
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="WAF requests (REST API)",
                left=[
                    cloudwatch.Metric(
                        namespace="AWS/WAFV2",
                        metric_name=metric_name,
                        dimensions_map={"WebACL": waf.web_acl_name, "Region": self.region, "Rule": "ALL"},
                        statistic="Sum",
                        period=period,
                        label=label,
                    )
                    for metric_name, label in (("AllowedRequests", "allowed"), ("BlockedRequests", "blocked"),
                                               ("CountedRequests", "counted"))
                ],
                width=24,
            )
        )

    @staticmethod
    def _business_widgets(dashboard: cloudwatch.Dashboard, period: cdk.Duration,
                          tesla_unavailable: cloudwatch.Metric, signature_failures: cloudwatch.Metric) -> None:
        connections_sum = business_metric(bm.WEBSOCKET_CONNECTIONS, "Sum", period)
        connections_samples = business_metric(bm.WEBSOCKET_CONNECTIONS, "SampleCount", period)
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Bookings",
                left=[
                    business_metric(bm.BOOKINGS_CREATED, "Sum", period, "created"),
                    business_metric(bm.BOOKINGS_CONFIRMED, "Sum", period, "confirmed"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Payment success rate (%)",
                left=[success_rate(bm.PAYMENT_SUCCEEDED, bm.PAYMENT_FAILED, period, "payments succeeded %")],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Tesla command success rate (%)",
                left=[success_rate(bm.TESLA_COMMAND_SUCCEEDED, bm.TESLA_COMMAND_FAILED, period,
                                   "commands succeeded %")],
                right=[tesla_unavailable.with_(label="Tesla unavailable (count)")],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Arrival detection latency (ms)",
                left=[
                    business_metric(bm.ARRIVAL_DETECTION_LATENCY, "p50", period, "p50"),
                    business_metric(bm.ARRIVAL_DETECTION_LATENCY, "p95", period, "p95"),
                ],
                width=8,
            ),
            # +1 per $connect and -1 per $disconnect: Sum is the net change, SampleCount both together.
            cloudwatch.GraphWidget(
                title="WebSocket connections",
                left=[
                    cloudwatch.MathExpression(expression="(n + s) / 2", using_metrics={
                        "n": connections_samples, "s": connections_sum}, label="opened", period=period),
                    cloudwatch.MathExpression(expression="(n - s) / 2", using_metrics={
                        "n": connections_samples, "s": connections_sum}, label="closed", period=period),
                    connections_sum.with_(label="net change"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Webhook signature failures",
                left=[signature_failures.with_(label="refused signatures")],
                width=8,
            ),
        )
