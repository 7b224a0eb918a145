"""The `[formats]` and `[mappings]` config tables -> which format and options each topic uses.

    [formats]                      # defaults for every input topic
    format = "native"              # native | segment | rudderstack | ga4 | cloudevents |
                                   # mapping:<name> | auto
    unknown_event = "custom"       # custom | drop | fail: events whose name no map knows
    unmappable = "fail"            # drop | fail: parts that cannot become an event
    action_source = "website"      # when the message states none (optional)
    default_currency = "EUR"       # for values without a currency (optional)
    inner_format = "segment"       # data format of CloudEvents without capiformat (optional)
    anonymous_id = false           # anonymous/device id as external_id fallback (optional)
    encoding = "json"              # json | registry: Confluent wire format (Avro, Protobuf,
                                   # JSON Schema) decoded with the [registry] before the format

    [formats.event_names]          # source event name -> CAPI event name (optional)
    "Demo Booked" = "Schedule"

    [formats.topics.shop-events]   # per topic: any key above; unset keys inherit
    format = "segment"

`parse_format_config` raises `FormatConfigError` (naming the key) or `MappingError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from streams.domain.formats.declarative import MappingSpec, parse_mappings
from streams.domain.formats.names import CLOUDEVENTS, NATIVE, is_format_name
from streams.domain.formats.result import FormatOptions, UnmappedAction

__all__ = [
    "FormatConfig",
    "FormatConfigError",
    "TopicFormat",
    "parse_format_config",
    "parse_options",
]

_KEYS: Final = frozenset(
    {
        "format",
        "unknown_event",
        "unmappable",
        "event_names",
        "action_source",
        "default_currency",
        "inner_format",
        "anonymous_id",
        "encoding",
    }
)
ENCODINGS: Final = ("json", "registry")


class FormatConfigError(ValueError):
    """The formats config is invalid: the key path and what is expected."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclass(frozen=True, slots=True)
class TopicFormat:
    """The format of one input topic and its options."""

    format: str = NATIVE
    options: FormatOptions = field(default_factory=FormatOptions)
    encoding: str = "json"  # or "registry" (Confluent wire format)


def _no_topics() -> Mapping[str, TopicFormat]:
    return MappingProxyType({})


def _no_mappings() -> Mapping[str, MappingSpec]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class FormatConfig:
    """Formats per input topic, and the declarative mappings they may name."""

    default: TopicFormat = field(default_factory=TopicFormat)
    topics: Mapping[str, TopicFormat] = field(default_factory=_no_topics)
    mappings: Mapping[str, MappingSpec] = field(default_factory=_no_mappings)

    def for_topic(self, topic: str) -> TopicFormat:
        """The topic's format and options (the defaults for unlisted topics)."""
        return self.topics.get(topic, self.default)

    def registry_encoded(self, topic: str) -> bool:
        """True when the topic's messages are in the Confluent wire format."""
        return self.for_topic(topic).encoding == "registry"

    @property
    def uses_registry(self) -> bool:
        """True when any topic (or the default) is registry-encoded."""
        encodings = {self.default.encoding, *(t.encoding for t in self.topics.values())}
        return "registry" in encodings


def parse_format_config(formats: object = None, mappings: object = None) -> FormatConfig:
    """A `FormatConfig` from the `[formats]` and `[mappings]` tables (either may be None)."""
    specs = parse_mappings(mappings)
    if formats is None:
        return FormatConfig(mappings=MappingProxyType(specs))
    if not isinstance(formats, Mapping):
        raise FormatConfigError("formats", "expected a table")
    unknown = sorted(str(k) for k in formats if k not in _KEYS | {"topics"})
    if unknown:
        raise FormatConfigError(f"formats.{unknown[0]}", _known_keys("formats"))
    defaults = parse_options({k: v for k, v in formats.items() if k != "topics"}, "formats", specs)
    topics_raw = formats.get("topics", {})
    if not isinstance(topics_raw, Mapping):
        raise FormatConfigError("formats.topics", "expected a table of topic = options")
    topics: dict[str, TopicFormat] = {}
    for topic, raw in topics_raw.items():
        where = f"formats.topics.{topic}"
        if not isinstance(raw, Mapping):
            raise FormatConfigError(where, "expected a table of options")
        bad = sorted(str(k) for k in raw if k not in _KEYS)
        if bad:
            raise FormatConfigError(f"{where}.{bad[0]}", _known_keys(where))
        topics[str(topic)] = parse_options(raw, where, specs, defaults)
    return FormatConfig(defaults, MappingProxyType(topics), MappingProxyType(specs))


def _known_keys(where: str) -> str:
    keys = ", ".join(sorted(_KEYS | ({"topics"} if where == "formats" else set())))
    return f"unknown key (known: {keys})"


def parse_options(
    raw: Mapping[str, Any],
    where: str,
    mappings: Mapping[str, MappingSpec],
    base: TopicFormat | None = None,
) -> TopicFormat:
    """One topic's format and options; keys it leaves out come from `base`."""
    base = base or TopicFormat()
    opts = base.options
    fmt = raw.get("format", base.format)
    if not isinstance(fmt, str) or not is_format_name(fmt, mappings):
        raise FormatConfigError(
            f"{where}.format",
            "expected native, segment, rudderstack, ga4, cloudevents, auto or "
            "mapping:<a name under [mappings]>",
        )
    values: dict[str, Any] = {
        "unknown_event": _action(raw, where, "unknown_event", opts.unknown_event),
        "unmappable": _action(raw, where, "unmappable", opts.unmappable),
        "event_names": _names(raw, where, opts.event_names),
        "action_source": _optional_text(raw, where, "action_source", opts.action_source),
        "default_currency": _optional_text(raw, where, "default_currency", opts.default_currency),
        "inner_format": _optional_text(raw, where, "inner_format", opts.inner_format),
        "anonymous_id": raw.get("anonymous_id", opts.anonymous_id),
    }
    inner = values["inner_format"]
    if inner is not None and (inner == CLOUDEVENTS or not is_format_name(inner, mappings)):
        raise FormatConfigError(f"{where}.inner_format", "expected a format other than cloudevents")
    encoding = raw.get("encoding", base.encoding)
    if encoding not in ENCODINGS:
        raise FormatConfigError(f"{where}.encoding", "expected json or registry")
    try:
        options = FormatOptions(**values)
    except ValueError as error:
        key = str(error).split(" ", 1)[0].rstrip(":")
        raise FormatConfigError(f"{where}.{key}", str(error)) from None
    return TopicFormat(fmt, options, encoding)


def _action(raw: Mapping[str, Any], where: str, key: str, default: UnmappedAction) -> Any:
    value = raw.get(key)
    if value is None:
        return default
    try:
        return UnmappedAction(value)
    except ValueError:
        raise FormatConfigError(f"{where}.{key}", "expected custom, drop or fail") from None


def _names(raw: Mapping[str, Any], where: str, default: Mapping[str, str]) -> Mapping[str, str]:
    value = raw.get("event_names")
    if value is None:
        return default
    if not isinstance(value, Mapping):
        raise FormatConfigError(f"{where}.event_names", "expected a table of source = CAPI name")
    return {**default, **value}


def _optional_text(raw: Mapping[str, Any], where: str, key: str, default: str | None) -> Any:
    value = raw.get(key, default)
    if value is not None and not isinstance(value, str):
        raise FormatConfigError(f"{where}.{key}", "expected a string")
    return value
