"""What verified Stripe events do, with fakes for Stripe, the stores, the workflow and the notifier.

The booking engine's real ``observe`` (fact + exactly-once token hand-over) runs on a fake repository,
so "resumed exactly once" is the real protocol, not a stub's promise.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import pytest

from driveway_hub.domain.bookings import BookingContext, resume_if_observed
from driveway_hub.payments.events import handle_connect_event, handle_event, next_check
from driveway_hub.payments.ports import AccountStatus, DisputeInfo, HostAccount, RefundInfo
from tests.unit.test_payments_fakes import T0, FakeHostAccounts, World, booking, intent


def event(event_type: str, obj: dict[str, Any], event_id: str = "evt_1", **extra: Any) -> dict[str, Any]:
    return {"id": event_id, "type": event_type, "data": {"object": obj}, **extra}


def pi_event(event_type: str, pi_id: str = "pi_1", event_id: str = "evt_1", **stale: Any) -> dict[str, Any]:
    # The object in the event may be stale; handling must not trust it (only its id).
    return event(event_type, {"id": pi_id, "object": "payment_intent", **stale}, event_id)


@pytest.fixture
def world() -> World:
    return World()


def waiting(world: World, status: str = "PENDING_PAYMENT", **kwargs: Any) -> None:
    item = world.bookings.add(booking(status, **kwargs))
    if status == "PENDING_PAYMENT":
        world.bookings.park_token(item.booking_id, "payment", "token-1", T0)


# ---- the payment step ----------------------------------------------------------------------------
def test_an_authorized_payment_resumes_the_waiting_step_once_with_its_id_and_status(world: World) -> None:
    waiting(world)
    world.stripe.put(intent("requires_capture", capture_before=1_800_000_000))
    handle_event(world.effects, pi_event("payment_intent.amount_capturable_updated"), T0)
    handle_event(world.effects, event("charge.succeeded", {"id": "ch_1", "payment_intent": "pi_1"}, "evt_2"), T0)
    handle_event(world.effects, pi_event("payment_intent.amount_capturable_updated", event_id="evt_3"), T0)
    assert world.workflow.resumed == [("token-1", {"payment_intent_id": "pi_1", "payment_status": "requires_capture"})]
    record = world.records.rows[("bk1", "pi_1")]
    assert (record.status, record.kind, record.user_id, record.host_id) == ("requires_capture", "charge",
                                                                           "driver1", "host1")
    # One live event per change of status, to both sides.
    updates = [e for _, e in world.notifier.sent if e["type"] == "payment.updated"]
    assert [u["status"] for u in updates] == ["requires_capture"]
    assert world.notifier.sent[0][0] == ("driver1", "host1")


def test_events_in_reverse_order_converge_on_the_current_state(world: World) -> None:
    waiting(world)
    world.stripe.put(intent("succeeded"))
    # The newest event first, then an older one whose object still says "requires_capture".
    handle_event(world.effects, pi_event("payment_intent.succeeded", event_id="evt_2"), T0)
    handle_event(world.effects, pi_event("payment_intent.amount_capturable_updated", status="requires_capture"), T0)
    assert world.records.rows[("bk1", "pi_1")].status == "succeeded"
    assert world.workflow.resumed == [("token-1", {"payment_intent_id": "pi_1", "payment_status": "succeeded"})]


def test_a_late_failure_event_cannot_fail_a_payment_that_was_authorized(world: World) -> None:
    waiting(world)
    world.stripe.put(intent("requires_capture"))
    handle_event(world.effects, pi_event("payment_intent.payment_failed", status="requires_payment_method"), T0)
    assert world.workflow.failed == []
    assert len(world.workflow.resumed) == 1


def test_a_webhook_before_the_token_is_parked_is_picked_up_by_the_step(world: World) -> None:
    world.bookings.add(booking())
    world.stripe.put(intent("requires_capture"))
    handle_event(world.effects, pi_event("payment_intent.amount_capturable_updated"), T0)
    assert world.workflow.resumed == []  # nobody waiting yet: the fact is kept
    world.bookings.park_token("bk1", "payment", "token-late", T0)
    ctx = BookingContext(bookings=cast(Any, world.bookings), notifier=world.notifier, workflow=world.workflow)
    assert resume_if_observed(ctx, "bk1", "payment")
    assert world.workflow.resumed == [("token-late", {"payment_intent_id": "pi_1",
                                                      "payment_status": "requires_capture"})]


def test_a_decline_fails_the_step_with_payment_failed(world: World) -> None:
    waiting(world)
    world.stripe.put(intent("requires_payment_method", last_error_code="insufficient_funds"))
    handle_event(world.effects, pi_event("payment_intent.payment_failed"), T0)
    assert world.workflow.failed == [("token-1", "PaymentFailed", "insufficient_funds")]
    assert world.workflow.resumed == []
    assert "PaymentFailures" in world.counted


def test_a_payment_intent_cancelled_while_the_booking_waits_fails_the_step(world: World) -> None:
    waiting(world)
    world.stripe.put(intent("canceled", cancellation_reason="requested_by_customer"))
    handle_event(world.effects, pi_event("payment_intent.canceled"), T0)
    assert world.workflow.failed == [("token-1", "PaymentFailed", "payment canceled")]


def test_a_new_unconfirmed_payment_intent_is_only_recorded_and_watched(world: World) -> None:
    waiting(world)
    world.stripe.put(intent("requires_payment_method"))
    handle_event(world.effects, pi_event("payment_intent.created"), T0)
    assert world.workflow.resumed == world.workflow.failed == []
    assert world.records.rows[("bk1", "pi_1")].status == "requires_payment_method"
    assert world.records.watches["pi_1"].check_after > int(T0.timestamp())


# ---- after payment ------------------------------------------------------------------------------
def test_an_expired_hold_on_a_live_booking_flags_it_once_and_tells_both_sides(world: World) -> None:
    waiting(world, "CONFIRMED")
    world.stripe.put(intent("canceled", cancellation_reason="automatic"))
    handle_event(world.effects, event("charge.expired", {"id": "ch_1", "payment_intent": "pi_1"}), T0)
    handle_event(world.effects, pi_event("payment_intent.canceled", event_id="evt_2"), T0)
    details = world.bookings.items["bk1"].details
    problem = (details.as_dict() if hasattr(details, "as_dict") else details)["payment_problem"]
    assert problem["problem"] == "hold_expired" and problem["payment_intent_id"] == "pi_1"
    flagged = [e for _, e in world.notifier.sent if e.get("status") == "problem"]
    assert len(flagged) == 1
    assert world.counted.count("PaymentProblems") == 1


def test_a_cancelled_payment_of_a_cancelled_booking_is_just_recorded(world: World) -> None:
    waiting(world, "CANCELLED")
    world.stripe.put(intent("canceled", cancellation_reason="requested_by_customer"))
    outcome = handle_event(world.effects, pi_event("payment_intent.canceled"), T0)
    assert outcome == "recorded canceled"
    assert world.bookings.items["bk1"].details is None


def test_an_extension_payment_is_recorded_but_never_resumes_the_booking_payment_step(world: World) -> None:
    waiting(world)
    world.stripe.put(intent("succeeded", pi_id="pi_ext", kind="extension", amount=500))
    handle_event(world.effects, pi_event("payment_intent.succeeded", pi_id="pi_ext"), T0)
    assert world.records.rows[("bk1", "pi_ext")].kind == "extension"
    assert world.workflow.resumed == []


@pytest.mark.parametrize("metadata", [{}, {"booking_id": "bk_unknown"}])
def test_payments_that_are_not_ours_are_ignored(world: World, metadata: dict[str, str]) -> None:
    world.stripe.put(replace(intent("succeeded"), metadata=metadata))
    assert handle_event(world.effects, pi_event("payment_intent.succeeded"), T0).startswith("ignored")
    assert world.records.rows == {}


def test_unknown_event_types_are_acknowledged_and_ignored(world: World) -> None:
    assert handle_event(world.effects, event("customer.created", {"id": "cus_1"}), T0) == "ignored: customer.created"


# ---- refunds and disputes -----------------------------------------------------------------------
def test_refund_events_update_the_refund_record_forward_only(world: World) -> None:
    waiting(world, "CANCELLED")
    world.stripe.put(intent("succeeded"))
    world.stripe.refunds["re_1"] = RefundInfo("re_1", "pi_1", 800, "usd", "failed", "expired_or_canceled_card")
    handle_event(world.effects, event("refund.failed", {"id": "re_1"}), T0)
    # A stale "succeeded" (an older retrieval racing) cannot undo the failure.
    world.stripe.refunds["re_1"] = replace(world.stripe.refunds["re_1"], status="succeeded")
    handle_event(world.effects, event("refund.updated", {"id": "re_1"}, "evt_2"), T0)
    row = world.records.rows[("bk1", "re_1")]
    assert (row.kind, row.status, row.amount_cents, row.payment_intent_id) == ("refund", "failed", 800, "pi_1")
    assert world.counted == ["RefundFailures"]


def test_charge_refunded_syncs_the_payment_and_each_of_its_refunds(world: World) -> None:
    waiting(world, "CANCELLED")
    world.stripe.put(intent("succeeded", amount_refunded=800))
    world.stripe.refunds["re_1"] = RefundInfo("re_1", "pi_1", 800, "usd", "succeeded", metadata={"booking_id": "bk1"})
    handle_event(world.effects, event("charge.refunded", {"id": "ch_1", "payment_intent": "pi_1"}), T0)
    assert world.records.rows[("bk1", "pi_1")].amount_refunded_cents == 800
    assert world.records.rows[("bk1", "re_1")].status == "succeeded"


def test_a_dispute_is_recorded_for_operations_and_counted(world: World) -> None:
    waiting(world, "COMPLETED")
    world.stripe.put(intent("succeeded"))
    world.stripe.disputes["dp_1"] = DisputeInfo("dp_1", "pi_1", "ch_1", 2300, "usd", "needs_response", "fraudulent")
    handle_event(world.effects, event("charge.dispute.created", {"id": "dp_1"}), T0)
    row = world.records.rows[("bk1", "dp_1")]
    assert (row.kind, row.user_id) == ("dispute", None)  # not in the driver's list
    assert world.counted == ["PaymentDisputes"]


# ---- Connect ------------------------------------------------------------------------------------
def test_account_updated_refreshes_the_hosts_payout_status_from_stripe(world: World) -> None:
    accounts = FakeHostAccounts({"host1": HostAccount("host1", "acct_h")})
    world.stripe.accounts["acct_h"] = AccountStatus("acct_h", True, True, True, (), "host1")
    stale = event("account.updated", {"id": "acct_h", "charges_enabled": False}, account="acct_h")
    handle_connect_event(cast(Any, world.stripe), accounts, stale, T0)
    assert accounts.items["host1"].charges_enabled and accounts.items["host1"].payouts_enabled


def test_connect_events_for_accounts_we_did_not_create_are_ignored(world: World) -> None:
    accounts = FakeHostAccounts()
    world.stripe.accounts["acct_x"] = AccountStatus("acct_x", True, True, True)
    outcome = handle_connect_event(cast(Any, world.stripe), accounts, event("account.updated", {"id": "acct_x"}), T0)
    assert outcome.startswith("ignored") and accounts.items == {}
    assert handle_connect_event(cast(Any, world.stripe), accounts, event("payout.paid", {"id": "po_1"}), T0) == \
        "ignored: payout.paid"


# ---- when the reconciler looks again -------------------------------------------------------------
def test_a_hold_is_checked_a_day_before_it_lapses_and_at_least_hourly() -> None:
    now = int(T0.timestamp())
    assert next_check(intent("requires_capture", capture_before=now + 7 * 86400), now) == now + 3600
    assert next_check(intent("requires_capture", capture_before=now + 86400 + 60), now) == now + 60
    assert next_check(intent("requires_capture", capture_before=now + 86400 + 7200), now) == now + 3600
    assert next_check(intent("requires_capture", capture_before=now + 3600), now) == now
    assert next_check(intent("succeeded"), now) == now
    assert next_check(intent("requires_payment_method"), now) == now + 15 * 60
