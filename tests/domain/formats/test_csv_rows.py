"""CSV offline conversions: Meta's offline template rows through a mapping to CAPI events."""

from __future__ import annotations

import csv
import tomllib
from typing import Any

import pytest

from streams.domain.formats import (
    FormatOptions,
    MappingSpec,
    UnmappableReason,
    Unmapped,
    UnmappedAction,
    parse_mapping,
    parse_mappings,
)
from streams.domain.formats.csv_rows import RowProblem, map_row, row_dict
from streams.domain.transform import Accepted, Rejected, RejectReason, transform
from tests.domain.formats.samples import DATA, NOW, POLICY, sha


@pytest.fixture(scope="module")
def offline() -> MappingSpec:
    raw = tomllib.loads((DATA / "mappings" / "offline.toml").read_text())
    return parse_mappings(raw["mappings"])["meta_offline"]


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any] | RowProblem]:
    with (DATA / "csv" / "offline.csv").open(encoding="utf-8-sig", newline="") as handle:
        header, *cells = list(csv.reader(handle))
    return [row_dict(header, line) for line in cells]


def _verdict(row: dict[str, Any] | RowProblem, mapping: MappingSpec) -> Accepted | Rejected:
    assert isinstance(row, dict)
    (event,) = map_row(row, mapping).events
    return transform(event, POLICY, now=NOW)


class TestOfflineSample:
    def test_repeated_columns_and_european_number(
        self, rows: list[dict[str, Any] | RowProblem], offline: MappingSpec
    ) -> None:
        verdict = _verdict(rows[0], offline)
        assert isinstance(verdict, Accepted)
        assert verdict.event == {
            "event_name": "Purchase",
            "event_time": 1_794_317_400,  # 2026-11-10T14:30:00+01:00
            "action_source": "physical_store",
            "event_id": verdict.event_id,
            "user_data": {
                "em": [sha("anna.mueller@example.de"), sha("anna@example.de")],
                "ph": [sha("49301234567")],
                "fn": [sha("anna")],
                "ln": [sha("müller")],
                "ct": [sha("berlin")],
                "zp": [sha("10115")],
                "country": [sha("de")],
                "db": [sha("19880412")],
                "ge": [sha("f")],
            },
            "custom_data": {
                "value": 1234.5,  # "1.234,50"
                "currency": "EUR",
                "order_id": "POS-77-0193",
                "item_number": "1",
            },
        }
        assert verdict.event_id.startswith("cs-")

    def test_local_time_without_offset_uses_the_mapping_offset(
        self, rows: list[dict[str, Any] | RowProblem], offline: MappingSpec
    ) -> None:
        verdict = _verdict(rows[1], offline)
        assert isinstance(verdict, Accepted)
        assert verdict.event["event_time"] == 1_790_843_400  # 2026-10-01 09:30 at +01:00
        assert verdict.event["event_name"] == "Purchase"  # "purchase" via the map
        assert verdict.event["user_data"]["zp"] == [sha("10001")]
        assert verdict.event["user_data"]["db"] == [sha("19790704")]
        assert verdict.event["custom_data"]["currency"] == "USD"

    def test_older_than_62_days_is_rejected(
        self, rows: list[dict[str, Any] | RowProblem], offline: MappingSpec
    ) -> None:
        verdict = _verdict(rows[2], offline)
        assert isinstance(verdict, Rejected)
        assert verdict.reason is RejectReason.EVENT_TIME_TOO_OLD

    def test_empty_row(self, rows: list[dict[str, Any] | RowProblem]) -> None:
        assert rows[3] is RowProblem.EMPTY_ROW

    def test_missing_required_event_name(
        self, rows: list[dict[str, Any] | RowProblem], offline: MappingSpec
    ) -> None:
        row = rows[4]
        assert isinstance(row, dict)
        result = map_row(row, offline)
        assert result.events == ()
        assert result.unmapped == (
            Unmapped(
                UnmappableReason.MISSING_MAPPED_FIELD, UnmappedAction.FAIL, "event_name", None
            ),
        )

    def test_unknown_event_name_follows_the_policy(
        self, rows: list[dict[str, Any] | RowProblem], offline: MappingSpec
    ) -> None:
        row = rows[5]
        assert isinstance(row, dict)
        assert map_row(row, offline).events[0]["event_name"] == "Refund"
        dropped = map_row(row, offline, FormatOptions(unknown_event=UnmappedAction.DROP))
        assert dropped.events == ()
        assert dropped.unmapped[0].action is UnmappedAction.DROP

    def test_row_without_customer_information(
        self, rows: list[dict[str, Any] | RowProblem], offline: MappingSpec
    ) -> None:
        verdict = _verdict(rows[6], offline)
        assert isinstance(verdict, Rejected)
        assert verdict.reason is RejectReason.NO_CUSTOMER_INFORMATION


class TestRowDict:
    def test_bom_blank_cells_and_repeats(self) -> None:
        header = ["\ufeffemail", "email", "fn", "", "ln"]
        assert row_dict(header, ["a@x.y", "b@x.y", " ", "ignored", "Doe "]) == {
            "email": ["a@x.y", "b@x.y"],
            "ln": "Doe",
        }

    def test_short_rows_are_fine_and_long_rows_are_not(self) -> None:
        assert row_dict(["a", "b", "c"], ["1"]) == {"a": "1"}
        assert row_dict(["a"], ["1", "", " "]) == {"a": "1"}
        assert row_dict(["a"], ["1", "2"]) is RowProblem.EXTRA_CELLS

    def test_empty(self) -> None:
        assert row_dict(["a", "b"], ["", " "]) is RowProblem.EMPTY_ROW
        assert row_dict(["a"], []) is RowProblem.EMPTY_ROW


class TestActionSource:
    def test_mapped_action_source_is_kept(self) -> None:
        spec = parse_mapping(
            "crm",
            {"event_name": "n", "event_time": "t", "action_source": {"path": "src"}},
        )
        assert (
            map_row({"n": "Lead", "t": "1", "src": "phone_call"}, spec).events[0]["action_source"]
            == "phone_call"
        )
        assert map_row({"n": "Lead", "t": "1"}, spec).events[0]["action_source"] == (
            "physical_store"
        )
        assert map_row({"n": "Lead", "t": "1"}, spec).format == "mapping:crm"
