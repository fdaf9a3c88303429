"""The Kinesis door of the telemetry ingest: Tesla's fleet-telemetry server writes one decoded JSON
record per Kinesis record (partition key = VIN, so a VIN's records arrive in order on one shard).

Partial batch response (the event source mapping has ``ReportBatchItemFailures``, bisect-on-error, a
retry limit and an on-failure destination, see docs/tesla.md): the records before the first unreadable
one are ingested, and that record's sequence number is reported, so Lambda checkpoints just before it
and retries from there until it is isolated and sent to the failure destination. An ingest failure
raises (the whole batch is retried and bisected): re-ingesting is harmless.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.clock import utcnow
from driveway_hub.config import get_settings
from driveway_hub.observability import logger
from driveway_hub.tesla import runtime
from driveway_hub.tesla.telemetry import MalformedTelemetry, TelemetryRecord, parse_record


def _decode(kinesis_record: dict[str, Any]) -> TelemetryRecord:
    try:
        raw = json.loads(base64.b64decode(kinesis_record["kinesis"]["data"]))
    except (KeyError, ValueError) as exc:
        raise MalformedTelemetry("the Kinesis record is not base64 JSON") from exc
    return parse_record(raw)


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    items = event.get("Records") or []
    records: list[TelemetryRecord] = []
    failure: str | None = None
    for item in items:
        try:
            records.append(_decode(item))
        except MalformedTelemetry as exc:
            failure = item["kinesis"]["sequenceNumber"]
            logger.warning("unreadable telemetry record", extra={"sequence_number": failure, "error": exc.message})
            break
    if records:
        # An ingest failure raises: Lambda retries the whole batch (bisecting it), which is harmless
        # because re-ingested records are duplicates that change nothing.
        runtime.telemetry_ingest(get_settings()).ingest(records, utcnow())
    return {"batchItemFailures": [{"itemIdentifier": failure}] if failure else []}
