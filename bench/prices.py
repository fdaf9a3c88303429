"""Public list prices the cost model multiplies by: AWS us-east-1 on-demand and Tesla Fleet API.

PRICES_AS_OF = 2026-11-24. These are transcribed, not fetched: the bench has no network. Re-check them on
the pages below before quoting a figure to anyone; the free tiers are deliberately ignored (a steady
10,000 bookings/month business should not plan on them).

Sources (us-east-1, US East (N. Virginia), on-demand, no Savings Plans, first volume tier):
- Lambda:            https://aws.amazon.com/lambda/pricing/        x86_64 duration per GB-s, requests per 1M
- Step Functions:    https://aws.amazon.com/step-functions/pricing/  Standard workflows, per state transition
- DynamoDB:          https://aws.amazon.com/dynamodb/pricing/on-demand/  on-demand RRU/WRU, after the
                     2024-11-01 price cut (50 % lower than before)
- API Gateway:       https://aws.amazon.com/api-gateway/pricing/   REST per 1M (first 333M), WebSocket
                     messages per 1M (first 1B, 32 KB increments) and connection minutes per 1M
- KMS:               https://aws.amazon.com/kms/pricing/           customer managed key-month, requests per 10k
- Secrets Manager:   https://aws.amazon.com/secrets-manager/pricing/  secret-month, API calls per 10k
- CloudWatch:        https://aws.amazon.com/cloudwatch/pricing/    standard-resolution alarm-month (per metric)
- X-Ray:             https://aws.amazon.com/xray/pricing/          traces recorded per 1M (functions use
                     tracing=ACTIVE: stacks/route_function.py)
- Kinesis Streams:   https://aws.amazon.com/kinesis/data-streams/pricing/  provisioned shard-hour (the
                     telemetry stream of stacks/data_stack.py)
- Tesla Fleet API:   /work/shared/research/tesla.md ("Pricing (billed per response below 500)"):
                     1,000 commands per $1, 500 data requests per $1, 50 wakes per $1, 150,000 streamed
                     signals per $1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PRICES_AS_OF = "2026-11-24"
REGION = "us-east-1"


@dataclass(frozen=True)
class AwsPrices:
    """US dollars per unit (the unit is in the field name)."""

    lambda_gb_second_x86: float = 0.0000166667
    lambda_request: float = 0.20 / 1_000_000
    sfn_standard_transition: float = 0.025 / 1_000
    dynamodb_rru: float = 0.125 / 1_000_000
    dynamodb_wru: float = 0.625 / 1_000_000
    apigw_rest_request: float = 3.50 / 1_000_000
    apigw_ws_message: float = 1.00 / 1_000_000
    apigw_ws_connection_minute: float = 0.25 / 1_000_000
    kms_request: float = 0.03 / 10_000
    kms_key_month: float = 1.00
    secrets_secret_month: float = 0.40
    secrets_api_call: float = 0.05 / 10_000
    cloudwatch_alarm_month: float = 0.10
    xray_trace: float = 5.00 / 1_000_000
    kinesis_shard_hour: float = 0.015


@dataclass(frozen=True)
class TeslaPrices:
    """Tesla Fleet API pay-per-use, US dollars per billed response (tesla.md)."""

    command: float = 1.0 / 1_000
    data_request: float = 1.0 / 500
    wake: float = 1.0 / 50
    streamed_signal: float = 1.0 / 150_000


AWS = AwsPrices()
TESLA = TeslaPrices()
HOURS_PER_MONTH = 730  # AWS's own convention for monthly estimates


def as_dict() -> dict[str, Any]:
    """The table as data (for results.json)."""
    return {"as_of": PRICES_AS_OF, "region": REGION, "aws": asdict(AWS), "tesla": asdict(TESLA)}
