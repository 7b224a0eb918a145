"""Failure records stay within Kafka's record size whatever the event held."""

from __future__ import annotations

from typing import Any

import orjson

from streams.domain.admission import AdmissionContext, InputMessage, admit
from streams.domain.privacy.guard import PiiPolicy
from streams.domain.privacy.redact import MAX_REDACTED_PATHS, KeepEvent
from streams.domain.records import (
    FailureRecord,
    PipelineReason,
    SourceRef,
    failure_record,
    failure_record_bytes,
)
from streams.domain.transform import DatasetPolicy
from streams.pipeline.outcomes import MAX_RECORD_BYTES

NOW = 1795168900.0
DS = "1000000000000001"
SOURCE = SourceRef("in", 0, 7)


def _purchase_without_value(**custom: Any) -> dict[str, Any]:
    return {
        "event_name": "Purchase",
        "event_time": int(NOW) - 10,
        "action_source": "website",
        "event_source_url": "https://shop.example/done",
        "event_id": "o-1",
        "user_data": {"email": "p@example.com", "client_user_agent": "Mozilla/5.0"},
        "custom_data": {"currency": "USD", **custom},
    }


def _failure_of(event: dict[str, Any]) -> FailureRecord:
    ctx = AdmissionContext(
        policies={DS: DatasetPolicy(DS)},
        max_event_bytes={DS: 262_144},
        max_message_bytes=1_000_000,
        default_dataset=DS,
        guards={DS: PiiPolicy()},
    )
    message = orjson.dumps(event)
    [failure] = admit(InputMessage(SOURCE, b"k", message), ctx, NOW).failures
    return failure


def test_a_failure_record_of_many_guarded_values_stays_within_kafkas_limit() -> None:
    event = _purchase_without_value(x=["a@b.cd"] * 90_000)
    assert 800_000 < len(orjson.dumps(event)) < 1_000_000
    failure = _failure_of(event)
    assert failure.reason == "missing_value"
    record = failure_record(failure, NOW)
    assert record["redacted"] == ["custom_data.x[]"]  # one entry per path, not per value
    value = failure_record_bytes(record, MAX_RECORD_BYTES)
    assert len(value) < 10_000
    assert orjson.loads(value)["reason"] == "missing_value"


def test_redacted_lists_at_most_a_hundred_paths_and_counts_the_rest() -> None:
    notes = {f"note{i}": "mail a@b.cd" for i in range(MAX_REDACTED_PATHS + 25)}
    record = failure_record(_failure_of(_purchase_without_value(**notes)), NOW)
    assert len(record["redacted"]) == MAX_REDACTED_PATHS
    assert record["redacted_more"] == 25


def test_an_oversize_record_leaves_out_every_bulky_field_then_keeps_only_its_coordinates() -> None:
    big = "y" * 600_000  # not personal: the guard keeps it
    failure = FailureRecord(
        PipelineReason.UNKNOWN_DATASET,
        SOURCE,
        event={"event_name": "Lead", "custom_data": {"a": big}, "user_data": {"k" * 40: 1}},
        hashed=False,
        raw=big.encode(),
    )
    record = failure_record(failure, NOW, keep=KeepEvent.RAW)
    assert len(orjson.dumps(record)) > MAX_RECORD_BYTES
    slim = orjson.loads(failure_record_bytes(record, MAX_RECORD_BYTES))
    assert slim["omitted"] == ["event", "raw_base64"]
    assert slim["reason"] == "unknown_dataset" and slim["source"]["offset"] == 7
    record["redacted"] = ["p" * 50] * 20_000  # whatever else grew too large
    record["field"] = "f" * 1_000_000
    bare = orjson.loads(failure_record_bytes(record, MAX_RECORD_BYTES))
    assert set(bare) == {"schema", "kind", "reason", "source", "failed_at", "omitted"}
    assert {"event", "raw_base64", "redacted", "field"} <= set(bare["omitted"])
