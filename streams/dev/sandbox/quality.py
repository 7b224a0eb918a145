"""The sandbox's Dataset Quality API: `GET /{version}/dataset_quality`, from what it accepted.

Meta computes Event Match Quality with its own, unpublished model. The sandbox does NOT imitate
it; it answers in Meta's shape (see streams.domain.quality for the documented request/answer)
with values derived from the events it accepted for the dataset since start or reset:

* per event name, the coverage of each match key = the share of accepted events whose
  `user_data` carries that key with a non-empty value, as a percentage rounded to 2 decimals,
  listed for every key seen at least once, by identifier (email, phone, ...);
* `composite_score` = min(10, sum over keys of WEIGHTS[key] x coverage ratio), rounded half
  up to one decimal: a simple, deterministic approximation chosen by the sandbox (email and
  phone weigh most, then click and browser ids, then the rest), not Meta's algorithm;
* `data_freshness.upload_frequency` from the mean delay between `event_time` and receipt:
  under 15 minutes "real_time", under a day "hourly", else "daily" (again the sandbox's rule).

`fields` selects the parts by name only (nested selections are not parsed):
`event_match_quality` and/or `data_freshness` when named in it (`event_name` is always there);
without `fields`, only `event_match_quality`. `agent_name` is accepted and ignored. Test
events count like the others.

Cost on the `/events` path: one pass of C-level counting per request (key tuples counted per
event name), about 0.35 us per event of a 1,000-event request, against ~10 us for the rest of
the request. Per dataset at most MAX_EVENT_NAMES names are tracked, and per name at most
MAX_KEY_SETS distinct key tuples are kept before they are folded into per-key counts.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import repeat
from operator import eq, itemgetter

__all__ = [
    "IDENTIFIERS",
    "MAX_EVENT_NAMES",
    "MAX_KEY_SETS",
    "WEIGHTS",
    "QualityCounters",
    "composite_score",
    "upload_frequency",
]

# user_data key -> Meta's match-key identifier (Meta's naming; see streams.domain.quality).
IDENTIFIERS: dict[str, str] = {
    "em": "email",
    "ph": "phone",
    "external_id": "external_id",
    "client_ip_address": "ip_address",
    "client_user_agent": "user_agent",
    "fbc": "fbc",
    "fbp": "fbp",
    "fn": "first_name",
    "ln": "last_name",
    "ge": "gender",
    "db": "date_of_birth",
    "ct": "city",
    "st": "state",
    "zp": "zip",
    "country": "country",
    "fb_login_id": "fb_login_id",
}
# Points each key adds at full coverage; the score is capped at 10.
WEIGHTS: dict[str, float] = {
    "em": 3.0,
    "ph": 2.0,
    "fbc": 1.5,
    "external_id": 1.0,
    "fbp": 1.0,
    "fb_login_id": 1.0,
    "client_ip_address": 0.75,
    "client_user_agent": 0.5,
    "fn": 0.25,
    "ln": 0.25,
    "db": 0.25,
    "zp": 0.25,
    "ct": 0.125,
    "country": 0.125,
    "st": 0.125,
    "ge": 0.125,
}
MAX_EVENT_NAMES = 1000
MAX_KEY_SETS = 256
_REAL_TIME_S = 15 * 60
_HOURLY_S = 86_400

_NAME = itemgetter("event_name")
_USER_DATA = itemgetter("user_data")
_TIME = itemgetter("event_time")


def composite_score(coverage: dict[str, float]) -> float:
    """The sandbox's score (0-10, one decimal) from coverage ratios per user_data key."""
    total = sum(WEIGHTS.get(key, 0.0) * ratio for key, ratio in coverage.items())
    return math.floor(min(10.0, total) * 10 + 0.5) / 10


def upload_frequency(mean_delay_s: float) -> str:
    """The sandbox's freshness word for a mean event_time-to-receipt delay."""
    if mean_delay_s < _REAL_TIME_S:
        return "real_time"
    return "hourly" if mean_delay_s < _HOURLY_S else "daily"


