"""Construct ids, physical resource names and repository paths: the one place the stacks take them from.

Physical names follow the ``driveway-hub-<stage>-<thing>`` convention that ``driveway_hub.routes`` and
``driveway_hub.data.tables`` already use for functions and tables, so a name seen in the console, in
the local cloud or in a runbook is the same name. S3 buckets are the exception: their names are
global, so CloudFormation generates them and functions receive them through the environment.
"""

from __future__ import annotations

from pathlib import Path

from driveway_hub.routes import Route

APP_NAME = "driveway-hub"
# CamelCase prefix of stack construct ids (the names `cdk deploy <stack>` takes).
APP_ID = "DrivewayHub"
ENVIRONMENTS = ("dev", "staging", "prod")
DEFAULT_ENVIRONMENT = "dev"

# --- Repository layout -------------------------------------------------------------------------
REPO_ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = REPO_ROOT / "cdk.json"
FUNCTIONS_PACKAGE = "functions"
SHARED_LAYER_DIR = REPO_ROOT / "layers" / "shared"
DEPENDENCY_LAYER_DIR = REPO_ROOT / ".build" / "dependency-layer"
STATE_MACHINES_DIR = REPO_ROOT / "statemachines"
ASL_SUFFIX = ".asl.json"

# --- cdk.json context keys ---------------------------------------------------------------------
CONTEXT_ENV = "env"
CONTEXT_ENVIRONMENTS = "environments"

# --- Stack construct ids (suffixes of f"{APP_ID}-{env}-") --------------------------------------
DATA_STACK = "Data"
API_STACK = "Api"
WORKFLOW_STACK = "Workflow"
MONITORING_STACK = "Monitoring"

# --- Construct ids inside the stacks -----------------------------------------------------------
PHOTO_BUCKET = "PhotoBucket"
ACCESS_LOG_BUCKET = "AccessLogBucket"
TESLA_KEY = "TeslaTokenKey"
# Secrets Manager entries (name suffix -> construct id).
SECRETS = {"stripe": "StripeSecret", "tesla": "TeslaSecret", "telemetry": "TelemetrySecret"}
TELEMETRY_STREAM = "TelemetryStream"
SHARED_LAYER = "SharedLayer"
DEPENDENCY_LAYER = "DependencyLayer"
FUNCTIONS = "Functions"
# Route functions live in nested stacks of the API stack, one per package of functions/ (the
# ``functions.<package>.<module>`` of the route table): each capability's functions, roles, policies,
# log groups and invoke permissions stay together and the API stack keeps only the API's shape.
# Small packages share a group (key: package, value: the group it joins).
FUNCTION_GROUP_ALIASES = {"ws": "api"}
REST_API = "RestApi"
REST_ACCESS_LOGS = "RestApiAccessLogs"
REST_API_AUTHORIZER = "Authorizer"
REST_REQUEST_VALIDATOR = "RequestValidator"
WEBSOCKET_API = "WebSocketApi"
WEBSOCKET_STAGE = "WebSocketStage"
WEBSOCKET_ACCESS_LOGS = "WebSocketApiAccessLogs"
WEBSOCKET_API_AUTHORIZER = "WebSocketAuthorizer"
# The REST API's firewall (stacks/waf.py) and optional custom domain (stacks/api_domain.py).
FIREWALL = "Firewall"
WEB_ACL = "WebAcl"
WEB_ACL_ASSOCIATION = "StageAssociation"
WAF_LOGS = "Logs"
WAF_LOGGING = "Logging"
API_DOMAIN = "ApiDomain"
API_DOMAIN_TARGET_OUTPUT = "ApiDomainTarget"
IDENTITY = "Identity"
USER_POOL = "UserPool"
USER_POOL_CLIENT = "AppClient"
ALARM_TOPIC = "AlarmTopic"
ALARM_TOPIC_KEY = "AlarmTopicKey"
DASHBOARD = "Dashboard"

