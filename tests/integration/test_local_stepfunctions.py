"""Step Functions in the local cloud execute real ASL, run our in-process Lambda handlers and keep
virtual time: an hour's Wait, Retry back-offs and task-token timeouts take no real time.

The state machines are in tests/integration/asl/; ``${Fn_<name>}`` placeholders become the ARNs of the
test functions below (the same substitution convention as statemachines/). Polling helpers wait for the
engine's threads with a real-time limit: if a Wait or Retry slept in real time, that limit would fail the
test rather than let it run for an hour.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from driveway_hub.clock import utcnow
from driveway_hub.routes import ROUTES
from local.clock import VirtualClock
from local.moto_backend import LambdaRuntimeError, MotoCloud, import_handler, route_resolver
from local.resources import create_function, create_service_role, create_state_machine, substitute
from tests.integration.conftest import wait_until

pytestmark = pytest.mark.integration

ASL_DIR = Path(__file__).parent / "asl"
REAL_SECONDS_LIMIT = 10.0  # generous for a slow CI box; a real-time Wait of 3600 s would blow it


# ------------------------------------------------------------------------------------ test handlers


class VehicleAsleep(Exception):
    """The car is asleep: transient, the state machine retries."""


class VehicleUnavailable(Exception):
    """The car cannot be reached at all: caught, the booking is compensated."""


class Recorder:
    """What the handlers saw, per handler and booking; lets a test wait for a call without sleeping."""

    def __init__(self) -> None:
        self._calls: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self._changed = threading.Condition()

    def record(self, handler: str, event: dict[str, Any]) -> int:
        with self._changed:
            calls = self._calls[(handler, event["booking_id"])]
            calls.append(event)
            self._changed.notify_all()
            return len(calls)

    def calls(self, handler: str, booking_id: str) -> list[dict[str, Any]]:
        with self._changed:
            return list(self._calls[(handler, booking_id)])

    def wait_for(self, handler: str, booking_id: str) -> dict[str, Any]:
        """The first event ``handler`` received for ``booking_id``, waiting for it if needed."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._calls[(handler, booking_id)], REAL_SECONDS_LIMIT):
                pytest.fail(f"{handler} was not called for {booking_id}")
            return self._calls[(handler, booking_id)][0]


RECORDER = Recorder()


def create_hold(event: dict[str, Any], context: Any) -> dict[str, Any]:
    RECORDER.record("create_hold", event)
    # utcnow(): the handler sees the virtual clock, as production handlers do.
    return {"hold_id": f"hold-{event['booking_id']}", "at": utcnow().isoformat(), "by": context.function_name}


def await_payment(event: dict[str, Any], context: Any) -> None:
    # Stores the task token (production code puts it on the booking); the test answers it.
    RECORDER.record("await_payment", event)


def wake_vehicle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    attempt = RECORDER.record("wake_vehicle", event)
    if event.get("unavailable"):
        raise VehicleUnavailable(f"vehicle of {event['booking_id']} is unreachable")
    if attempt <= event.get("asleep_times", 0):
        raise VehicleAsleep(f"vehicle of {event['booking_id']} is asleep (attempt {attempt})")
    return {"state": "online"}


def compensate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    RECORDER.record("compensate", event)
    return {"refunded": True}


def echo_context(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "event": event,
        "function_name": context.function_name,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }


def asleep(event: dict[str, Any], context: Any) -> None:
    raise VehicleAsleep("zzz")


def unserialisable(event: dict[str, Any], context: Any) -> object:
    return object()


def record_async(event: dict[str, Any], context: Any) -> None:
    RECORDER.record("record_async", event)


# Substitution key (as in ${Fn_<key>}) -> handler. Function names are prefixed to stay clear of routes.
HANDLERS: dict[str, Callable[[Any, Any], Any]] = {
    "create_hold": create_hold,
    "await_payment": await_payment,
    "wake_vehicle": wake_vehicle,
    "compensate": compensate,
    "echo_context": echo_context,
    "asleep": asleep,
    "unserialisable": unserialisable,
    "record_async": record_async,
}


def function_name(key: str) -> str:
    return f"sfn-test-{key}"


