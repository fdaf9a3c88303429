"""Triggers of task functions besides Step Functions, each with an encrypted dead-letter queue.

- ``payments_reconciler`` runs on an EventBridge schedule every 15 minutes (docs/payments.md).
- ``tesla_telemetry_kinesis`` consumes the telemetry stream of the data stack (docs/tesla.md).

The schedule, the event source mapping and the queue are created beside the function (in its nested
stack); the monitoring stack alarms on every queue's depth (``ApiStack.dead_letter_queues``).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs

from stacks import constants as c
from stacks.environment import EnvironmentConfig
from stacks.nag import acknowledge
from stacks.route_function import RouteFunction

# Long enough for an operator to inspect and redrive what failed after an alarm (SQS allows 14 days).
DLQ_RETENTION = cdk.Duration.days(14)

# The telemetry consumer's event source mapping (docs/tesla.md, "Kinesis consumer").
TELEMETRY_BATCH_SIZE = 100
TELEMETRY_BATCHING_WINDOW = cdk.Duration.seconds(1)
TELEMETRY_RETRY_ATTEMPTS = 3
TELEMETRY_MAX_RECORD_AGE = cdk.Duration.hours(1)


def dead_letter_queue(function: RouteFunction, config: EnvironmentConfig, holds: str) -> sqs.Queue:
    """An SSE-encrypted, TLS-only queue beside ``function`` for what its trigger could not process."""
    name = function.route.name
    queue = sqs.Queue(
        function,
        c.DEAD_LETTER_QUEUE,
        queue_name=c.resource_name(config.name, f"{name}-dlq"),
        # SQS-managed keys: EventBridge, Lambda destinations and event source mappings can all write
        # to it without a key policy (the AWS managed aws/sqs key does not let EventBridge in).
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=DLQ_RETENTION,
        removal_policy=config.cdk_removal_policy,
    )
    acknowledge(
        queue,
        "AwsSolutions::AwsSolutions-SQS3",
        f"This queue is itself the dead-letter queue of {name} ({holds}); nothing consumes it "
        "automatically, so a DLQ behind it would only move the same messages. Its depth is alarmed.",
    )
    return queue


def schedule_reconciler(function: RouteFunction, config: EnvironmentConfig) -> sqs.Queue:
    """Run the reconciler every 15 minutes; a run that fails is not retried but recorded in its DLQ.

    The next run repeats the same work from the current state (it is idempotent), so retrying a failed
    run would only overlap it. EventBridge does not retry delivery (``retry_attempts=0``) and
    sends undeliverable events to the queue; Lambda does not retry the asynchronous invocation either,
    and sends failed or expired ones (with the error) to the same queue.
    """
    every = cdk.Duration.minutes(c.RECONCILER_SCHEDULE_MINUTES)
    queue = dead_letter_queue(function, config, "failed or undeliverable scheduled runs")
    function.function.configure_async_invoke(
        retry_attempts=0,
        # A run still queued when the next one is due is dropped (recorded in the queue), not run late.
        max_event_age=every,
        on_failure=destinations.SqsDestination(queue),
    )
    events.Rule(
        function,
        c.RECONCILER_SCHEDULE,
        rule_name=c.resource_name(config.name, f"{function.route.name}-schedule"),
        description=f"Runs {function.route.function_name(config.name)} every {c.RECONCILER_SCHEDULE_MINUTES} minutes",
        schedule=events.Schedule.rate(every),
        targets=[targets.LambdaFunction(function.function, retry_attempts=0, dead_letter_queue=queue)],
    )
    return queue


def consume_telemetry_stream(
    function: RouteFunction, stream: kinesis.IStream, config: EnvironmentConfig
) -> sqs.Queue:
    """Event source mapping from the telemetry stream, with partial batch responses.

    The handler reports the first unreadable record; bisecting, 3 retries and a 1-hour record age
    isolate a poison record, whose metadata (shard, sequence numbers) goes to the queue. Records of one
    VIN share a partition key, so they stay in order with any parallelization factor. The mapping
    grants the function's role read access to this stream only.
    """
    queue = dead_letter_queue(function, config, "metadata of telemetry batches that kept failing")
    function.function.add_event_source(
        event_sources.KinesisEventSource(
            stream,
            starting_position=lambda_.StartingPosition.LATEST,
            batch_size=TELEMETRY_BATCH_SIZE,
            max_batching_window=TELEMETRY_BATCHING_WINDOW,
            bisect_batch_on_error=True,
            retry_attempts=TELEMETRY_RETRY_ATTEMPTS,
            max_record_age=TELEMETRY_MAX_RECORD_AGE,
            report_batch_item_failures=True,
            parallelization_factor=config.telemetry_parallelization_factor,
            on_failure=event_sources.SqsDlq(queue),
        )
    )
    return queue
