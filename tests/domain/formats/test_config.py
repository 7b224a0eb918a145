"""The [formats] / [mappings] config tables."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from streams.domain.formats import (
    FormatConfig,
    FormatConfigError,
    FormatOptions,
    MappingError,
    TopicFormat,
    UnmappedAction,
    parse_format_config,
)

CONFIG = """
[formats]
unmappable = "drop"
default_currency = "eur"

[formats.event_names]
"Demo Booked" = "Schedule"

[formats.topics.shop-events]
format = "segment"
action_source = "website"

[formats.topics.shop-events.event_names]
"Order Placed" = "Purchase"

[formats.topics."ga4.collect"]
format = "ga4"
unknown_event = "fail"
unmappable = "fail"

[formats.topics.crm]
format = "mapping:crm"

[formats.topics.envelopes]
format = "cloudevents"
inner_format = "rudderstack"
anonymous_id = false

[mappings.crm]
event_name = { const = "Lead" }
event_time = "created"
"""


def _parse(text: str) -> FormatConfig:
    raw = tomllib.loads(text)
    return parse_format_config(raw.get("formats"), raw.get("mappings"))


class TestParse:
    def test_full_example(self) -> None:
        config = _parse(CONFIG)
        assert set(config.mappings) == {"crm"}
        default = config.for_topic("unlisted")
        assert default == TopicFormat(
            "native",
            FormatOptions(
                unmappable=UnmappedAction.DROP,
                default_currency="EUR",
                event_names={"Demo Booked": "Schedule"},
            ),
        )
        shop = config.for_topic("shop-events")
        assert shop.format == "segment"
        assert shop.options.action_source == "website"
        assert shop.options.unmappable is UnmappedAction.DROP  # inherited
        assert shop.options.default_currency == "EUR"
        assert dict(shop.options.event_names) == {
            "demo booked": "Schedule",
            "order placed": "Purchase",
        }
        ga4 = config.for_topic("ga4.collect")
        assert (ga4.format, ga4.options.unknown_event, ga4.options.unmappable) == (
            "ga4",
            UnmappedAction.FAIL,
            UnmappedAction.FAIL,
        )
        assert config.for_topic("crm").format == "mapping:crm"
        envelopes = config.for_topic("envelopes")
        assert envelopes.options.inner_format == "rudderstack"
        assert envelopes.options.anonymous_id is False

    def test_nothing_configured_is_native(self) -> None:
        config = parse_format_config(None, None)
        assert config.for_topic("any") == TopicFormat()
        assert config.for_topic("any").format == "native"

    @pytest.mark.parametrize(
        ("text", "key"),
        [
            ("[formats]\nformat = 'avro'", "formats.format"),
            ("[formats]\nformats = 'x'", "formats.formats"),
            ("[formats]\nunknown_event = 'ignore'", "formats.unknown_event"),
            ("[formats]\nunmappable = 'custom'", "formats.unmappable"),
            ("[formats]\naction_source = 'web'", "formats.action_source"),
            ("[formats]\ndefault_currency = 'EURO'", "formats.default_currency"),
            ("[formats]\ndefault_currency = 5", "formats.default_currency"),
            ("[formats]\nanonymous_id = 'yes'", "formats.anonymous_id"),
            ("[formats]\ninner_format = 'cloudevents'", "formats.inner_format"),
            ("[formats]\ninner_format = 'mapping:none'", "formats.inner_format"),
            ("[formats]\nevent_names = ['a']", "formats.event_names"),
            ("[formats.event_names]\na = ''", "formats.event_names"),
            ("[formats]\ntopics = 'x'", "formats.topics"),
            ("[formats.topics]\nt = 'segment'", "formats.topics.t"),
            ("[formats.topics.t]\nformat = 'mapping:missing'", "formats.topics.t.format"),
            ("[formats.topics.t]\ncolour = 'red'", "formats.topics.t.colour"),
        ],
    )
    def test_errors_name_the_key(self, text: str, key: str) -> None:
        with pytest.raises(FormatConfigError) as caught:
            _parse(text)
        assert caught.value.key == key
        assert str(caught.value).startswith(key + ": ")

    def test_formats_not_a_table(self) -> None:
        with pytest.raises(FormatConfigError, match="formats: expected a table"):
            parse_format_config(["segment"], None)

    def test_mapping_errors_surface_at_start_up(self) -> None:
        text = "[mappings.crm]\nevent_name = 'n'\nevent_time = 't'\n'user_data.mail' = 'm'"
        with pytest.raises(MappingError, match=r"mappings\.crm\.user_data\.mail"):
            _parse(text)

    def test_options_are_read_only(self) -> None:
        options = _parse(CONFIG).for_topic("shop-events").options
        names: Any = options.event_names
        with pytest.raises(TypeError):
            names["x"] = "y"