# ----------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def aws_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
            patch.setenv(name, "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield


@pytest.fixture(scope="module")
def clock() -> VirtualClock:
    return VirtualClock.instant()


@pytest.fixture(scope="module")
def cloud(aws_env: None, clock: VirtualClock) -> Iterator[MotoCloud]:
    handlers = {function_name(key): handler for key, handler in HANDLERS.items()}
    with MotoCloud(clock=clock, handlers=handlers) as running:
        yield running


@pytest.fixture(scope="module")
def sfn(cloud: MotoCloud) -> Any:
    return cloud.client("stepfunctions")


@pytest.fixture(scope="module")
def lambda_client(cloud: MotoCloud) -> Any:
    return cloud.client("lambda")


@pytest.fixture(scope="module")
def machines(cloud: MotoCloud, lambda_client: Any) -> dict[str, str]:
    """Every tests/integration/asl/*.json as a state machine: file stem -> ARN."""
    iam = cloud.client("iam")
    lambda_role = create_service_role(iam, "sfn-test-lambda", "lambda.amazonaws.com")
    states_role = create_service_role(iam, "sfn-test-states", "states.amazonaws.com")
    substitutions = {
        f"Fn_{key}": create_function(lambda_client, function_name(key), f"{__name__}.{key}", lambda_role)
        for key in HANDLERS
    }
    arns = {}
    for path in sorted(ASL_DIR.glob("*.asl.json")):
        stem = path.name.removesuffix(".asl.json")
        definition = substitute(path.read_text(encoding="utf-8"), substitutions)
        arns[stem] = create_state_machine(cloud.client("stepfunctions"), f"sfn-test-{stem}", definition, states_role)
    return arns


# ------------------------------------------------------------------------------------------ helpers


def new_booking_id() -> str:
    return f"bk-{uuid.uuid4().hex[:12]}"


def start(sfn: Any, machine_arn: str, execution_input: dict[str, Any]) -> str:
    # name= always: without it moto names two executions of one machine alike (research/local-aws.md).
    started = sfn.start_execution(
        stateMachineArn=machine_arn, name=f"exec-{uuid.uuid4().hex}", input=json.dumps(execution_input)
    )
    execution_arn: str = started["executionArn"]
    return execution_arn


def finish(sfn: Any, execution_arn: str) -> dict[str, Any]:
    """describe_execution once the execution has stopped running."""
    result: dict[str, Any] = {}

    def stopped() -> bool:
        result.update(sfn.describe_execution(executionArn=execution_arn))
        return bool(result["status"] != "RUNNING")

    wait_until(stopped, f"execution {execution_arn} to finish")
    return result


def wait_for_timer(clock: VirtualClock, deadline: datetime) -> None:
    """Wait until the engine blocks on a timer ending at ``deadline`` (so advancing will fire it)."""
    wait_until(lambda: deadline in clock.pending_deadlines(), f"a timer ending at {deadline.isoformat()}")


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return events


def entered_states(events: list[dict[str, Any]]) -> list[str]:
    return [event["stateEnteredEventDetails"]["name"] for event in events if "stateEnteredEventDetails" in event]


def failed_errors(events: list[dict[str, Any]]) -> list[str]:
    return [
        details["error"]
        for event in events
        for key, details in event.items()
        if key in ("taskFailedEventDetails", "lambdaFunctionFailedEventDetails")
    ]


# -------------------------------------------------------------------------------------- acceptance


def test_lambda_task_hour_wait_and_task_token_run_in_virtual_time(
    sfn: Any, clock: VirtualClock, machines: dict[str, str], cloud: MotoCloud
) -> None:
    booking_id = new_booking_id()
    virtual_start = clock.now()

    execution_arn = start(sfn, machines["booking_flow"], {"booking_id": booking_id})
    token_request = RECORDER.wait_for("await_payment", booking_id)
    sfn.send_task_success(taskToken=token_request["token"], output=json.dumps({"payment_intent": "pi_local_1"}))
    result = finish(sfn, execution_arn)

    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {
        "booking_id": booking_id,
        "hold_id": f"hold-{booking_id}",
        "payment_intent": "pi_local_1",
        "status": "CONFIRMED",
    }
    # The Lambda task ran our handler on the execution input, and its result flowed to the next task.
    assert RECORDER.calls("create_hold", booking_id) == [{"booking_id": booking_id}]
    assert token_request["hold_id"] == f"hold-{booking_id}"
    assert cloud.stats[function_name("create_hold")].invocations >= 1
    # The hour's Wait happened in virtual time.
    assert clock.now() - virtual_start >= timedelta(hours=1)

    events = history(sfn, execution_arn)
    assert entered_states(events) == ["CreateHold", "WaitAnHour", "AwaitPayment", "Confirmed"]
    types = [event["type"] for event in events]
    for expected in ("LambdaFunctionSucceeded", "WaitStateExited", "TaskSubmitted", "TaskSucceeded",
                     "ExecutionSucceeded"):
        assert expected in types


# ---------------------------------------------------------------------------------- Retry and Catch


def test_retry_matches_the_handlers_exception_class_and_backs_off_in_virtual_time(
    sfn: Any, clock: VirtualClock, machines: dict[str, str]
) -> None:
    booking_id = new_booking_id()
    virtual_start = clock.now()

    result = finish(sfn, start(sfn, machines["wake_vehicle"], {"booking_id": booking_id, "asleep_times": 2}))

    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"])["vehicle"] == {"state": "online"}
    assert len(RECORDER.calls("wake_vehicle", booking_id)) == 3
    assert failed_errors(history(sfn, result["executionArn"])) == ["VehicleAsleep", "VehicleAsleep"]
    # IntervalSeconds 30, BackoffRate 2: 30 s then 60 s.
    assert clock.now() - virtual_start >= timedelta(seconds=90)
    assert RECORDER.calls("compensate", booking_id) == []


def test_catch_on_another_error_compensates_then_fails_without_retrying(
    sfn: Any, machines: dict[str, str]
) -> None:
    booking_id = new_booking_id()

    result = finish(sfn, start(sfn, machines["wake_vehicle"], {"booking_id": booking_id, "unavailable": True}))

    assert result["status"] == "FAILED"
    assert result["error"] == "NavigationFailed"
    assert len(RECORDER.calls("wake_vehicle", booking_id)) == 1  # the Retry is for VehicleAsleep only
    [compensation] = RECORDER.calls("compensate", booking_id)
    assert compensation["error"]["Error"] == "VehicleUnavailable"
    assert json.loads(compensation["error"]["Cause"])["errorMessage"] == f"vehicle of {booking_id} is unreachable"
    assert entered_states(history(sfn, result["executionArn"])) == ["WakeVehicle", "Compensate", "NavigationFailed"]


def test_exhausted_retries_fail_the_execution_with_the_handlers_error(
    sfn: Any, clock: VirtualClock, machines: dict[str, str]
) -> None:
    booking_id = new_booking_id()
    virtual_start = clock.now()

    result = finish(sfn, start(sfn, machines["wake_vehicle"], {"booking_id": booking_id, "asleep_times": 10}))

    assert result["status"] == "FAILED"
    assert result["error"] == "VehicleAsleep"
    assert len(RECORDER.calls("wake_vehicle", booking_id)) == 4  # the first attempt and 3 retries
    assert clock.now() - virtual_start >= timedelta(seconds=30 + 60 + 120)


# ----------------------------------------------------------------------------------------- timeouts


@pytest.mark.parametrize("machine", ["payment_timeout", "payment_timeout_path"])
def test_task_token_timeout_of_an_hour_fires_when_virtual_time_passes_it(
    sfn: Any, clock: VirtualClock, machines: dict[str, str], machine: str
) -> None:
    booking_id = new_booking_id()
    execution_arn = start(sfn, machines[machine], {"booking_id": booking_id, "payment_timeout_s": 3600})
    RECORDER.wait_for("await_payment", booking_id)
    # Virtual time only moves on sleeps and advances: nobody answered, and nothing has timed out yet.
    assert sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"

    clock.advance(3600)
    result = finish(sfn, execution_arn)

    assert result["status"] == "SUCCEEDED"
    output = json.loads(result["output"])
    assert output["status"] == "EXPIRED"
    assert output["error"]["Error"] == "States.Timeout"


def test_heartbeats_extend_a_task_token_until_they_stop(
    sfn: Any, clock: VirtualClock, machines: dict[str, str]
) -> None:
    booking_id = new_booking_id()
    execution_arn = start(sfn, machines["heartbeat_timeout"], {"booking_id": booking_id})
    token = RECORDER.wait_for("await_payment", booking_id)["token"]
    wait_for_timer(clock, clock.now() + timedelta(seconds=600))

    clock.advance(300)
    sfn.send_task_heartbeat(taskToken=token)
    wait_for_timer(clock, clock.now() + timedelta(seconds=600))  # the heartbeat restarted the 600 s
    assert sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
    clock.advance(600)
    result = finish(sfn, execution_arn)

    assert result["status"] == "SUCCEEDED"
    output = json.loads(result["output"])
    assert output["status"] == "LOST"
    # Well before the task's 86400 s TimeoutSeconds: the heartbeat timer fired. (moto names it
    # States.Timeout, like every timeout; AWS's States.Timeout also covers heartbeats.)
    assert output["error"]["Error"] == "States.Timeout"


def test_execution_timeout_seconds_counts_virtual_time(
    sfn: Any, clock: VirtualClock, machines: dict[str, str]
) -> None:
    booking_id = new_booking_id()
    execution_arn = start(sfn, machines["execution_timeout"], {"booking_id": booking_id})
    RECORDER.wait_for("await_payment", booking_id)

    clock.advance(600)

    assert finish(sfn, execution_arn)["status"] == "TIMED_OUT"


# ---------------------------------------------------------------------------------- Timestamp waits


def test_timestamp_path_with_an_offset_waits_until_that_virtual_time(
    sfn: Any, clock: VirtualClock, machines: dict[str, str]
) -> None:
    booking_id = new_booking_id()
    start_at = clock.now() + timedelta(hours=2)

    result = finish(sfn, start(sfn, machines["timestamp_wait"], {"booking_id": booking_id,
                                                                   "start_at": start_at.isoformat()}))

    assert result["status"] == "SUCCEEDED"
    hold = json.loads(result["output"])["hold"]
    assert datetime.fromisoformat(hold["at"]) >= start_at  # the handler ran at (virtual) start time
    assert clock.now() >= start_at


def test_timestamp_in_the_past_does_not_wait(sfn: Any, clock: VirtualClock, machines: dict[str, str]) -> None:
    booking_id = new_booking_id()
    before = clock.now()
    past = (before - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    result = finish(sfn, start(sfn, machines["timestamp_wait"], {"booking_id": booking_id, "start_at": past}))

    assert result["status"] == "SUCCEEDED"
    assert clock.now() - before < timedelta(seconds=1)


# ---------------------------------------------------------------- Lambda invoke (what tasks rely on)


def test_invoke_runs_the_handler_in_process_with_a_lambda_context(lambda_client: Any) -> None:
    response = lambda_client.invoke(FunctionName=function_name("echo_context"), Payload=json.dumps({"a": 1}))

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    payload = json.loads(response["Payload"].read())
    assert payload["event"] == {"a": 1}
    assert payload["function_name"] == function_name("echo_context")
    assert payload["invoked_function_arn"].endswith(f":function:{function_name('echo_context')}")
    assert payload["memory_limit_in_mb"] == 256
    assert payload["aws_request_id"]
    assert 0 < payload["remaining_ms"] <= 30_000


def test_invoke_by_arn_with_a_qualifier_reaches_the_same_handler(lambda_client: Any) -> None:
    arn = lambda_client.get_function(FunctionName=function_name("echo_context"))["Configuration"]["FunctionArn"]

    response = lambda_client.invoke(FunctionName=f"{arn}:$LATEST", Payload=b"{}")

    assert json.loads(response["Payload"].read())["function_name"] == function_name("echo_context")


def test_a_raised_exception_is_a_function_error_named_after_its_class(lambda_client: Any) -> None:
    response = lambda_client.invoke(FunctionName=function_name("asleep"), Payload=b"{}")

    assert response["FunctionError"] == "Unhandled"
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "VehicleAsleep"
    assert payload["errorMessage"] == "zzz"
    assert payload["stackTrace"]


def test_an_unserialisable_result_is_a_runtime_marshal_error(lambda_client: Any) -> None:
    response = lambda_client.invoke(FunctionName=function_name("unserialisable"), Payload=b"{}")

    assert json.loads(response["Payload"].read())["errorType"] == "Runtime.MarshalError"


def test_a_missing_function_is_resource_not_found(lambda_client: Any) -> None:
    with pytest.raises(ClientError) as error:
        lambda_client.invoke(FunctionName="sfn-test-does-not-exist", Payload=b"{}")

    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_function_without_an_in_process_handler_reports_handler_not_found(
    lambda_client: Any, cloud: MotoCloud
) -> None:
    role = lambda_client.get_function(FunctionName=function_name("asleep"))["Configuration"]["Role"]
    create_function(lambda_client, "sfn-test-no-handler", "nowhere.handler", role)

    response = lambda_client.invoke(FunctionName="sfn-test-no-handler", Payload=b"{}")

    assert json.loads(response["Payload"].read())["errorType"] == "Runtime.HandlerNotFound"
    with cloud.handler("sfn-test-no-handler", lambda event, context: {"late": True}):
        response = lambda_client.invoke(FunctionName="sfn-test-no-handler", Payload=b"{}")
    assert json.loads(response["Payload"].read()) == {"late": True}


def test_an_event_invocation_is_accepted_and_runs_in_the_background(lambda_client: Any) -> None:
    booking_id = new_booking_id()

    response = lambda_client.invoke(
        FunctionName=function_name("record_async"), InvocationType="Event",
        Payload=json.dumps({"booking_id": booking_id}),
    )

    assert response["StatusCode"] == 202
    assert RECORDER.wait_for("record_async", booking_id) == {"booking_id": booking_id}


def test_stats_count_invocations_errors_and_durations(lambda_client: Any, cloud: MotoCloud) -> None:
    cloud.reset_stats()

    for _ in range(2):
        lambda_client.invoke(FunctionName=function_name("echo_context"), Payload=b"{}")
    lambda_client.invoke(FunctionName=function_name("asleep"), Payload=b"{}")

    stats = cloud.stats
    assert stats[function_name("echo_context")].invocations == 2
    assert stats[function_name("echo_context")].errors == 0
    assert len(stats[function_name("echo_context")].durations) == 2
    assert stats[function_name("asleep")].errors == 1
    assert stats[function_name("asleep")].max_seconds >= stats[function_name("asleep")].mean_seconds > 0


def test_moto_port_points_step_functions_back_at_this_server(cloud: MotoCloud) -> None:
    assert os.environ["MOTO_PORT"] == str(cloud.port)
    assert cloud.endpoint_url == f"http://127.0.0.1:{cloud.port}"


def test_only_one_cloud_runs_per_process(cloud: MotoCloud) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        MotoCloud().start()


# ------------------------------------------------------------------------------ handler resolution


def test_route_resolver_finds_each_route_handler_by_function_name() -> None:
    resolve = route_resolver("local")
    assert resolve("not-a-driveway-hub-function") is None
    for route in ROUTES:
        try:
            expected = importlib.import_module(route.module).handler
        except ImportError:
            continue  # another engineer's function not written yet: ImportModuleError is tested below
        assert resolve(route.function_name("local")) is expected


def test_import_handler_reports_the_lambda_runtime_error_types() -> None:
    with pytest.raises(LambdaRuntimeError) as missing_module:
        import_handler("functions.no_such_module.handler")
    assert missing_module.value.error_type == "Runtime.ImportModuleError"

    with pytest.raises(LambdaRuntimeError) as missing_attribute:
        import_handler(f"{__name__}.no_such_handler")
    assert missing_attribute.value.error_type == "Runtime.HandlerNotFound"


def test_dynamodb_requests_are_isolated_like_dynamodbs_a_failed_transaction_loses_no_concurrent_write(
    cloud: MotoCloud,
) -> None:
    """moto rolls a failed TransactWriteItems back by restoring copies of whole tables taken when it began;
    without MotoCloud's serialisation, writes other threads made meanwhile vanish."""
    dynamodb = cloud.client("dynamodb")
    table = f"isolation-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    for i in range(200):  # a table big enough that copying it takes a while
        dynamodb.put_item(TableName=table, Item={"pk": {"S": f"filler-{i}"}, "pad": {"S": "x" * 200}})
    stop = threading.Event()

    def failing_transactions() -> None:
        client = cloud.client("dynamodb")
        while not stop.is_set():
            with contextlib.suppress(ClientError):
                client.transact_write_items(TransactItems=[{"Put": {
                    "TableName": table, "Item": {"pk": {"S": "filler-0"}},
                    "ConditionExpression": "attribute_not_exists(pk)"}}])

    workers = [threading.Thread(target=failing_transactions) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        written = [f"write-{i}" for i in range(150)]
        for key in written:
            dynamodb.put_item(TableName=table, Item={"pk": {"S": key}})
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    missing = [key for key in written
               if "Item" not in dynamodb.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True)]
    assert missing == []
