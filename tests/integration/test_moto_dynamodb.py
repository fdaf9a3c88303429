"""local.moto_dynamodb changes how fast moto answers, never what it answers."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.moto_dynamodb import patched_dynamodb

pytestmark = pytest.mark.integration

TABLE = "patch-equivalence"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": t}
                                  for a, t in (("pk", "S"), ("part", "N"), ("cell", "N"))],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[{"IndexName": "by_cell", "Projection": {"ProjectionType": "ALL"},
                                     "KeySchema": [{"AttributeName": "part", "KeyType": "HASH"},
                                                   {"AttributeName": "cell", "KeyType": "RANGE"}]}],
        )
        rng = random.Random(5)
        for i in range(400):
            item: dict[str, Any] = {"pk": {"S": f"item-{i:04d}"}, "cell": {"N": str(rng.randrange(1000))},
                                    "pad": {"S": "x" * rng.randrange(10, 20_000)},
                                    "tags": {"SS": [f"t{rng.randrange(5)}", "all"]},
                                    "nested": {"M": {"n": {"N": str(i)}, "l": {"L": [{"BOOL": True}, {"NULL": True}]}}},
                                    "blob": {"B": bytes([i % 256, 0, 255])}}
            if i % 7:  # sparse index: some items have no partition key
                item["part"] = {"N": str(i % 3)}
            client.put_item(TableName=TABLE, Item=item)
        yield client


def _answers(client: Any) -> list[Any]:
    """Index Queries (ranges, pages by Limit and by the 1 MB limit: ~1.3 MB per partition, both directions),
    a Scan, GetItem."""
    answers: list[Any] = []
    for part in ("0", "1", "2", "9"):
        for lo, hi in ((0, 999), (100, 180), (500, 501)):
            for forward in (True, False):
                kwargs: dict[str, Any] = {
                    "TableName": TABLE, "IndexName": "by_cell", "ScanIndexForward": forward,
                    "KeyConditionExpression": "part = :p AND cell BETWEEN :lo AND :hi",
                    "ExpressionAttributeValues": {":p": {"N": part}, ":lo": {"N": str(lo)}, ":hi": {"N": str(hi)}}}
                for limit in (None, 7):
                    if limit:
                        kwargs["Limit"] = limit
                    while True:
                        page = client.query(**kwargs)
                        page.pop("ResponseMetadata")
                        answers.append(page)
                        if "LastEvaluatedKey" not in page:
                            break
                        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
                    kwargs.pop("ExclusiveStartKey", None)
    scan = client.scan(TableName=TABLE, Limit=50)
    scan.pop("ResponseMetadata")
    answers.append(scan)
    answers.append(client.get_item(TableName=TABLE, Key={"pk": {"S": "item-0003"}})["Item"])
    return answers


def test_answers_are_the_same_with_and_without_the_patch(dynamodb: Any) -> None:
    plain = _answers(dynamodb)
    with patched_dynamodb():
        patched = _answers(dynamodb)
        again = _answers(dynamodb)  # from the caches this time
    assert any("LastEvaluatedKey" in a for a in plain if isinstance(a, dict) and "Count" in a)
    assert patched == plain
    assert again == plain


def test_a_write_is_seen_by_the_next_query(dynamodb: Any) -> None:
    query = {"TableName": TABLE, "IndexName": "by_cell", "KeyConditionExpression": "part = :p AND cell = :c",
             "ExpressionAttributeValues": {":p": {"N": "1"}, ":c": {"N": "5000"}}}
    with patched_dynamodb():
        assert dynamodb.query(**query)["Count"] == 0
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "new"}, "part": {"N": "1"}, "cell": {"N": "5000"}})
        assert dynamodb.query(**query)["Count"] == 1
        dynamodb.update_item(TableName=TABLE, Key={"pk": {"S": "new"}}, UpdateExpression="SET cell = :c",
                             ExpressionAttributeValues={":c": {"N": "5001"}})
        assert dynamodb.query(**query)["Count"] == 0
        dynamodb.update_item(TableName=TABLE, Key={"pk": {"S": "new"}}, UpdateExpression="SET cell = :c",
                             ExpressionAttributeValues={":c": {"N": "5000"}})
        dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": "new"}})
        assert dynamodb.query(**query)["Count"] == 0
