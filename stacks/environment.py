"""Per-environment settings, read from the CDK context (cdk.json ``environments.<env>``) and validated.

A typo or a missing value in cdk.json fails synthesis with a message naming the field, instead of
deploying a default nobody chose.
"""

from __future__ import annotations

from typing import Literal

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stacks import constants as c

# The retention periods CloudWatch Logs accepts (jsii exposes the enum by name, not by day count).
_RETENTION_DAYS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


class AlarmThresholds(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    api_5xx_rate_percent: float = Field(gt=0, le=100)
    api_p95_latency_ms: int = Field(gt=0)
    lambda_errors: int = Field(ge=1, description="errors per function per period")
    state_machine_failed_executions: int = Field(ge=1)
    period_minutes: int = Field(ge=1)
    evaluation_periods: int = Field(ge=1)


class EnvironmentConfig(BaseModel):
    """Everything that differs between dev, staging and prod."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["dev", "staging", "prod"]
    account: str | None = None
    region: str
    # Production data outlives its stack: tables, bucket, key, secrets and logs are retained.
    removal_policy: Literal["retain", "destroy"]
    log_retention_days: int
    lambda_memory_mb: int = Field(ge=128, le=10240)
    lambda_timeout_seconds: int = Field(ge=1, le=29, description="REST integrations time out at 29 s")
    api_throttle_rate: float = Field(gt=0)
    api_throttle_burst: int = Field(gt=0)
    websocket_throttle_rate: float = Field(gt=0)
    websocket_throttle_burst: int = Field(gt=0)
    cors_allow_origins: tuple[str, ...] = Field(min_length=1)
    # How long API Gateway reuses an authorizer answer for the same token (0 = ask every time).
    authorizer_cache_seconds: int = Field(ge=0, le=3600)
    # Execution input/output holds booking and payment details: logged in dev only.
    state_machine_log_execution_data: bool
    telemetry_stream_shards: int = Field(ge=1)
    # Concurrent batches per shard for the telemetry consumer (Lambda allows 1-10); a VIN's records
    # share a partition key and stay in order whatever the factor.
    telemetry_parallelization_factor: int = Field(ge=1, le=10)
    access_log_expiry_days: int = Field(ge=1)
    alarms: AlarmThresholds

    @field_validator("log_retention_days")
    @classmethod
    def _supported_retention(cls, days: int) -> int:
        if days not in _RETENTION_DAYS:
            raise ValueError(f"must be one of {sorted(_RETENTION_DAYS)}")
        return days

    @property
    def retain(self) -> bool:
        return self.removal_policy == "retain"

    @property
    def cdk_removal_policy(self) -> cdk.RemovalPolicy:
        return cdk.RemovalPolicy.RETAIN if self.retain else cdk.RemovalPolicy.DESTROY

    @property
    def log_retention(self) -> logs.RetentionDays:
        return _RETENTION_DAYS[self.log_retention_days]

    @property
    def cdk_environment(self) -> cdk.Environment:
        """Account/region for the stacks; without an account the deployer's credentials decide it."""
        return cdk.Environment(account=self.account, region=self.region)


def selected_environment(app: cdk.App) -> str:
    """The environment chosen with ``-c env=<name>`` (default dev)."""
    env = app.node.try_get_context(c.CONTEXT_ENV) or c.DEFAULT_ENVIRONMENT
    if env not in c.ENVIRONMENTS:
        raise ValueError(f"-c {c.CONTEXT_ENV}={env!r}: choose one of {', '.join(c.ENVIRONMENTS)}")
    return str(env)


def load_environment(app: cdk.App, env: str | None = None) -> EnvironmentConfig:
    """Validated settings of ``env`` (default: the one selected on the command line)."""
    env = env or selected_environment(app)
    environments = app.node.try_get_context(c.CONTEXT_ENVIRONMENTS) or {}
    if env not in environments:
        raise ValueError(f"no context {c.CONTEXT_ENVIRONMENTS}.{env} (cdk.json)")
    try:
        return EnvironmentConfig.model_validate({"name": env, **environments[env]})
    except ValidationError as exc:
        raise ValueError(f"invalid context {c.CONTEXT_ENVIRONMENTS}.{env} in cdk.json: {exc}") from exc
