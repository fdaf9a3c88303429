"""The path from HTTP/WebSocket through the local API Gateway to our handlers and back, for real."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import requests
from aiohttp import ClientSession, WSMsgType

from local.cloud import LocalCloud

pytestmark = pytest.mark.integration

# Routes these tests exercise end to end (tests/unit/test_route_table.py checks every route is covered).
COVERS = ("get_health", "ws_connect", "ws_disconnect", "ws_ping", "ws_default")


def _ws_exchange(url: str, frames: list[str], replies: int) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        async with ClientSession() as session, session.ws_connect(url) as ws:
            for frame in frames:
                await ws.send_str(frame)
            return [json.loads(await ws.receive_str(timeout=10)) for _ in range(replies)]

    return asyncio.run(run())


def test_health_is_served_end_to_end_with_a_real_dynamodb_check(api: str) -> None:
    response = requests.get(f"{api}/health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["checks"]["dynamodb"] == "ok"
    assert "version" in body


def test_health_degrades_when_its_table_is_gone(local_cloud: LocalCloud, api: str) -> None:
    dynamodb = local_cloud.client("dynamodb")
    table = local_cloud.resources.table_names["users"]  # type: ignore[union-attr]
    description = dynamodb.describe_table(TableName=table)["Table"]
    dynamodb.delete_table(TableName=table)
    try:
        body = requests.get(f"{api}/health", timeout=10).json()
        assert body["status"] == "degraded"
        assert body["checks"]["dynamodb"].startswith("error:")
    finally:
        dynamodb.create_table(
            TableName=table,
            KeySchema=description["KeySchema"],
            AttributeDefinitions=description["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
            GlobalSecondaryIndexes=[
                {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
                for i in description.get("GlobalSecondaryIndexes", [])
            ],
        )


@pytest.mark.parametrize("path", ["/v1/nope", "/v1/health/extra", "/elsewhere", "/"])
def test_unknown_paths_get_404_in_the_error_envelope(local_cloud: LocalCloud, path: str) -> None:
    response = requests.get(f"{local_cloud.gateway.rest_url}{path}", timeout=10)  # type: ignore[union-attr]
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No such resource.", "details": []}}


def test_a_known_path_with_an_unknown_method_is_404_like_api_gateway(api: str) -> None:
    response = requests.delete(f"{api}/health", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def _ws_url(local_cloud: LocalCloud, driver: dict[str, str]) -> str:
    return f"{local_cloud.urls['websocket']}/?token={driver['access_token']}"


def test_websocket_ping_gets_pong_through_the_connections_api(local_cloud: LocalCloud, driver: dict[str, str]) -> None:
    url = _ws_url(local_cloud, driver)
    [reply] = _ws_exchange(url, ['{"action": "ping"}'], replies=1)
    assert reply["type"] == "pong"


def test_websocket_unknown_action_and_garbage_get_an_error_frame(
    local_cloud: LocalCloud, driver: dict[str, str]
) -> None:
    url = _ws_url(local_cloud, driver)
    replies = _ws_exchange(url, ['{"action": "dance"}', "not json"], replies=2)
    assert [r["error"]["code"] for r in replies] == ["unknown_action", "unknown_action"]


def test_connect_and_disconnect_are_recorded_in_the_connections_table(
    local_cloud: LocalCloud, driver: dict[str, str]
) -> None:
    dynamodb = local_cloud.client("dynamodb")
    table = local_cloud.resources.table_names["connections"]  # type: ignore[union-attr]

    async def run() -> tuple[int, int]:
        async with ClientSession() as session:
            ws = await session.ws_connect(_ws_url(local_cloud, driver))
            await ws.send_str('{"action": "ping"}')
            await ws.receive_str(timeout=10)
            during = dynamodb.scan(TableName=table)["Count"]
            await ws.close()
        for _ in range(50):  # $disconnect runs after the close handshake
            if dynamodb.scan(TableName=table)["Count"] < during:
                break
            await asyncio.sleep(0.05)
        return during, dynamodb.scan(TableName=table)["Count"]

    during, after = asyncio.run(run())
    assert during >= 1
    assert after == during - 1
    # The connection was recorded for the authenticated user, not anonymously.


def test_connections_api_answers_gone_for_a_closed_socket(local_cloud: LocalCloud) -> None:
    from driveway_hub.websocket import send

    assert send(local_cloud.gateway.management_url, "no-such-connection", {"type": "x"}) is False  # type: ignore[union-attr]


def test_connections_api_delete_closes_the_socket(local_cloud: LocalCloud, driver: dict[str, str]) -> None:
    management = local_cloud.gateway.management_url  # type: ignore[union-attr]

    async def run() -> WSMsgType:
        async with ClientSession() as session, session.ws_connect(_ws_url(local_cloud, driver)) as ws:
            await ws.send_str('{"action": "ping"}')
            await ws.receive_str(timeout=10)
            connection_id = next(iter(local_cloud.gateway._sockets))  # type: ignore[union-attr]
            async with session.delete(f"{management}/@connections/{connection_id}") as response:
                assert response.status == 204
            message = await ws.receive(timeout=10)
            return message.type

    assert asyncio.run(run()) in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)


def test_websocket_connect_without_a_token_is_refused(local_cloud: LocalCloud) -> None:
    async def run() -> int:
        async with ClientSession() as session:
            try:
                async with session.ws_connect(str(local_cloud.urls["websocket"])):
                    return 101
            except Exception as exc:  # noqa: BLE001 - aiohttp raises WSServerHandshakeError with the status
                return int(getattr(exc, "status", 0))

    assert asyncio.run(run()) == 401


@pytest.mark.parametrize("body", ["{not json", '{"email": ', "[]", ""])
def test_malformed_json_gets_400_in_the_envelope_never_500(api: str, body: str) -> None:
    response = requests.post(f"{api}/auth/register", data=body, headers={"Content-Type": "application/json"},
                             timeout=10)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] in ("malformed_json", "invalid_request")
    assert set(error) == {"code", "message", "details"}


def test_partner_search_needs_the_api_key(api: str) -> None:
    from local.cloud import LOCAL_API_KEY

    query = {"lat": 30.27, "lng": -97.74, "radius_m": 500}
    refused = requests.get(f"{api}/search/driveways", params=query, timeout=10)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    allowed = requests.get(f"{api}/search/driveways", params=query, headers={"x-api-key": LOCAL_API_KEY}, timeout=10)
    assert allowed.status_code == 200
