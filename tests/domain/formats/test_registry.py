"""The format registry: detection, the capi-format header, and map_message's contract."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.formats import (
    AUTO,
    BUILTIN_FORMATS,
    FORMAT_HEADER,
    INVALID_FORMAT,
    MAPPERS,
    FormatOptions,
    MapResult,
    UnmappableReason,
    Unmapped,
    UnmappedAction,
    detect,
    map_message,
    parse_mapping,
)
from tests.domain.formats.samples import load

NATIVE_EVENT: dict[str, Any] = {
    "event_name": "Lead",
    "event_time": 1_795_168_800,
    "user_data": {"email": "a@example.com"},
}


class TestDetect:
    @pytest.mark.parametrize(
        ("sample", "expected"),
        [
            ("segment/order_completed.json", "segment"),
            ("segment/batch.json", "segment"),
            ("segment/identify.json", "segment"),
            ("rudderstack/order_completed.json", "rudderstack"),
            ("rudderstack/screen_android.json", "rudderstack"),
            ("ga4/purchase.json", "ga4"),
            ("ga4/generate_lead_no_timestamp.json", "ga4"),
            ("cloudevents/structured_segment.json", "cloudevents"),
            ("native/website.json", "native"),
            ("native/physical_store.json", "native"),
        ],
    )
    def test_samples(self, sample: str, expected: str) -> None:
        assert detect(load(sample)) == expected

    def test_binary_cloudevent_by_header(self) -> None:
        assert detect(NATIVE_EVENT, {"ce_specversion": b"1.0"}) == "cloudevents"

    @pytest.mark.parametrize(
        "obj",
        [
            {},
            {"hello": "world"},
            {"type": "track", "event": "x"},  # no id field: not clearly Segment
            {"event_name": "Lead", "type": "track", "userId": "u"},  # native and Segment
            {"events": [], "client_id": "1", "event_name": "Lead"},  # GA4 and native
            {"batch": []},
        ],
    )
    def test_ambiguous_or_unknown(self, obj: dict[str, Any]) -> None:
        assert detect(obj) is None


class TestSelection:
    def test_header_overrides_the_topic_format(self) -> None:
        headers = {FORMAT_HEADER: b"ga4"}
        result = map_message(load("ga4/purchase.json"), headers, "segment")
        assert result.format == "ga4"
        assert [e["event_name"] for e in result.events] == ["Purchase"]

    def test_unknown_format_names_are_not_echoed(self) -> None:
        result = map_message(NATIVE_EVENT, {FORMAT_HEADER: b"secret@example.com"}, "native")
        assert result.format == INVALID_FORMAT
        assert result.unmapped == (
            Unmapped(UnmappableReason.UNKNOWN_FORMAT, UnmappedAction.FAIL, FORMAT_HEADER, None),
        )
        result = map_message(NATIVE_EVENT, {}, "avro")
        assert result.unmapped[0].field == "format"

    def test_header_value_not_utf8_is_ignored(self) -> None:
        result = map_message(NATIVE_EVENT, {FORMAT_HEADER: b"\xff"}, "native")
        assert result.events == (NATIVE_EVENT,)

    def test_auto(self) -> None:
        assert map_message(load("segment/page.json"), {}, AUTO).format == "segment"
        undetected = map_message({"hello": 1}, {}, AUTO)
        assert undetected.format == AUTO
        assert undetected.unmapped[0].reason is UnmappableReason.UNDETECTED_FORMAT

    def test_unmappable_policy_drop(self) -> None:
        options = FormatOptions(unmappable=UnmappedAction.DROP)
        result = map_message({"hello": 1}, {}, AUTO, options)
        assert result.failures == ()
        assert result.unmapped[0].action is UnmappedAction.DROP

    def test_native_passes_the_same_object(self) -> None:
        result = map_message(NATIVE_EVENT, None, "native")
        assert result == MapResult((NATIVE_EVENT,), (), "native")
        assert result.events[0] is NATIVE_EVENT

    def test_mapping_by_name(self) -> None:
        spec = parse_mapping("crm", {"event_name": {"const": "Lead"}, "event_time": "ts"})
        result = map_message({"ts": 5}, {}, "mapping:crm", mappings={"crm": spec})
        assert result.format == "mapping:crm"
        assert result.events == ({"event_name": "Lead", "event_time": 5},)
        missing = map_message({"ts": 5}, {}, "mapping:other", mappings={"crm": spec})
        assert missing.unmapped[0].reason is UnmappableReason.UNKNOWN_FORMAT

    def test_mappings_see_a_structured_envelope_as_it_is(self) -> None:
        spec = parse_mapping("ce", {"event_name": "data.kind", "event_time": "time"})
        envelope = {
            "specversion": "1.0",
            "id": "1",
            "source": "s",
            "type": "t",
            "time": "2026-11-20T10:00:00Z",
            "data": {"kind": "Lead"},
        }
        result = map_message(envelope, {}, "mapping:ce", mappings={"ce": spec})
        assert result.events == ({"event_name": "Lead", "event_time": "2026-11-20T10:00:00Z"},)

    def test_registry_covers_every_builtin_format(self) -> None:
        assert set(MAPPERS) | {"cloudevents"} == set(BUILTIN_FORMATS)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_keys = st.sampled_from(
    [
        "type",
        "event",
        "events",
        "batch",
        "properties",
        "context",
        "traits",
        "specversion",
        "data",
        "id",
        "source",
        "client_id",
        "params",
        "name",
        "event_name",
        "user_data",
        "messageId",
        "timestamp",
        "timestamp_micros",
        "consent",
        "data_base64",
    ]
)


@given(
    obj=st.dictionaries(_keys, _json, max_size=8),
    fmt=st.sampled_from([*BUILTIN_FORMATS, AUTO]),
    binary=st.booleans(),
)
def test_map_message_never_raises(obj: dict[str, Any], fmt: str, binary: bool) -> None:
    headers = (
        {"ce_specversion": b"1.0", "ce_id": b"1", "ce_source": b"s", "ce_type": b"t"}
        if binary
        else {}
    )
    result = map_message(obj, headers, fmt, received_at=1_795_168_800.0)
    assert isinstance(result, MapResult)
    assert result.events or result.unmapped or fmt == "native"
    for event in result.events:
        assert isinstance(event, dict)
