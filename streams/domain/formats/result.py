"""What a format mapper returns, and the per-topic options that steer it.

A mapper turns one input message into zero or more native events (see
`streams.domain.transform`) and, for the parts it could not map, `Unmapped` entries that
say why (`UnmappableReason`) and what the topic's policy decided (`UnmappedAction`).
Mappers never raise for bad input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from streams.domain.model import ACTION_SOURCES, CURRENCIES

__all__ = [
    "NO_EVENTS",
    "SOURCE_INDEX_KEY",
    "FormatOptions",
    "MapResult",
    "UnmappableReason",
    "Unmapped",
    "UnmappedAction",
    "event_key",
]


class UnmappableReason(StrEnum):
    """Why (part of) a message became no event. Closed set: stable metric and failure labels.

    The values never collide with `RejectReason` values, so failure records stay unambiguous.
    """

    UNKNOWN_FORMAT = "unknown_format"  # capi-format header or capiformat names no format
    UNDETECTED_FORMAT = "undetected_format"  # auto-detection found no single format
    FORMAT_MISMATCH = "format_mismatch"  # the message lacks the shape of its format
    NO_ACTION = "no_action"  # identify/group/alias: traits only, no conversion happened
    MISSING_SOURCE_EVENT = "missing_source_event"  # no event name, or a payload with no events
    UNKNOWN_EVENT = "unknown_event"  # the event name is not in the format's event map
    MISSING_MAPPED_FIELD = "missing_mapped_field"  # a mapping's required field is absent
    CONSENT_DENIED = "consent_denied"  # the message says its user data may not be used for ads
    INVALID_ENVELOPE = "invalid_envelope"  # CloudEvents attributes or data unusable
    UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"  # CloudEvents data is not JSON


class UnmappedAction(StrEnum):
    """What happens to an unmapped event (configured per input topic)."""

    DROP = "drop"  # counted by a metric, nothing else
    CUSTOM = "custom"  # sent as a custom event under its source name (unknown names only)
    FAIL = "fail"  # one failure record with the reason


@dataclass(frozen=True, slots=True)
class Unmapped:
    """One part of a message that produced no event (or a custom event, for CUSTOM).

    `field` is a path in the *source* message (e.g. `events.2.name`), never a value;
    `index` is the position of the event inside a multi-event message, if any.
    """

    reason: UnmappableReason
    action: UnmappedAction
    field: str | None = None
    index: int | None = None


@dataclass(frozen=True, slots=True)
class MapResult:
    """Native events to transform, and what could not be mapped.

    `format` is the format actually used ("native", "segment", ..., "mapping:<name>"), or
    "invalid" when the message named an unknown format: a bounded metric label.
    """

    events: tuple[dict[str, Any], ...] = field(repr=False)  # plain customer data: no repr
    unmapped: tuple[Unmapped, ...] = ()
    format: str = "native"

    @property
    def failures(self) -> tuple[Unmapped, ...]:
        """The entries that must become failure records."""
        return tuple(u for u in self.unmapped if u.action is UnmappedAction.FAIL)


NO_EVENTS: Final[tuple[dict[str, Any], ...]] = ()

SOURCE_INDEX_KEY: Final = "source_index"
"""Native-event key holding an event's position inside a multi-event message.

Set only on events without an event_id: the transform derives their id from the whole native
event, so the index keeps two identical events of one message apart. It is not a CAPI key and
the transform leaves it out of what is sent.
"""


def event_key(name: str) -> str:
    """The lookup form of an event name: case-folded, `_`/`-` as spaces, spaces collapsed."""
    return " ".join(name.replace("_", " ").replace("-", " ").split()).casefold()


def _empty_names() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class FormatOptions:
    """Per-topic mapping options. Invalid values raise `ValueError` at construction.

    * `unknown_event`: an event whose name is in no event map (custom, drop or fail).
    * `unmappable`: a message part that cannot become an event at all (drop or fail).
    * `event_names`: source event name -> CAPI event name, before the built-in maps;
      matched case-insensitively (see `event_key`).
    * `action_source`: used when the message itself does not state one.
    * `default_currency`: for events that carry a value but no currency.
    * `inner_format`: format of CloudEvents `data` when the event has no `capiformat`.
    * `anonymous_id`: use the anonymous/device ID as external_id when there is no user ID
      (None: the format's default, on for RudderStack only).
    """

    unknown_event: UnmappedAction = UnmappedAction.CUSTOM
    unmappable: UnmappedAction = UnmappedAction.FAIL
    event_names: Mapping[str, str] = field(default_factory=_empty_names)
    action_source: str | None = None
    default_currency: str | None = None
    inner_format: str | None = None
    anonymous_id: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.unknown_event, UnmappedAction):
            raise ValueError("unknown_event must be custom, drop or fail")
        if self.unmappable not in (UnmappedAction.DROP, UnmappedAction.FAIL):
            raise ValueError("unmappable must be drop or fail")
        names: dict[str, str] = {}
        for source, target in self.event_names.items():
            if not isinstance(source, str) or not event_key(source):
                raise ValueError("event_names: source names must be non-empty strings")
            if not isinstance(target, str) or not target.strip():
                raise ValueError("event_names: CAPI event names must be non-empty strings")
            names[event_key(source)] = target.strip()
        object.__setattr__(self, "event_names", MappingProxyType(names))
        if self.action_source is not None and self.action_source not in ACTION_SOURCES:
            raise ValueError("action_source is not a CAPI action_source")
        currency = self.default_currency
        if currency is not None:
            if currency.strip().upper() not in CURRENCIES:
                raise ValueError("default_currency is not an ISO 4217 code")
            object.__setattr__(self, "default_currency", currency.strip().upper())
        if self.anonymous_id is not None and not isinstance(self.anonymous_id, bool):
            raise ValueError("anonymous_id must be true or false")

    def unknown(self, field_: str | None, index: int | None = None) -> Unmapped:
        """An UNKNOWN_EVENT entry under this topic's policy."""
        return Unmapped(UnmappableReason.UNKNOWN_EVENT, self.unknown_event, field_, index)

    def unmapped(
        self, reason: UnmappableReason, field_: str | None, index: int | None = None
    ) -> Unmapped:
        """An entry for a part that cannot become an event, under this topic's policy."""
        return Unmapped(reason, self.unmappable, field_, index)