# Functions that are not doors of the route table: the two authorizers and the Cognito trigger. They
# are declared like routes (same naming, driveway-hub-<stage>-<name>; local/cognito.py names the trigger
# the same way) and created by the API stack: the authorizers when a route needs them.
REST_AUTHORIZER_FUNCTION = Route("authorizer", "task", "functions.auth.authorizer", auth=False, tables=("users",))
WEBSOCKET_AUTHORIZER_FUNCTION = Route(
    "ws_authorizer", "task", "functions.auth.ws_authorizer", auth=False, tables=("users",)
)
PRE_TOKEN_GENERATION_FUNCTION = Route(
    "pre-token-generation", "task", "functions.auth.pre_token_generation", auth=False, tables=("users",)
)
# Task routes with a trigger of their own (besides Step Functions): the payment reconciler runs on an
# EventBridge schedule, the Kinesis consumer reads the telemetry stream (docs/payments.md, docs/tesla.md).
RECONCILER_ROUTE = "payments_reconciler"
RECONCILER_SCHEDULE_MINUTES = 15
TELEMETRY_CONSUMER_ROUTE = "tesla_telemetry_kinesis"
# The route that serves the Tesla partner public key (TESLA_PUBLIC_KEY_PEM) at /.well-known/...
TESLA_PUBLIC_KEY_ROUTE = "tesla_public_key"
# The OAuth redirect route: its path makes the default TESLA_REDIRECT_URI on a custom domain.
TESLA_CALLBACK_ROUTE = "tesla_callback"
DEAD_LETTER_QUEUE = "DeadLetterQueue"
RECONCILER_SCHEDULE = "Schedule"
# The state machine whose ARN functions get as STATE_MACHINE_ARN (statemachines/<name>.asl.json).
BOOKING_LIFECYCLE = "booking_lifecycle"


def stack_id(env: str, stack: str) -> str:
    """Construct id and CloudFormation stack name, e.g. ``DrivewayHub-prod-Api``."""
    return f"{APP_ID}-{env}-{stack}"


def resource_name(env: str, name: str) -> str:
    """Physical name of a regional resource, e.g. ``driveway-hub-prod-telemetry``."""
    return f"{APP_NAME}-{env}-{name.replace('_', '-')}"


def secret_name(env: str, name: str) -> str:
    """Secrets Manager name, e.g. ``driveway-hub/prod/stripe`` (slashes group them in the console)."""
    return f"{APP_NAME}/{env}/{name}"


def photo_bucket_name(env: str, account: str, region: str) -> str:
    """Photo bucket name, fixed per account and region so that the API stack can build its ARN and
    name without importing them from the data stack (which would hide them from cdk-nag's ids)."""
    return f"{APP_NAME}-{env}-photos-{account}-{region}"


def log_group_name(kind: str, name: str) -> str:
    """CloudWatch Logs group for a resource, e.g. ``/aws/lambda/driveway-hub-prod-get_health``."""
    return f"/aws/{kind}/{name}"


def pascal(name: str) -> str:
    """``booking_lifecycle`` -> ``BookingLifecycle``: construct ids derived from declared names."""
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))


def table_id(logical_id: str) -> str:
    return f"{pascal(logical_id)}Table"


def function_id(route_name: str) -> str:
    return f"{pascal(route_name)}Function"


def function_group(route: Route) -> str:
    """The nested stack group of a route: ``functions.bookings.cancel_booking`` -> ``bookings``."""
    parts = route.module.split(".")
    if len(parts) < 3 or parts[0] != FUNCTIONS_PACKAGE:
        raise ValueError(f"route {route.name}: module {route.module!r} is not {FUNCTIONS_PACKAGE}.<package>.<module>")
    return FUNCTION_GROUP_ALIASES.get(parts[1], parts[1])


def function_group_id(group: str) -> str:
    """Construct id of a group's nested stack, e.g. ``BookingsFunctions``."""
    return f"{pascal(group)}{FUNCTIONS}"


def state_machine_id(name: str) -> str:
    return f"{pascal(name)}StateMachine"

# Partner API keys (usage plan on the routes flagged api_key).
PARTNER_USAGE_PLAN = "PartnerUsagePlan"
APP_API_KEY = "AppApiKey"
