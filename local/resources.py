"""Create the stage's AWS resources in the local cloud, from the same declarations CDK deploys.

``create_resources(endpoint_url)`` builds, in a fresh moto:

* every table of ``driveway_hub.data.tables.TABLES``, named ``spec.default_name(stage)``: on-demand,
  GSIs projecting ALL, TTL on ``spec.ttl_attribute``, a stream where ``spec.stream``;
* one Lambda function per entry of ``driveway_hub.routes.ROUTES`` (``route.function_name(stage)``,
  handler ``route.handler``, a placeholder zip: the code that runs is our in-process handler, see
  ``local.moto_backend``), with an IAM role;
* the KMS key for Tesla tokens (alias ``alias/driveway-hub-<stage>-tesla-tokens``), the Secrets Manager
  secrets ``driveway-hub/<stage>/{stripe,tesla,telemetry}`` with made-up test values, the photo bucket
  and the telemetry Kinesis stream;
* one Standard state machine per ``statemachines/<stem>.asl.json``, named
  ``driveway-hub-<stage>-<stem with - for _>``.

Definition substitutions (CDK's ``definition_substitutions`` uses the same keys, so one ASL file serves
both): in an ASL file, ``${Fn_<route name>}`` becomes the ARN of that route's function (e.g.
``${Fn_send_navigation}``) and ``${Table_<table logical id>}`` the name of that table (e.g.
``${Table_bookings}``). A placeholder with no value is an error here, not a broken state machine later.

The returned ``LocalResources`` carries what was created and the environment the handlers need
(``env_overrides`` for ``driveway_hub.config.env_for``; ``handler_env()`` for the whole of it).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from driveway_hub.config import env_for
from driveway_hub.data.tables import TABLES, TableSpec
from driveway_hub.routes import ROUTES

STATEMACHINES_DIR = Path(__file__).resolve().parent.parent / "statemachines"
ASL_SUFFIX = ".asl.json"
BOOKING_LIFECYCLE = "booking_lifecycle"
"""The stem of the booking state machine's file; its ARN is the handlers' STATE_MACHINE_ARN."""

LAMBDA_RUNTIME = "python3.12"
_DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]*)\}")

# Fake, obviously-test values: the local fake Stripe and Tesla simulator read the same secrets.
STRIPE_SECRET = {
    "secret_key": "sk_test_local",
    "publishable_key": "pk_test_local",
    "webhook_secret": "whsec_local_platform",
    "connect_webhook_secret": "whsec_local_connect",
}
TESLA_SECRET = {"client_id": "local-tesla-client-id", "client_secret": "local-tesla-client-secret"}
TELEMETRY_SECRET = {"hmac_secret": "local-telemetry-hmac-secret"}


class UnresolvedSubstitutionError(ValueError):
    """An ASL definition uses ``${Name}`` placeholders that have no value."""


@dataclass(frozen=True)
class LocalResources:
    """What ``create_resources`` made."""

    endpoint_url: str
    stage: str
    region: str
    table_names: Mapping[str, str]
    """Table logical id -> table name."""
    function_arns: Mapping[str, str]
    """Route name -> function ARN."""
    lambda_role_arn: str
    states_role_arn: str
    tesla_token_key_arn: str
    tesla_token_key_alias: str
    secret_ids: Mapping[str, str]
    """"stripe" / "tesla" / "telemetry" -> secret name."""
    photo_bucket: str
    telemetry_stream_name: str
    telemetry_stream_arn: str
    state_machine_arns: Mapping[str, str]
    """ASL file stem (e.g. "booking_lifecycle") -> state machine ARN."""

    def substitutions(self) -> dict[str, str]:
        """The ASL definition substitutions for this stage's functions and tables."""
        return definition_substitutions(self.function_arns, self.table_names)

    @property
    def env_overrides(self) -> dict[str, str]:
        """Resource ids for ``env_for(stage, **overrides)`` (table names are already its defaults)."""
        env = {
            "TESLA_TOKEN_KEY_ID": self.tesla_token_key_arn,
            "PHOTO_BUCKET": self.photo_bucket,
            "STRIPE_SECRET_ID": self.secret_ids["stripe"],
            "TESLA_SECRET_ID": self.secret_ids["tesla"],
            "TELEMETRY_SECRET_ID": self.secret_ids["telemetry"],
        }
        if BOOKING_LIFECYCLE in self.state_machine_arns:
            env["STATE_MACHINE_ARN"] = self.state_machine_arns[BOOKING_LIFECYCLE]
        return env

    def handler_env(self) -> dict[str, str]:
        """The full environment of an in-process handler, with every AWS client pointed at moto."""
        return env_for(self.stage, self.region, AWS_ENDPOINT_URL=self.endpoint_url, **self.env_overrides)


