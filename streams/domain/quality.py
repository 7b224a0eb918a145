"""Meta's Dataset Quality API answer, parsed into plain values (no I/O).

Request (Meta, "Dataset Quality API", developers.facebook.com/docs/marketing-api/
conversions-api/dataset-quality-api; reference .../marketing-api/reference/ads-pixel-capiemq):

    GET https://graph.facebook.com/{version}/dataset_quality
        ?dataset_id={dataset id}                               required
        &fields=web{event_name,event_match_quality{composite_score,
                    match_key_feedback{identifier,coverage{percentage}}},
                    data_freshness{upload_frequency}}          "web" is required
        &agent_name={normalized partner_agent}                 optional filter
    token: Meta's examples pass `access_token` as a query parameter; Graph also accepts
    `Authorization: Bearer`, which is what streams.capi.quality sends.

Response (the documented example, trimmed; one object per event name of web events)::

    {"web": [{"event_name": "CompleteRegistration",
              "event_match_quality": {"composite_score": 7.2,
                                      "match_key_feedback": [
                                          {"identifier": "email", "coverage": {"percentage": 100}},
                                          {"identifier": "ip_address",
                                           "coverage": {"percentage": 99.9}}]},
              "data_freshness": {"upload_frequency": "real_time"}}]}

`composite_score` is out of 10; `coverage.percentage` is 0-100; `upload_frequency` is a word
(the docs show "real_time" and "hourly"). Meta omits what it has no value for, so every part is
optional here: an entry without a valid score has `composite_score=None` (not 0), match keys
without a valid percentage are skipped, entries without an `event_name` are dropped, and an
object without `web` is a dataset with no web events (Graph omits empty fields).

Match key identifiers: "email", "phone", "external_id", "ip_address", "user_agent", "fbc", "fbp"
appear in Meta's examples and in public clients' captured answers. The other names below
(first_name ... fb_login_id) follow the same naming but are NOT confirmed by a Meta source;
an identifier outside the table maps to no key and is ignored by callers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from streams.domain.model import STANDARD_EVENT_NAMES

__all__ = [
    "CUSTOM_EVENT_LABEL",
    "MATCH_KEY_BY_IDENTIFIER",
    "DatasetQuality",
    "EventQuality",
    "event_label",
    "match_key",
    "parse_dataset_quality",
]

# Meta's match-key identifier -> our user_data key (the closed label set of the EMQ gauges).
MATCH_KEY_BY_IDENTIFIER: Final[Mapping[str, str]] = MappingProxyType(
    {
        # seen in Meta's documentation examples or captured answers
        "email": "em",
        "phone": "ph",
        "external_id": "external_id",
        "ip_address": "client_ip_address",
        "user_agent": "client_user_agent",
        "fbc": "fbc",
        "fbp": "fbp",
        # same naming scheme, unconfirmed
        "first_name": "fn",
        "last_name": "ln",
        "gender": "ge",
        "date_of_birth": "db",
        "city": "ct",
        "state": "st",
        "zip": "zp",
        "country": "country",
        "fb_login_id": "fb_login_id",
    }
)
_KEYS: Final = frozenset(MATCH_KEY_BY_IDENTIFIER.values())
CUSTOM_EVENT_LABEL: Final = "custom"
_MAX_SCORE: Final = 10.0


@dataclass(frozen=True, slots=True)
class EventQuality:
    """Quality of one event name: EMQ score (0-10, None if Meta gave none), coverage per
    identifier as Meta names it (ratio 0-1), and the upload frequency word if present."""

    event_name: str
    composite_score: float | None
    coverage: Mapping[str, float]
    upload_frequency: str | None = None


@dataclass(frozen=True, slots=True)
class DatasetQuality:
    """One answer of the Dataset Quality API: web events in Meta's order, names unique."""

    events: tuple[EventQuality, ...]


def match_key(identifier: str) -> str | None:
    """Our user_data key for a Meta identifier (a user_data key is accepted as itself)."""
    key = MATCH_KEY_BY_IDENTIFIER.get(identifier)
    if key is None and identifier in _KEYS:
        return identifier
    return key


def event_label(event_name: str) -> str:
    """A Meta standard event name passes; anything else is "custom" (bounded label values)."""
    return event_name if event_name in STANDARD_EVENT_NAMES else CUSTOM_EVENT_LABEL


def parse_dataset_quality(doc: object) -> DatasetQuality | None:
    """Parse a decoded answer; None when it is not one (not an object, an `error`, or a
    `web` that is not a list)."""
    if not isinstance(doc, dict) or "error" in doc:
        return None
    web = doc.get("web", [])
    if not isinstance(web, list):
        return None
    events: list[EventQuality] = []
    seen: set[str] = set()
    for entry in web:
        parsed = _event(entry)
        if parsed is not None and parsed.event_name not in seen:
            seen.add(parsed.event_name)
            events.append(parsed)
    return DatasetQuality(tuple(events))


def _event(entry: object) -> EventQuality | None:
    if not isinstance(entry, dict):
        return None
    name = entry.get("event_name")
    if not isinstance(name, str) or not name:
        return None
    score: float | None = None
    coverage: dict[str, float] = {}
    emq = entry.get("event_match_quality")
    if isinstance(emq, dict):
        score = _number(emq.get("composite_score"), _MAX_SCORE)
        feedback = emq.get("match_key_feedback")
        if isinstance(feedback, list):
            for item in feedback:
                _add_coverage(item, coverage)
    freshness = entry.get("data_freshness")
    frequency = freshness.get("upload_frequency") if isinstance(freshness, dict) else None
    return EventQuality(
        name,
        score,
        MappingProxyType(coverage),
        frequency if isinstance(frequency, str) and frequency else None,
    )


def _add_coverage(item: object, into: dict[str, float]) -> None:
    if not isinstance(item, dict):
        return
    identifier = item.get("identifier")
    cov = item.get("coverage")
    if not isinstance(identifier, str) or not identifier or not isinstance(cov, dict):
        return
    pct = _number(cov.get("percentage"), 100.0)
    if pct is not None and identifier not in into:
        into[identifier] = pct / 100.0


def _number(value: object, high: float) -> float | None:
    """A finite number in [0, high] (a numeric string too, as Graph sometimes sends), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    if not math.isfinite(number) or not 0.0 <= number <= high:
        return None
    return number
