"""The payments and payouts API over HTTP through the local gateway (route permissions enforced by the
real resolver), with the fake Stripe sending real signed webhooks to both Stripe endpoints.

Covers the routes list_payments, payouts_onboarding, get_payouts and stripe_connect_webhook.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import driveway_hub.payments.runtime as runtime
from driveway_hub.auth.permissions import Principal
from driveway_hub.config import get_settings
from local.cloud import LocalCloud
from local.fake_stripe import signature_header
from tests.integration.test_stripe_webhooks import TOTAL, PaymentsCloud, payments_cloud

pytestmark = pytest.mark.integration
# Routes these tests exercise end to end (tests/unit/test_route_table.py checks every route is covered).
COVERS = ("list_payments", "payouts_onboarding", "get_payouts", "stripe_connect_webhook")


def bearer(user_id: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer test:{user_id}:{role}"}


def fake_authorizer(event: dict[str, Any]) -> dict[str, Any] | None:
    """Stands in for the Cognito authorizer (tested by the identity suite): ``Bearer test:<user>:<role>``."""
    header = (event.get("headers") or {}).get("Authorization", "")
    parts = header.removeprefix("Bearer ").split(":")
    if len(parts) != 3 or parts[0] != "test":
        return None
    context: dict[str, Any] = Principal.for_roles(parts[1], [parts[2]]).to_authorizer_context()
    return {"principalId": parts[1], **context}


@pytest.fixture(scope="module")
def pc(local_cloud: LocalCloud) -> Iterator[PaymentsCloud]:
    assert local_cloud.gateway is not None
    previous = local_cloud.gateway.rest_authorizer
    local_cloud.gateway.rest_authorizer = fake_authorizer
    try:
        with payments_cloud(local_cloud) as cloud:
            yield cloud
    finally:
        local_cloud.gateway.rest_authorizer = previous


def get(pc: PaymentsCloud, path: str, headers: dict[str, str], **params: Any) -> requests.Response:
    return requests.get(f"{pc.api}{path}", headers=headers, params=params, timeout=10)


# ---- GET /v1/payments ------------------------------------------------------------------------------
def test_a_driver_lists_their_payments_and_refunds_newest_first(pc: PaymentsCloud) -> None:
    driver = f"driver-{uuid.uuid4().hex[:8]}"
    booking, pi = pc.booking(manual=False, driver_id=driver)
    pc.confirm(pi)
    pc.delivered()
    settled = pc.payments.settle_cancellation(pi.id, refund_cents=800, idempotency_key="api:refund")
    assert settled.refund is not None
    pc.delivered()

    response = get(pc, "/payments", bearer(driver, "driver"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(i["kind"], i["payment_id"]) for i in body["items"]] == [("refund", settled.refund.id), ("charge", pi.id)]
    charge = body["items"][1]
    assert charge["amount"] == {"amount": TOTAL, "currency": "usd"} and charge["status"] == "succeeded"
    assert charge["booking_id"] == booking.booking_id and charge["amount_refunded_cents"] == 800
    refund = body["items"][0]
    assert (refund["amount_cents"], refund["status"], refund["payment_intent_id"]) == (800, "succeeded", pi.id)
    assert body["next_cursor"] is None
    # Someone else's list does not show them.
    assert get(pc, "/payments", bearer("driver-other", "driver")).json()["items"] == []


def test_the_list_pages_with_an_opaque_cursor_only_its_owner_can_use(pc: PaymentsCloud) -> None:
    driver = f"driver-{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        _booking, pi = pc.booking(manual=True, driver_id=driver)
        pc.confirm(pi)
    pc.delivered()
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = get(pc, "/payments", bearer(driver, "driver"), **params).json()
        seen += [i["payment_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
        foreign = get(pc, "/payments", bearer("driver-thief", "driver"), cursor=cursor)
        assert foreign.status_code == 400 and foreign.json()["error"]["details"][0]["field"] == "cursor"
    assert len(seen) == len(set(seen)) == 3
    forged = base64.urlsafe_b64encode(json.dumps({"user_id": {"S": driver}}).encode()).decode()
    assert get(pc, "/payments", bearer(driver, "driver"), cursor=forged).status_code == 400
    assert get(pc, "/payments", bearer(driver, "driver"), limit=0).status_code == 400


def test_payments_and_payouts_need_their_permissions(pc: PaymentsCloud) -> None:
    assert get(pc, "/payments", {}).status_code == 401
    host_list = get(pc, "/payments", bearer("host-x", "host"))
    assert host_list.status_code == 403 and host_list.json()["error"]["code"] == "forbidden"
    assert get(pc, "/payouts", bearer("driver-x", "driver")).status_code == 403
    assert requests.post(f"{pc.api}/payouts/onboarding", headers=bearer("driver-x", "driver"),
                         timeout=10).status_code == 403


# ---- Connect onboarding and payouts ------------------------------------------------------------------
def test_a_host_onboards_and_the_connect_webhook_makes_them_payable(pc: PaymentsCloud) -> None:
    host = f"host-{uuid.uuid4().hex[:8]}"
    payouts = runtime.host_payouts(get_settings())
    before = get(pc, "/payouts", bearer(host, "host")).json()
    assert before["onboarding_required"] and not before["charges_enabled"] and before["account_id"] is None

    first = requests.post(f"{pc.api}/payouts/onboarding", headers=bearer(host, "host"), timeout=10)
    assert first.status_code == 200, first.text
    account_id, charges_enabled = payouts.host_payout_account(host)
    assert account_id and not charges_enabled
    pending = get(pc, "/payouts", bearer(host, "host")).json()
    assert pending["account_id"] == account_id and "external_account" in pending["requirements"]

    # The host completes Stripe's hosted onboarding; Stripe sends account.updated to the Connect endpoint.
    visit = requests.get(first.json()["url"], allow_redirects=False, timeout=10)
    assert visit.status_code == 302 and visit.headers["Location"] == get_settings().payouts_return_url
    pc.delivered()
    assert payouts.host_payout_account(host) == (account_id, True)
    connect_deliveries = [d for d in pc.fake.deliveries if d.endpoint == "connect"]
    assert connect_deliveries and all(d.succeeded for d in connect_deliveries)

    # A used link is dead; asking again mints a new one for the same account.
    again = requests.post(f"{pc.api}/payouts/onboarding", headers=bearer(host, "host"), timeout=10).json()
    assert again["url"] != first.json()["url"]
    assert payouts.host_payout_account(host)[0] == account_id

    # Money for this host, paid out by Stripe, shows in their overview.
    _booking, pi = pc.booking(manual=False, host_id=host, host_account=account_id)
    pc.confirm(pi)
    pc.fake.run_payouts(account_id)
    overview = get(pc, "/payouts", bearer(host, "host")).json()
    assert overview["charges_enabled"] and overview["payouts_enabled"] and overview["requirements"] == []
    assert overview["payouts"] and overview["payouts"][0]["amount_cents"] > 0 and not overview["stale"]


def test_the_connect_endpoint_takes_only_connect_signatures_and_ignores_duplicates(pc: PaymentsCloud) -> None:
    event = next(e for e in reversed(pc.fake.events("account.updated")))
    payload = json.dumps(event, indent=2)
    now = int(time.time())
    url = f"{pc.api}/webhooks/stripe/connect"
    wrong = requests.post(url, data=payload, timeout=10, headers={
        "Stripe-Signature": signature_header(payload, pc.secrets["webhook_secret"], now)})
    assert wrong.status_code == 400
    replay = requests.post(url, data=payload, timeout=10, headers={
        "stripe-signature": signature_header(payload, pc.secrets["connect_webhook_secret"], now)})
    assert replay.status_code == 200 and replay.json() == {"received": True, "duplicate": True}

