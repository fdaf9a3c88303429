"""Concurrent invocations in the local cloud must not see each other's request (as in Lambda, where a
process handles one event at a time)."""

from __future__ import annotations

import json
import threading
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from local.lambda_runtime import LocalLambdaContext, isolate_powertools_router_state


def _event(path_value: str) -> dict[str, Any]:
    return {"resource": "/echo/{value}", "path": f"/echo/{path_value}", "httpMethod": "GET", "headers": {},
            "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
            "pathParameters": {"value": path_value}, "requestContext": {"requestId": path_value, "stage": "v1"},
            "body": None, "isBase64Encoded": False}


def test_each_thread_sees_its_own_current_event() -> None:
    isolate_powertools_router_state()
    app = APIGatewayRestResolver()
    barrier = threading.Barrier(8)

    @app.get("/echo/<value>")
    def echo(value: str) -> dict[str, str]:
        barrier.wait(timeout=10)  # every thread is inside a request at the same time
        return {"asked": value, "seen": app.current_event.path}

    answers: dict[str, dict[str, str]] = {}

    def call(i: int) -> None:
        result = app.resolve(_event(str(i)), LocalLambdaContext("echo"))
        answers[str(i)] = json.loads(result["body"])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == {str(i): {"asked": str(i), "seen": f"/echo/{i}"} for i in range(8)}
