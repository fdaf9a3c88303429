"""Alarms and a dashboard for what the other stacks deploy; alarms notify an encrypted SNS topic."""

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

from stacks import constants as c
from stacks.api_stack import ApiStack
from stacks.environment import EnvironmentConfig


class MonitoringStack(cdk.Stack):
    """API 5xx rate and p95 latency, errors per function, failed executions per state machine and
    messages in any dead-letter queue."""

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
