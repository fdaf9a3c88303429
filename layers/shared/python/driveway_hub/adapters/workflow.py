"""The booking lifecycle's Step Functions port: start an execution per booking, resume or fail the
step that waits on a task token, stop an execution.

The protocol every waiting step follows (payment, approval, arrival, parked, departure):
1. the step's task (``...waitForTaskToken``) stores its token on the booking with
   ``BookingRepository.park_token(booking_id, waiting_for, token)``;
2. whoever observes the awaited fact (Stripe webhook, telemetry ingest, check-in API, host approval)
   calls ``BookingRepository.take_token(booking_id, waiting_for)``, a conditional remove that hands the
   token to exactly one caller, and then ``Workflow.resume`` (or ``fail``) with it.
Duplicates and replays therefore resume a step at most once.

Because the fact can be observed before its step has parked the token (a fast payment webhook), both
sides go through ``domain.bookings.observe`` / ``domain.bookings.resume_if_observed``: the observer
records the fact first and then takes the token; the step parks its token first and then looks for
the fact. Whichever comes second finds both, and ``take_token`` lets exactly one of them resume.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from driveway_hub.aws import client
from driveway_hub.observability import logger


class WorkflowPort(Protocol):
    def start(self, booking_id: str, payload: dict[str, Any]) -> str: ...

    def resume(self, token: str, output: dict[str, Any]) -> bool: ...

    def fail(self, token: str, error: str, cause: str) -> bool: ...

    def stop(self, execution_arn: str, cause: str) -> None: ...


class StepFunctionsWorkflow:
    def __init__(self, state_machine_arn: str):
        self._arn = state_machine_arn

    def start(self, booking_id: str, payload: dict[str, Any]) -> str:
        """Start the execution named after the booking; starting it again is harmless."""
        sfn = client("stepfunctions")
        try:
            response = sfn.start_execution(stateMachineArn=self._arn, name=booking_id, input=json.dumps(payload))
        except sfn.exceptions.ExecutionAlreadyExists:
            # A retried request: the first start won, and its execution is the booking's.
            return self._arn.replace(":stateMachine:", ":execution:") + f":{booking_id}"
        return str(response["executionArn"])

    def resume(self, token: str, output: dict[str, Any]) -> bool:
        sfn = client("stepfunctions")
        try:
            sfn.send_task_success(taskToken=token, output=json.dumps(output))
        except (sfn.exceptions.TaskTimedOut, sfn.exceptions.InvalidToken, sfn.exceptions.TaskDoesNotExist):
            # The step already timed out or the execution ended: the lifecycle took its timeout path.
            logger.warning("task token no longer valid")
            return False
        return True

    def fail(self, token: str, error: str, cause: str) -> bool:
        sfn = client("stepfunctions")
        try:
            sfn.send_task_failure(taskToken=token, error=error, cause=cause)
        except (sfn.exceptions.TaskTimedOut, sfn.exceptions.InvalidToken, sfn.exceptions.TaskDoesNotExist):
            logger.warning("task token no longer valid")
            return False
        return True

    def stop(self, execution_arn: str, cause: str) -> None:
        sfn = client("stepfunctions")
        try:
            sfn.stop_execution(executionArn=execution_arn, error="BookingCancelled", cause=cause)
        except sfn.exceptions.ExecutionDoesNotExist:
            logger.warning("execution to stop does not exist", extra={"execution_arn": execution_arn})