@dataclass(slots=True)
class _EventCounts:
    events: int = 0
    delay_s: float = 0.0
    key_sets: dict[tuple[str, ...], int] = field(default_factory=dict)
    keys: dict[str, int] = field(default_factory=dict)  # folded key sets

    def add_key_set(self, key_set: tuple[str, ...], n: int) -> None:
        sets = self.key_sets
        sets[key_set] = sets.get(key_set, 0) + n
        if len(sets) > MAX_KEY_SETS:
            for ks, count in sets.items():
                for key in ks:
                    self.keys[key] = self.keys.get(key, 0) + count
            sets.clear()

    def key_counts(self) -> dict[str, int]:
        counts = dict(self.keys)
        for ks, n in self.key_sets.items():
            for key in ks:
                counts[key] = counts.get(key, 0) + n
        return counts


class QualityCounters:
    """Per dataset and event name: accepted events, key presence and delay sums."""

    def __init__(self) -> None:
        self._datasets: dict[str, dict[str, _EventCounts]] = {}

    def add(self, dataset: str, events: list[dict[str, object]], now: float) -> None:
        """Count one accepted (validated) request's events."""
        if not events:
            return
        per_name = self._datasets.get(dataset)
        if per_name is None:
            per_name = self._datasets[dataset] = {}
        names: list[str] = list(map(_NAME, events))
        uds: list[dict[str, object]] = list(map(_USER_DATA, events))
        clean = all(map(all, map(dict.values, uds)))  # else some key holds an empty list
        first = tuple(uds[0])
        uniform = names.count(names[0]) == len(names)
        pairs: Mapping[tuple[str, tuple[str, ...]], int]
        if clean and uniform and all(map(eq, map(tuple, uds), repeat(first))):
            pairs = {(names[0], first): len(names)}  # the usual request: one name, one key set
        else:
            key_sets: Iterable[tuple[str, ...]] = (
                map(tuple, uds) if clean else (tuple(k for k, v in ud.items() if v) for ud in uds)
            )
            pairs = Counter(zip(names, key_sets, strict=True))
        for (name, key_set), n in pairs.items():
            counts = per_name.get(name)
            if counts is None:
                if len(per_name) >= MAX_EVENT_NAMES:
                    continue
                counts = per_name[name] = _EventCounts()
            counts.events += n
            counts.add_key_set(key_set, n)
        if uniform:
            counts = per_name.get(names[0])
            if counts is not None:
                counts.delay_s += len(names) * now - sum(map(_TIME, events))
            return
        for name, event_time in zip(names, map(_TIME, events), strict=True):
            counts = per_name.get(name)
            if counts is not None:
                counts.delay_s += now - event_time

    def answer(
        self, dataset: str, *, match_quality: bool = True, freshness: bool = False
    ) -> dict[str, object]:
        """The Dataset Quality answer for a dataset: {"web": [...]} by event name."""
        web: list[dict[str, object]] = []
        for name, counts in sorted(self._datasets.get(dataset, {}).items()):
            entry: dict[str, object] = {"event_name": name}
            if match_quality:
                entry["event_match_quality"] = _match_quality(counts)
            if freshness:
                frequency = upload_frequency(counts.delay_s / counts.events)
                entry["data_freshness"] = {"upload_frequency": frequency}
            web.append(entry)
        return {"web": web}

    def reset(self) -> None:
        self._datasets.clear()


def _match_quality(counts: _EventCounts) -> dict[str, object]:
    ratios = {
        key: n / counts.events for key, n in counts.key_counts().items() if key in IDENTIFIERS
    }
    feedback = sorted(
        (
            {"identifier": IDENTIFIERS[key], "coverage": {"percentage": round(100 * ratio, 2)}}
            for key, ratio in ratios.items()
        ),
        key=lambda item: str(item["identifier"]),
    )
    return {"composite_score": composite_score(ratios), "match_key_feedback": feedback}
