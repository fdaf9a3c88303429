"""The DynamoDB counter (bench/dynamodb_work.py) on a moto table: a Put and a Query give the expected
counts, through boto3 and through PynamoDB's own per-thread botocore session."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bench.dynamodb_work import (
    BENCH,
    Attribution,
    AwsCallCounter,
    TableKeys,
    _path_template,
    item_size,
    read_units,
    write_units,
)

TABLE = "bench-test"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    with mock_aws():
        yield


def _counter() -> AwsCallCounter:
    return AwsCallCounter(Attribution(), {TABLE: TableKeys(("pk", "sk"), ("owner",))})


def _create_table(client: Any) -> None:
    client.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "owner")],
        GlobalSecondaryIndexes=[{"IndexName": "by_owner", "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
    )


def test_a_put_and_a_query_are_counted_with_capacity_units(dynamodb: Any) -> None:
    counter = _counter()
    with counter, counter.attribution.running("route_a"):
        client = boto3.client("dynamodb", region_name="us-east-1")
        _create_table(client)
        client.put_item(TableName=TABLE, Item={"pk": {"S": "p"}, "sk": {"S": "1"}, "owner": {"S": "o"}})
        client.put_item(TableName=TABLE, Item={"pk": {"S": "p"}, "sk": {"S": "2"}})  # not in the index
        found = client.query(TableName=TABLE, KeyConditionExpression="pk = :p",
                             ExpressionAttributeValues={":p": {"S": "p"}}, ConsistentRead=True)
    assert found["Count"] == 2
    counts = counter.dynamo_by_function()["route_a"]
    assert counts.operations == {"CreateTable": 1, "PutItem": 2, "Query": 1}
    assert counts.requests == 4
    assert counts.items_written == 2 and counts.items_read == 2
    assert counts.wru == 1 + 1 + 1  # two 1 KB writes, one of them also into the by_owner index
    assert counts.rru == 1.0  # one strongly consistent Query page under 4 KB
    assert counts.scans == 0


def test_failed_conditional_writes_pay_but_write_nothing_and_scans_are_flagged(dynamodb: Any) -> None:
    counter = _counter()
    with counter, counter.attribution.running("route_b"):
        client = boto3.client("dynamodb", region_name="us-east-1")
        _create_table(client)
        item = {"pk": {"S": "p"}, "sk": {"S": "1"}}
        client.put_item(TableName=TABLE, Item=item)
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            client.put_item(TableName=TABLE, Item=item, ConditionExpression="attribute_not_exists(pk)")
        client.scan(TableName=TABLE)
    counts = counter.dynamo_by_function()["route_b"]
    assert counts.items_written == 1 and counts.wru == 2
    assert counts.scans == 1 and counts.items_read == 1


def test_pynamodb_calls_are_counted_and_the_bench_s_own_calls_are_not(dynamodb: Any) -> None:
    from pynamodb.attributes import UnicodeAttribute
    from pynamodb.models import Model

    class Thing(Model):
        class Meta:
            table_name = TABLE
            region = "us-east-1"

        pk = UnicodeAttribute(hash_key=True)
        sk = UnicodeAttribute(range_key=True)

    counter = _counter()
    with counter:
        with counter.attribution.running(BENCH):
            _create_table(boto3.client("dynamodb", region_name="us-east-1"))
        # PynamoDB makes a botocore session per thread: count from a fresh thread too.
        def work() -> None:
            with counter.attribution.running("route_c"):
                Thing("p", "1").save()
                assert [t.sk for t in Thing.query("p")] == ["1"]

        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
    counts = counter.dynamo_by_function()
    assert set(counts) == {"route_c"}  # the BENCH CreateTable is not there
    assert counts["route_c"].operations == {"PutItem": 1, "Query": 1}
    assert counts["route_c"].items_written == 1 and counts["route_c"].items_read == 1


def test_a_call_on_an_unnamed_thread_goes_to_the_only_running_function() -> None:
    attribution = Attribution()
    with attribution.running("search"):
        seen: list[str | None] = []
        worker = threading.Thread(target=lambda: seen.append(attribution.current()))
        worker.start()
        worker.join()
    assert seen == ["search"]
    assert attribution.current() == "(unattributed)"


def test_sizes_and_units() -> None:
    assert item_size({"pk": {"S": "abc"}, "n": {"N": "12345"}}) == 2 + 3 + 1 + 4
    assert read_units(0, consistent=False) == 0.5 and read_units(5000, consistent=True) == 2
    assert read_units(100, consistent=True, transactional=True) == 2
    assert write_units(1025) == 2 and write_units(10, transactional=True) == 2
    assert _path_template("/v1/payment_intents/pi_3Kx9a/capture") == "/v1/payment_intents/{id}/capture"
