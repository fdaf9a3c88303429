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
    # Business metrics (driveway_hub.business_metrics), counts per period.
    payment_failures: int = Field(ge=1, description="PaymentFailed per period (declined cards included)")
    tesla_api_unavailable: int = Field(ge=1, description="Tesla 5xx/unreachable answers per period")
    webhook_signature_failures: int = Field(ge=1, description="refused Stripe/relay signatures per period")
    period_minutes: int = Field(ge=1)
    evaluation_periods: int = Field(ge=1)


class WafSettings(BaseModel):
    """The REST API's web ACL (stacks/waf.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Requests per client IP in any 5-minute window before WAF answers 429 (webhooks exempt).
    rate_limit_per_5min: int = Field(ge=100, le=2_000_000_000)


class ApiDomain(BaseModel):
    """An optional custom domain for the REST API (needs an ACM certificate in the stack's region)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    domain_name: str = Field(max_length=253, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
    certificate_arn: str = Field(pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$")


class TeslaSettings(BaseModel):
    """Tesla Fleet API settings the Tesla functions get as TESLA_* variables (driveway_hub.config).

    Secrets (client id/secret, relay HMAC) are in Secrets Manager, never here; every value here is public
    or an address. Unset values keep the code's defaults (Fleet API NA region, real Tesla auth) or, for
    the redirect URI and the partner domain, leave linking unconfigured (docs/runbook.md).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_base: str | None = Field(default=None, pattern=r"^https://")
    auth_base: str | None = Field(default=None, pattern=r"^https://")
    # tesla-http-proxy for signed vehicle commands (an ops component); None sends them to the Fleet API.
    command_base: str | None = Field(default=None, pattern=r"^https://")
    # Default: the API's custom domain (the public key must be served at the root of this domain).
    partner_domain: str | None = None
    # Default: https://<api custom domain>/v1/tesla/callback. Must match the Tesla developer app.
    redirect_uri: str | None = Field(default=None, pattern=r"^https://")
    # The app's EC P-256 public key (PEM), served at /.well-known/appspecific/com.tesla.3p.public-key.pem.
    public_key_pem: str | None = Field(default=None, pattern=r"^-----BEGIN PUBLIC KEY-----")


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
    waf: WafSettings
    # Optional: without a custom domain the API is reached at its execute-api URL only.
    api_domain: ApiDomain | None = None
    tesla: TeslaSettings = TeslaSettings()

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