def client(service: str, endpoint_url: str, region: str = "us-east-1") -> Any:
    """A boto3 client for the local cloud, with dummy credentials so real ones are never picked up."""
    return boto3.client(service, endpoint_url=endpoint_url, region_name=region, **_DUMMY_CREDENTIALS)


def create_resources(
    endpoint_url: str,
    stage: str = "local",
    region: str = "us-east-1",
    statemachines_dir: Path = STATEMACHINES_DIR,
) -> LocalResources:
    """Create the whole stage in a fresh moto (see the module docstring)."""
    iam = client("iam", endpoint_url, region)
    table_names = create_tables(client("dynamodb", endpoint_url, region), stage)
    lambda_role_arn = create_service_role(iam, f"driveway-hub-{stage}-lambda", "lambda.amazonaws.com")
    lambda_client = client("lambda", endpoint_url, region)
    function_arns = {
        route.name: create_function(lambda_client, route.function_name(stage), route.handler, lambda_role_arn)
        for route in ROUTES
    }
    key_arn, key_alias = create_tesla_token_key(client("kms", endpoint_url, region), stage)
    secret_ids = create_secrets(client("secretsmanager", endpoint_url, region), stage)
    photo_bucket = create_photo_bucket(client("s3", endpoint_url, region), stage, region)
    stream_name, stream_arn = create_telemetry_stream(client("kinesis", endpoint_url, region), stage)
    states_role_arn = create_service_role(iam, f"driveway-hub-{stage}-states", "states.amazonaws.com")
    state_machine_arns = create_state_machines(
        client("stepfunctions", endpoint_url, region),
        statemachines_dir,
        definition_substitutions(function_arns, table_names),
        states_role_arn,
        stage,
    )
    return LocalResources(
        endpoint_url=endpoint_url,
        stage=stage,
        region=region,
        table_names=table_names,
        function_arns=function_arns,
        lambda_role_arn=lambda_role_arn,
        states_role_arn=states_role_arn,
        tesla_token_key_arn=key_arn,
        tesla_token_key_alias=key_alias,
        secret_ids=secret_ids,
        photo_bucket=photo_bucket,
        telemetry_stream_name=stream_name,
        telemetry_stream_arn=stream_arn,
        state_machine_arns=state_machine_arns,
    )


# ------------------------------------------------------------------------------------------- tables


def table_definition(spec: TableSpec, stage: str) -> dict[str, Any]:
    """``CreateTable`` arguments for one table spec."""
    attributes: dict[str, str] = {}

    def key_schema(partition: Any, sort: Any) -> list[dict[str, str]]:
        schema = [{"AttributeName": partition.name, "KeyType": "HASH"}]
        attributes[partition.name] = partition.type
        if sort is not None:
            schema.append({"AttributeName": sort.name, "KeyType": "RANGE"})
            attributes[sort.name] = sort.type
        return schema

    definition: dict[str, Any] = {
        "TableName": spec.default_name(stage),
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": key_schema(spec.partition, spec.sort),
    }
    if spec.indexes:
        definition["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": key_schema(index.partition, index.sort),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in spec.indexes
        ]
    if spec.stream:
        definition["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    definition["AttributeDefinitions"] = [
        {"AttributeName": name, "AttributeType": kind} for name, kind in attributes.items()
    ]
    return definition


def create_tables(dynamodb: Any, stage: str) -> dict[str, str]:
    """Every table in TABLES; returns logical id -> table name."""
    names: dict[str, str] = {}
    for spec in TABLES:
        definition = table_definition(spec, stage)
        dynamodb.create_table(**definition)
        if spec.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=definition["TableName"],
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )
        names[spec.logical_id] = definition["TableName"]
    return names


# ---------------------------------------------------------------------------------- IAM and Lambda


