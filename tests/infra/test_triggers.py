"""Task functions with triggers of their own: the reconciler's schedule, the telemetry stream's consumer,
their dead-letter queues and the alarms on those queues (prod, synthesized once with cdk-nag)."""

from __future__ import annotations

from typing import Any

import pytest

from driveway_hub.routes import routes_for
from stacks import constants as c
from tests.infra.synth import (
    Synthesized,
    as_list,
    flat,
    referenced_resource,
    references_in,
    resource_at,
    statements,
)

pytestmark = pytest.mark.infra

# The routes the prod app has (Route.stages: the dev-only docs page is not among them).
ROUTES = routes_for("prod")

# What CDK's Stream.grantRead and the event source mapping grant: reads only, no writes or management.
KINESIS_READ_ACTIONS = {
    "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:DescribeStreamConsumer",
    "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:ListStreams",
    "kinesis:SubscribeToShard",
}
RECONCILER = c.RECONCILER_ROUTE
CONSUMER = c.TELEMETRY_CONSUMER_ROUTE


def _queue_named(synth: Synthesized, name: str) -> tuple[tuple[str, str], dict[str, Any]]:
    [match] = [
        (location, queue) for location, queue in synth.locate("AWS::SQS::Queue").items()
        if queue["Properties"]["QueueName"] == f"driveway-hub-prod-{name.replace('_', '-')}-dlq"
    ]
    return match


def _in_function_stack(synth: Synthesized, route: str, resource_type: str) -> dict[str, dict[str, Any]]:
    return synth.resources(resource_type, synth.function_stack(route))


def test_the_routes_with_triggers_are_task_routes_of_the_route_table() -> None:
    by_name = {r.name: r for r in ROUTES}
    assert by_name[RECONCILER].kind == "task"
    assert by_name[CONSUMER].kind == "task"


