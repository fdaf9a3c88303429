"""local.resources creates the stage in moto from the shared declarations (tables, routes, ASL files)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from driveway_hub.config import settings_from_env
from driveway_hub.data.tables import TABLES, TableSpec
from driveway_hub.routes import ROUTES
from local.moto_backend import MotoCloud
from local.resources import (
    ASL_SUFFIX,
    LAMBDA_RUNTIME,
    STATEMACHINES_DIR,
    STRIPE_SECRET,
    TELEMETRY_SECRET,
    TESLA_SECRET,
    LocalResources,
    UnresolvedSubstitutionError,
    create_resources,
    create_state_machines,
    substitute,
)

pytestmark = pytest.mark.integration

STAGE = "local"
SUBSTITUTIONS_ASL = Path(__file__).parent / "asl" / "resources" / "route_substitutions.asl.json"


@pytest.fixture(scope="module")
def aws_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
            patch.setenv(name, "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield


@pytest.fixture(scope="module")
def cloud(aws_env: None) -> Iterator[MotoCloud]:
    with MotoCloud(stage=STAGE) as running:
        yield running


@pytest.fixture(scope="module")
def resources(cloud: MotoCloud, tmp_path_factory: pytest.TempPathFactory) -> LocalResources:
    # No state machines here: the real ASL files are checked on their own below, so that an ASL file
    # ahead of the route table fails that one test, not every test of this module.
    return create_resources(cloud.endpoint_url, stage=STAGE, statemachines_dir=tmp_path_factory.mktemp("none"))


def key_schema(spec_partition: Any, spec_sort: Any) -> list[dict[str, str]]:
    schema = [{"AttributeName": spec_partition.name, "KeyType": "HASH"}]
    if spec_sort is not None:
        schema.append({"AttributeName": spec_sort.name, "KeyType": "RANGE"})
    return schema


# ------------------------------------------------------------------------------------------- tables


@pytest.mark.parametrize("spec", TABLES, ids=lambda spec: spec.logical_id)
def test_table_has_the_specs_keys_indexes_and_on_demand_billing(
    cloud: MotoCloud, resources: LocalResources, spec: TableSpec
) -> None:
    table = cloud.client("dynamodb").describe_table(TableName=spec.default_name(STAGE))["Table"]

    assert resources.table_names[spec.logical_id] == spec.default_name(STAGE)
    assert table["KeySchema"] == key_schema(spec.partition, spec.sort)
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    indexes = {index["IndexName"]: index for index in table.get("GlobalSecondaryIndexes", [])}
    assert set(indexes) == {index.name for index in spec.indexes}
    for index in spec.indexes:
        assert indexes[index.name]["KeySchema"] == key_schema(index.partition, index.sort)
        assert indexes[index.name]["Projection"] == {"ProjectionType": "ALL"}
    declared = {key.name: key.type for key in (spec.partition, spec.sort) if key is not None}
    for index in spec.indexes:
        declared.update({key.name: key.type for key in (index.partition, index.sort) if key is not None})
    assert {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]} == declared
    assert bool(table.get("StreamSpecification", {}).get("StreamEnabled")) == spec.stream


@pytest.mark.parametrize("spec", TABLES, ids=lambda spec: spec.logical_id)
def test_ttl_is_enabled_exactly_where_the_spec_names_an_expiry_attribute(
    cloud: MotoCloud, resources: LocalResources, spec: TableSpec
) -> None:
    ttl = cloud.client("dynamodb").describe_time_to_live(TableName=spec.default_name(STAGE))
    description = ttl["TimeToLiveDescription"]

    if spec.ttl_attribute:
        assert description == {"TimeToLiveStatus": "ENABLED", "AttributeName": spec.ttl_attribute}
    else:
        assert description["TimeToLiveStatus"] == "DISABLED"


# ---------------------------------------------------------------------------------------- functions


def test_a_function_exists_for_every_route_with_its_handler(cloud: MotoCloud, resources: LocalResources) -> None:
    pages = cloud.client("lambda").get_paginator("list_functions").paginate()
    functions = {function["FunctionName"]: function for page in pages for function in page["Functions"]}

    assert set(resources.function_arns) == {route.name for route in ROUTES}
    for route in ROUTES:
        function = functions[route.function_name(STAGE)]
        assert function["Handler"] == route.handler
        assert function["Runtime"] == LAMBDA_RUNTIME
        assert function["FunctionArn"] == resources.function_arns[route.name]
        assert function["Role"] == resources.lambda_role_arn


def test_substitutions_name_every_route_function_and_table(resources: LocalResources) -> None:
    substitutions = resources.substitutions()

    for route in ROUTES:
        assert substitutions[f"Fn_{route.name}"] == resources.function_arns[route.name]
    for spec in TABLES:
        assert substitutions[f"Table_{spec.logical_id}"] == spec.default_name(STAGE)


# --------------------------------------------------------------------------- secrets, keys, storage


@pytest.mark.parametrize(
    ("purpose", "expected"),
    [("stripe", STRIPE_SECRET), ("tesla", TESLA_SECRET), ("telemetry", TELEMETRY_SECRET)],
)
def test_secrets_are_readable_with_fake_test_values(
    cloud: MotoCloud, resources: LocalResources, purpose: str, expected: dict[str, str]
) -> None:
    secret_id = resources.secret_ids[purpose]

    value = cloud.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]

    assert secret_id == f"driveway-hub/{STAGE}/{purpose}"
    assert json.loads(value) == expected


def test_stripe_secret_looks_like_test_mode() -> None:
    assert STRIPE_SECRET["secret_key"].startswith("sk_test_")
    assert STRIPE_SECRET["publishable_key"].startswith("pk_test_")
    assert STRIPE_SECRET["webhook_secret"].startswith("whsec_")
    assert STRIPE_SECRET["connect_webhook_secret"].startswith("whsec_")


def test_tesla_token_key_encrypts_by_alias_and_decrypts(cloud: MotoCloud, resources: LocalResources) -> None:
    kms = cloud.client("kms")

    assert resources.tesla_token_key_alias == f"alias/driveway-hub-{STAGE}-tesla-tokens"
    ciphertext = kms.encrypt(KeyId=resources.tesla_token_key_alias, Plaintext=b"refresh-token")["CiphertextBlob"]
    decrypted = kms.decrypt(CiphertextBlob=ciphertext)
    assert decrypted["Plaintext"] == b"refresh-token"
    assert decrypted["KeyId"] == resources.tesla_token_key_arn


def test_photo_bucket_and_telemetry_stream_exist(cloud: MotoCloud, resources: LocalResources) -> None:
    cloud.client("s3").head_bucket(Bucket=resources.photo_bucket)
    summary = cloud.client("kinesis").describe_stream_summary(StreamName=resources.telemetry_stream_name)

    assert summary["StreamDescriptionSummary"]["StreamARN"] == resources.telemetry_stream_arn


# ------------------------------------------------------------------------------ handler environment


def test_handler_env_is_a_complete_configuration_pointing_at_moto(resources: LocalResources) -> None:
    settings = settings_from_env(resources.handler_env())

    assert settings.stage == STAGE
    assert settings.aws_endpoint_url == resources.endpoint_url
    assert settings.tables.bookings == resources.table_names["bookings"]
    assert settings.photo_bucket == resources.photo_bucket
    assert settings.tesla_token_key_id == resources.tesla_token_key_arn
    assert settings.stripe_secret_id == resources.secret_ids["stripe"]
    assert settings.tesla_secret_id == resources.secret_ids["tesla"]
    assert settings.telemetry_secret_id == resources.secret_ids["telemetry"]
    assert settings.state_machine_arn is None  # no state machine in this module's resources (fixture)


# ----------------------------------------------------------------------------------- state machines


def test_every_asl_file_in_statemachines_becomes_a_state_machine(
    cloud: MotoCloud, resources: LocalResources
) -> None:
    stems = {path.name.removesuffix(ASL_SUFFIX) for path in STATEMACHINES_DIR.glob(f"*{ASL_SUFFIX}")}
    sfn = cloud.client("stepfunctions")

    # What create_resources does with the default directory (under another stage name: no collisions).
    arns = create_state_machines(sfn, STATEMACHINES_DIR, resources.substitutions(), resources.states_role_arn,
                                 "asl")

    assert set(arns) == stems
    for arn in arns.values():
        assert "${" not in sfn.describe_state_machine(stateMachineArn=arn)["definition"]


def test_definition_substitutions_become_function_arns_and_table_names(
    cloud: MotoCloud, resources: LocalResources, tmp_path: Path
) -> None:
    shutil.copy(SUBSTITUTIONS_ASL, tmp_path / f"booking_lifecycle{ASL_SUFFIX}")
    sfn = cloud.client("stepfunctions")

    # Another stage name, so the machine does not collide with the one create_resources may have made.
    arns = create_state_machines(sfn, tmp_path, resources.substitutions(), resources.states_role_arn, "subst")

    assert arns["booking_lifecycle"].endswith(":stateMachine:driveway-hub-subst-booking-lifecycle")
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=arns["booking_lifecycle"])["definition"])
    assert definition["States"]["Health"]["Resource"] == resources.function_arns["get_health"]
    assert definition["States"]["LoadBooking"]["Parameters"]["TableName"] == resources.table_names["bookings"]
    # The booking lifecycle's ARN is what the handlers get as STATE_MACHINE_ARN.
    with_lifecycle = dataclasses.replace(resources, state_machine_arns=arns)
    assert with_lifecycle.env_overrides["STATE_MACHINE_ARN"] == arns["booking_lifecycle"]


def test_a_placeholder_without_a_value_is_an_error() -> None:
    with pytest.raises(UnresolvedSubstitutionError, match=r"\$\{Fn_not_a_route\}, \$\{Table_nope\}"):
        substitute('{"A": "${Fn_not_a_route}", "B": "${Table_nope}", "C": "${Fn_x}"}', {"Fn_x": "arn"})


def test_an_empty_or_missing_statemachines_directory_creates_nothing(
    cloud: MotoCloud, resources: LocalResources, tmp_path: Path
) -> None:
    sfn = cloud.client("stepfunctions")

    assert create_state_machines(sfn, tmp_path, {}, resources.states_role_arn, STAGE) == {}
    assert create_state_machines(sfn, tmp_path / "missing", {}, resources.states_role_arn, STAGE) == {}
