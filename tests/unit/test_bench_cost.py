"""The cost model's arithmetic on fixed quantities (bench/cost.py): no local cloud, no timings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench import cost
from bench.prices import AWS, HOURS_PER_MONTH, AwsPrices, TeslaPrices

UNIT = AwsPrices(**{name: 1.0 for name in AwsPrices.__dataclass_fields__})


def quantities() -> cost.BookingQuantities:
    return cost.BookingQuantities(
        basis="measured",
        lambdas=[cost.LambdaUse("a", 2, 0.5, 1024), cost.LambdaUse("b", 3, 2.0, 512)],
        sfn_transitions=16, dynamodb_rru=10.5, dynamodb_wru=20, rest_requests=7, ws_messages=5,
        ws_connection_minutes=30, kms_requests=2, secrets_calls=1, xray_traces=5,
        basis_by_part={"WebSocket connection": "assumed"},
    )


def test_lambda_duration_is_billed_per_invocation_rounded_up_to_the_millisecond() -> None:
    assert cost.billed_seconds([0.0101, 0.002, 0.0]) == pytest.approx(0.011 + 0.002)
    assert cost.LambdaUse("f", 1, 2.0, 512).gb_seconds == pytest.approx(1.0)


def test_each_part_is_quantity_times_unit_price_with_its_basis() -> None:
    lines = {line.part: line for line in cost.booking_cost(quantities(), UNIT)}
    assert lines["Lambda requests"].quantity == 5
    assert lines["Lambda duration"].quantity == pytest.approx(0.5 * 1 + 2.0 * 0.5)
    assert lines["Step Functions"].usd == 16
    assert lines["DynamoDB reads"].usd == 10.5 and lines["DynamoDB writes"].usd == 20
    assert lines["WebSocket connection"].basis == "assumed" and lines["KMS requests"].basis == "measured"
    assert cost.total(lines.values()) == pytest.approx(5 + 1.5 + 16 + 10.5 + 20 + 7 + 5 + 30 + 2 + 1 + 5)


def test_real_prices_give_the_expected_dollars() -> None:
    lines = {line.part: line for line in cost.booking_cost(quantities(), AWS)}
    assert lines["Step Functions"].usd == pytest.approx(16 * 0.000025)
    assert lines["DynamoDB writes"].usd == pytest.approx(20 * 0.625e-6)
    assert lines["API Gateway REST"].usd == pytest.approx(7 * 3.5e-6)
    assert lines["Lambda duration"].usd == pytest.approx(1.5 * 0.0000166667)


def test_fixed_monthly_costs_and_the_month_for_n_bookings() -> None:
    fixed = cost.fixed_monthly(cost.FixedResources(kms_keys=2, secrets=3, alarms=10, kinesis_shards=1))
    assert [round(line.usd, 4) for line in fixed] == [2.0, 1.2, 1.0, round(HOURS_PER_MONTH * 0.015, 4)]
    month = cost.monthly(0.002, fixed, bookings=10_000)
    assert month.variable_usd == pytest.approx(20.0)
    assert month.total_usd == pytest.approx(20.0 + 4.2 + 10.95)
    assert month.per_booking_usd == pytest.approx(month.total_usd / 10_000)
    assert math.isnan(cost.monthly(1.0, fixed, bookings=0).per_booking_usd)


def test_init_upper_bound_is_shown_but_not_added_to_the_total() -> None:
    line = cost.init_upper_bound([cost.LambdaUse("a", 4, 1.0, 1024)], {"a": 0.5}, UNIT)
    assert line.quantity == pytest.approx(2.0) and not line.in_total
    assert cost.total([line]) == 0


def test_tesla_cost_follows_the_published_rates() -> None:
    lines = cost.tesla_cost({"wakes": 1, "commands": 2, "data_requests": 3, "signals_streamed": 150_000},
                            TeslaPrices())
    assert [round(line.usd, 6) for line in lines] == [0.02, 0.002, 0.006, 1.0]


def test_the_estimate_walks_the_asl_happy_path(tmp_path: Path) -> None:
    asl = {"StartAt": "Pay", "States": {
        "Pay": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": "${Fn_wf_park_token}"}, "Next": "Approve?"},
        "Approve?": {"Type": "Choice", "Choices": [{"Next": "Wait"}], "Default": "Confirm"},
        "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Confirm"},
        "Confirm": {"Type": "Task", "Resource": "${Fn_wf_set_status}", "Next": "Done"},
        "Done": {"Type": "Succeed"},
    }}
    assert cost.happy_path(asl) == [("Pay", "wf_park_token"), ("Approve?", None), ("Confirm", "wf_set_status"),
                                    ("Done", None)]
    path = tmp_path / "machine.asl.json"
    path.write_text(json.dumps(asl))
    q = cost.estimate({"wf_set_status": 2.0, "create_booking": 1.0}, {"wf_set_status": 4.0}, asl_path=path)
    assert q.sfn_transitions == 4 and q.basis == "estimated" and "4 states" in q.description
    assert q.dynamodb_rru == pytest.approx(2.0 + 1.0) and q.dynamodb_wru == pytest.approx(4.0)
    invocations = {use.name: use.invocations for use in q.lambdas}
    assert invocations["wf_park_token"] == 1 and invocations["stripe_webhook"] == 6


def test_the_repository_asl_happy_path_is_sixteen_states() -> None:
    assert len(cost.happy_path(json.loads(cost.ASL.read_text()))) == 16