# --- Dead-letter queues --------------------------------------------------------------------------
@pytest.mark.parametrize("route", [RECONCILER, CONSUMER])
def test_each_dead_letter_queue_is_encrypted_tls_only_and_keeps_messages_14_days(
    route: str, prod: Synthesized
) -> None:
    (stack, queue_id), queue = _queue_named(prod, route)
    assert stack == prod.function_stack(route)  # beside its function
    props = queue["Properties"]
    assert props["SqsManagedSseEnabled"] is True
    assert props["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["DeletionPolicy"] == "Retain"  # prod keeps what failed
    [policy] = [
        p["Properties"] for p in prod.resources("AWS::SQS::QueuePolicy", stack).values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
    ]
    denials = [s for s in statements(policy["PolicyDocument"]) if s["Effect"] == "Deny"]
    assert any(s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for s in denials)


def test_every_dead_letter_queue_has_a_depth_alarm_notifying_the_alarm_topic(prod: Synthesized) -> None:
    monitoring = c.stack_id("prod", c.MONITORING_STACK)
    [topic_id] = prod.resources("AWS::SNS::Topic")
    depth_alarms = [
        a["Properties"] for a in prod.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    ]
    alarmed: set[tuple[str, str]] = set()
    for alarm in depth_alarms:
        assert alarm["Namespace"] == "AWS/SQS"
        assert alarm["Statistic"] == "Maximum"
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        [dimension] = alarm["Dimensions"]
        assert dimension["Name"] == "QueueName"
        location = referenced_resource(prod, monitoring, dimension["Value"])
        assert location is not None and resource_at(prod, location)["Type"] == "AWS::SQS::Queue"
        alarmed.add(location)
    assert alarmed == set(prod.locate("AWS::SQS::Queue"))
    assert len(alarmed) == 2


# --- The reconciler's schedule -------------------------------------------------------------------
def test_the_reconciler_runs_every_15_minutes_and_is_never_retried(prod: Synthesized) -> None:
    stack, function_id = prod.function_location(RECONCILER)
    (queue_stack, queue_id), _ = _queue_named(prod, RECONCILER)
    [(rule_id, rule)] = _in_function_stack(prod, RECONCILER, "AWS::Events::Rule").items()
    props = rule["Properties"]
    assert props["ScheduleExpression"] == "rate(15 minutes)"
    assert props["State"] == "ENABLED"
    [target] = props["Targets"]
    assert references_in(prod, stack, target["Arn"]) == [(stack, function_id)]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0
    assert references_in(prod, stack, target["DeadLetterConfig"]["Arn"]) == [(queue_stack, queue_id)]
    # EventBridge may invoke the function for this rule only
    [permission] = [
        p["Properties"] for p in prod.resources("AWS::Lambda::Permission", stack).values()
        if p["Properties"]["Principal"] == "events.amazonaws.com"
    ]
    assert references_in(prod, stack, permission["FunctionName"]) == [(stack, function_id)]
    assert references_in(prod, stack, permission["SourceArn"]) == [(stack, rule_id)]
    # ... and may send what it cannot deliver to the queue, for this rule only
    [policy] = [
        p["Properties"] for p in prod.resources("AWS::SQS::QueuePolicy", stack).values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
    ]
    [allow] = [s for s in statements(policy["PolicyDocument"]) if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert references_in(prod, stack, allow["Condition"]) == [(stack, rule_id)]


def test_a_failed_reconciler_run_is_not_retried_by_lambda_and_lands_in_its_queue(prod: Synthesized) -> None:
    stack, function_id = prod.function_location(RECONCILER)
    (_, queue_id), _ = _queue_named(prod, RECONCILER)
    [config] = _in_function_stack(prod, RECONCILER, "AWS::Lambda::EventInvokeConfig").values()
    props = config["Properties"]
    assert references_in(prod, stack, props["FunctionName"]) == [(stack, function_id)]
    assert props["Qualifier"] == "$LATEST"
    assert props["MaximumRetryAttempts"] == 0
    assert props["MaximumEventAgeInSeconds"] == c.RECONCILER_SCHEDULE_MINUTES * 60
    assert references_in(prod, stack, props["DestinationConfig"]["OnFailure"]["Destination"]) == [(stack, queue_id)]
    # the role may send to that queue (Lambda destinations use the function's role), and to no other
    sent_to = {
        location
        for s in prod.function_statements(RECONCILER) if "sqs:SendMessage" in as_list(s["Action"])
        for location in references_in(prod, stack, s["Resource"])
    }
    assert sent_to == {(stack, queue_id)}


# --- The telemetry stream's consumer -------------------------------------------------------------
def test_the_telemetry_stream_feeds_its_consumer_with_partial_batch_responses_and_a_dlq(
    prod: Synthesized,
) -> None:
    stack, function_id = prod.function_location(CONSUMER)
    (_, queue_id), _ = _queue_named(prod, CONSUMER)
    [mapping] = prod.resources("AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    assert prod.function_stack(CONSUMER) == stack
    assert references_in(prod, stack, props["FunctionName"]) == [(stack, function_id)]
    [stream_location] = references_in(prod, stack, props["EventSourceArn"])
    stream = resource_at(prod, stream_location)
    assert stream["Type"] == "AWS::Kinesis::Stream"
    assert stream["Properties"]["Name"] == "driveway-hub-prod-telemetry"
    assert props["StartingPosition"] == "LATEST"
    assert props["BatchSize"] == 100
    assert props["MaximumBatchingWindowInSeconds"] == 1
    assert props["BisectBatchOnFunctionError"] is True
    assert props["MaximumRetryAttempts"] == 3
    assert props["MaximumRecordAgeInSeconds"] == 3600
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 1 <= props["ParallelizationFactor"] <= 10
    assert props["ParallelizationFactor"] == prod.hub.config.telemetry_parallelization_factor
    assert references_in(prod, stack, props["DestinationConfig"]["OnFailure"]["Destination"]) == [(stack, queue_id)]


def test_only_the_consumer_may_read_the_telemetry_stream_and_only_that_stream(prod: Synthesized) -> None:
    stack = prod.function_stack(CONSUMER)
    [stream_id] = prod.resources("AWS::Kinesis::Stream")
    reads = [
        s for s in prod.function_statements(CONSUMER) if any(a.startswith("kinesis:") for a in as_list(s["Action"]))
    ]
    assert reads
    for statement in reads:
        assert statement["Effect"] == "Allow"
        assert not any("*" in a for a in as_list(statement["Action"]))
        assert set(as_list(statement["Action"])) <= KINESIS_READ_ACTIONS
        resources = as_list(statement["Resource"])
        assert [flat(prod, stack, r) for r in resources] == [f"<{stream_id}.Arn>"] * len(resources)
    for route in ROUTES:
        if route.name != CONSUMER:
            actions = {a for s in prod.function_statements(route.name) for a in as_list(s["Action"])}
            assert not any(a.startswith("kinesis:") for a in actions), route.name
