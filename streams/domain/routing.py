"""Which dataset an event goes to.

Precedence, first that applies: the event's own `dataset_id`, the `capi-dataset` Kafka header,
the input topic's mapping in the config, the default dataset. A dataset that is not configured
is a rejection (`unknown_dataset`), never a silent drop.

A topic locked to its datasets (`routing.topics` with `lock = true`) refuses events that name
any other dataset through their `dataset_id` or the header (`dataset_not_allowed_for_topic`):
a producer on one team's topic cannot write into another advertiser's dataset.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

__all__ = [
    "DATASET_HEADER",
    "MAX_DATASET_ID_LENGTH",
    "choose_dataset",
    "is_dataset_id",
    "locked_out",
]

DATASET_HEADER = "capi-dataset"
MAX_DATASET_ID_LENGTH = 32


def is_dataset_id(text: str) -> bool:
    """True for a well-formed dataset (pixel) id: 1 to `MAX_DATASET_ID_LENGTH` ASCII digits."""
    return 0 < len(text) <= MAX_DATASET_ID_LENGTH and text.isascii() and text.isdigit()


INVALID = "invalid"  # a dataset named badly: never known, never the default


def choose_dataset(
    *,
    event_dataset: str | None,
    header_dataset: bytes | None,
    topic: str,
    topic_map: Mapping[str, str],
    default: str | None,
    known: Collection[str],
    event_names_dataset: bool = False,
) -> tuple[str | None, bool]:
    """Return (dataset id, known?). (None, False) when nothing names a dataset.

    `event_names_dataset` says the event carries a `dataset_id` key: when that value is not a
    valid id (`event_dataset` None), the event is refused rather than sent to the default
    dataset, which would be another pixel. The same holds for an undecodable header.
    """
    chosen = event_dataset
    if chosen is None and event_names_dataset:
        return INVALID, False
    if chosen is None and header_dataset is not None:
        try:
            chosen = header_dataset.decode("ascii").strip()
        except UnicodeDecodeError:
            return INVALID, False
        if not is_dataset_id(chosen):
            return INVALID, False
    if chosen is None:
        chosen = topic_map.get(topic, default)
    if chosen is None:
        return None, False
    return chosen, chosen in known


def locked_out(topic: str, dataset: str, locks: Mapping[str, Collection[str]]) -> bool:
    """True when `topic` is locked to its datasets and `dataset` is not one of them."""
    allowed = locks.get(topic)
    return allowed is not None and dataset not in allowed
