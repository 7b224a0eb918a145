"""FormatOptions validation and MapResult helpers."""

from __future__ import annotations

from typing import Any

import pytest

from streams.domain.formats import (
    FormatOptions,
    MapResult,
    UnmappableReason,
    Unmapped,
    UnmappedAction,
)
from streams.domain.formats.result import event_key
from streams.domain.transform import RejectReason


class TestFormatOptions:
    def test_defaults(self) -> None:
        options = FormatOptions()
        assert options.unknown_event is UnmappedAction.CUSTOM
        assert options.unmappable is UnmappedAction.FAIL
        assert dict(options.event_names) == {}

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"unknown_event": "custom"}, "unknown_event"),
            ({"unmappable": UnmappedAction.CUSTOM}, "unmappable"),
            ({"event_names": {"": "Lead"}}, "event_names"),
            ({"event_names": {"x": " "}}, "event_names"),
            ({"event_names": {"x": 5}}, "event_names"),
            ({"action_source": "web"}, "action_source"),
            ({"default_currency": "XXX"}, "default_currency"),
            ({"anonymous_id": 1}, "anonymous_id"),
        ],
    )
    def test_invalid(self, kwargs: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            FormatOptions(**kwargs)

    def test_names_and_currency_are_normalized(self) -> None:
        options = FormatOptions(
            event_names={" Demo_Booked ": " Schedule "}, default_currency=" usd"
        )
        assert dict(options.event_names) == {"demo booked": "Schedule"}
        assert options.default_currency == "USD"

    def test_entries_follow_the_policy(self) -> None:
        options = FormatOptions(unknown_event=UnmappedAction.DROP, unmappable=UnmappedAction.DROP)
        assert options.unknown("event", 2) == Unmapped(
            UnmappableReason.UNKNOWN_EVENT, UnmappedAction.DROP, "event", 2
        )
        assert options.unmapped(UnmappableReason.NO_ACTION, "type").action is UnmappedAction.DROP


def test_failures_are_the_fail_entries() -> None:
    fail = Unmapped(UnmappableReason.NO_ACTION, UnmappedAction.FAIL)
    drop = Unmapped(UnmappableReason.NO_ACTION, UnmappedAction.DROP)
    custom = Unmapped(UnmappableReason.UNKNOWN_EVENT, UnmappedAction.CUSTOM)
    assert MapResult((), (fail, drop, custom)).failures == (fail,)


def test_reasons_never_collide_with_transform_reasons() -> None:
    assert not {r.value for r in UnmappableReason} & {r.value for r in RejectReason}


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Order Completed", "order completed"),
        ("order_completed", "order completed"),
        ("  ORDER-completed ", "order completed"),
        ("AddToCart", "addtocart"),
    ],
)
def test_event_key(name: str, key: str) -> None:
    assert event_key(name) == key
    assert event_key(event_key(name)) == key