def create_service_role(iam: Any, role_name: str, service_principal: str) -> str:
    """A role ``service_principal`` can assume (moto does not enforce policies); returns its ARN."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service_principal}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))
    arn: str = role["Role"]["Arn"]
    return arn


def _placeholder_zip() -> bytes:
    # moto needs a code package; what runs is the in-process handler that local.moto_backend resolves.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "Local cloud placeholder: the handler runs in-process.\n")
    return buffer.getvalue()


def create_function(
    lambda_client: Any,
    function_name: str,
    handler: str,
    role_arn: str,
    *,
    timeout_seconds: int = 30,
    memory_mb: int = 256,
) -> str:
    """Create a function with a placeholder package; returns its ARN."""
    function = lambda_client.create_function(
        FunctionName=function_name,
        Runtime=LAMBDA_RUNTIME,
        Role=role_arn,
        Handler=handler,
        Code={"ZipFile": _placeholder_zip()},
        Timeout=timeout_seconds,
        MemorySize=memory_mb,
    )
    arn: str = function["FunctionArn"]
    return arn


# ------------------------------------------------------------------------- KMS, secrets, S3, Kinesis


def create_tesla_token_key(kms: Any, stage: str) -> tuple[str, str]:
    """The symmetric key that encrypts Tesla OAuth tokens at rest; returns (key ARN, alias)."""
    key = kms.create_key(Description=f"driveway-hub {stage}: Tesla OAuth tokens", KeyUsage="ENCRYPT_DECRYPT")
    alias = f"alias/driveway-hub-{stage}-tesla-tokens"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyMetadata"]["KeyId"])
    arn: str = key["KeyMetadata"]["Arn"]
    return arn, alias


def create_secrets(secretsmanager: Any, stage: str) -> dict[str, str]:
    """The stage's secrets with fake values; returns "stripe"/"tesla"/"telemetry" -> secret name."""
    values = {"stripe": STRIPE_SECRET, "tesla": TESLA_SECRET, "telemetry": TELEMETRY_SECRET}
    names: dict[str, str] = {}
    for purpose, value in values.items():
        name = f"driveway-hub/{stage}/{purpose}"
        secretsmanager.create_secret(Name=name, SecretString=json.dumps(value))
        names[purpose] = name
    return names


def create_photo_bucket(s3: Any, stage: str, region: str) -> str:
    name = f"driveway-hub-{stage}-photos"
    if region == "us-east-1":  # S3 rejects an explicit us-east-1 location constraint
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    return name


def create_telemetry_stream(kinesis: Any, stage: str) -> tuple[str, str]:
    """The fleet-telemetry stream; returns (name, ARN)."""
    name = f"driveway-hub-{stage}-telemetry"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn: str = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    return name, arn


# ------------------------------------------------------------------------------------ state machines


def definition_substitutions(
    function_arns: Mapping[str, str], table_names: Mapping[str, str]
) -> dict[str, str]:
    """``Fn_<route name>`` -> function ARN and ``Table_<logical id>`` -> table name (module docstring)."""
    substitutions = {f"Fn_{route}": arn for route, arn in function_arns.items()}
    substitutions.update({f"Table_{logical_id}": name for logical_id, name in table_names.items()})
    return substitutions


def substitute(definition: str, substitutions: Mapping[str, str]) -> str:
    """Replace every ``${Name}`` in an ASL text; raise if any has no value."""
    missing = sorted({name for name in _PLACEHOLDER.findall(definition) if name not in substitutions})
    if missing:
        raise UnresolvedSubstitutionError(f"no value for {', '.join('${' + name + '}' for name in missing)}")
    return _PLACEHOLDER.sub(lambda match: substitutions[match.group(1)], definition)


def state_machine_name(stem: str, stage: str) -> str:
    return f"driveway-hub-{stage}-{stem.replace('_', '-')}"


def create_state_machine(stepfunctions: Any, name: str, definition: str, role_arn: str) -> str:
    """A Standard state machine from an already substituted definition; returns its ARN."""
    json.loads(definition)  # fail here, with the JSON error, rather than inside moto
    created = stepfunctions.create_state_machine(
        name=name, definition=definition, roleArn=role_arn, type="STANDARD"
    )
    arn: str = created["stateMachineArn"]
    return arn


def create_state_machines(
    stepfunctions: Any,
    directory: Path,
    substitutions: Mapping[str, str],
    role_arn: str,
    stage: str,
) -> dict[str, str]:
    """One state machine per ``<stem>.asl.json`` in ``directory`` (none if it is empty or missing)."""
    arns: dict[str, str] = {}
    if not directory.is_dir():
        return arns
    for path in sorted(directory.glob(f"*{ASL_SUFFIX}")):
        stem = path.name.removesuffix(ASL_SUFFIX)
        definition = substitute(path.read_text(encoding="utf-8"), substitutions)
        name = state_machine_name(stem, stage)
        arns[stem] = create_state_machine(stepfunctions, name, definition, role_arn)
    return arns
