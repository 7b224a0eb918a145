"""Parsing Meta's Dataset Quality API answer; label helpers for the EMQ gauges."""

from __future__ import annotations

from typing import Any

import pytest

from streams.domain.quality import (
    CUSTOM_EVENT_LABEL,
    MATCH_KEY_BY_IDENTIFIER,
    DatasetQuality,
    event_label,
    match_key,
    parse_dataset_quality,
)

# Meta's documented example answer (Dataset Quality API page, "Event match quality").
META_EXAMPLE: dict[str, Any] = {
    "web": [
        {
            "event_match_quality": {
                "composite_score": 6.2,
                "match_key_feedback": [
                    {"identifier": "user_agent", "coverage": {"percentage": 100}},
                    {"identifier": "external_id", "coverage": {"percentage": 100}},
                ],
            },
            "event_name": "pLTVPurchase",
        },
        {
            "event_match_quality": {
                "composite_score": 7.2,
                "match_key_feedback": [
                    {"identifier": "email", "coverage": {"percentage": 100}},
                    {"identifier": "ip_address", "coverage": {"percentage": 99.9}},
                ],
            },
            "event_name": "CompleteRegistration",
        },
    ]
}


def test_meta_example() -> None:
    quality = parse_dataset_quality(META_EXAMPLE)
    assert quality is not None
    assert [e.event_name for e in quality.events] == ["pLTVPurchase", "CompleteRegistration"]
    first, second = quality.events
    assert first.composite_score == 6.2
    assert dict(first.coverage) == {"user_agent": 1.0, "external_id": 1.0}
    assert second.composite_score == 7.2
    assert dict(second.coverage) == {"email": 1.0, "ip_address": pytest.approx(0.999)}
    assert first.upload_frequency is None


def test_data_freshness() -> None:
    doc = {
        "web": [
            {"event_name": "ViewContent", "data_freshness": {"upload_frequency": "real_time"}},
            {"event_name": "Lead", "data_freshness": {"upload_frequency": "hourly"}},
            {"event_name": "Search", "data_freshness": {"upload_frequency": ""}},
            {"event_name": "Contact", "data_freshness": "hourly"},
        ]
    }
    quality = parse_dataset_quality(doc)
    assert quality is not None
    assert [e.upload_frequency for e in quality.events] == ["real_time", "hourly", None, None]
    assert all(e.composite_score is None and not e.coverage for e in quality.events)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0, 0.0),
        (10, 10.0),
        (3.94, 3.94),
        ("7.5", 7.5),
        (10.01, None),
        (-0.1, None),
        (42, None),
        (True, None),
        ("high", None),
        (None, None),
        (float("nan"), None),
        ([7], None),
    ],
)
def test_composite_score_bounds(score: object, expected: float | None) -> None:
    doc = {"web": [{"event_name": "Purchase", "event_match_quality": {"composite_score": score}}]}
    quality = parse_dataset_quality(doc)
    assert quality is not None
    assert quality.events[0].composite_score == expected


def test_match_keys_without_a_valid_percentage_are_skipped() -> None:
    feedback: list[object] = [
        {"identifier": "email", "coverage": {"percentage": 71}},
        {"identifier": "phone", "coverage": {}},
        {"identifier": "fbc", "coverage": {"percentage": 100.5}},
        {"identifier": "fbp", "coverage": {"percentage": -1}},
        {"identifier": "", "coverage": {"percentage": 10}},
        {"coverage": {"percentage": 10}},
        {"identifier": "zip", "coverage": 50},
        "email",
        {"identifier": "email", "coverage": {"percentage": 5}},  # a duplicate: the first wins
        {"identifier": "some_new_key", "coverage": {"percentage": 0}},
    ]
    doc = {
        "web": [{"event_name": "Purchase", "event_match_quality": {"match_key_feedback": feedback}}]
    }
    quality = parse_dataset_quality(doc)
    assert quality is not None
    assert dict(quality.events[0].coverage) == {"email": 0.71, "some_new_key": 0.0}


def test_entries_without_a_name_and_duplicates_are_dropped() -> None:
    doc = {
        "web": [
            {"event_match_quality": {"composite_score": 5}},
            {"event_name": "", "event_match_quality": {"composite_score": 5}},
            {"event_name": 7},
            "Purchase",
            {"event_name": "Purchase", "event_match_quality": {"composite_score": 8.26}},
            {"event_name": "Purchase", "event_match_quality": {"composite_score": 1}},
            {"event_name": "AddToCart", "event_match_quality": {}},
        ]
    }
    quality = parse_dataset_quality(doc)
    assert quality is not None
    assert [(e.event_name, e.composite_score) for e in quality.events] == [
        ("Purchase", 8.26),
        ("AddToCart", None),
    ]
    assert not quality.events[0].coverage and not quality.events[1].coverage


@pytest.mark.parametrize(
    "doc",
    [
        None,
        "text",
        42,
        [],
        {"web": "x"},
        {"web": {"data": []}},
        {"error": {"message": "Invalid OAuth access token", "code": 190}},
    ],
)
def test_not_an_answer(doc: object) -> None:
    assert parse_dataset_quality(doc) is None


def test_no_web_events() -> None:
    assert parse_dataset_quality({"web": []}) == DatasetQuality(())
    assert parse_dataset_quality({}) == DatasetQuality(())


def test_coverage_is_read_only() -> None:
    quality = parse_dataset_quality(META_EXAMPLE)
    assert quality is not None
    with pytest.raises(TypeError):
        quality.events[0].coverage["email"] = 1.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("identifier", "key"),
    [
        ("email", "em"),
        ("phone", "ph"),
        ("ip_address", "client_ip_address"),
        ("user_agent", "client_user_agent"),
        ("external_id", "external_id"),
        ("fbc", "fbc"),
        ("fbp", "fbp"),
        ("date_of_birth", "db"),
        ("zip", "zp"),
        ("em", "em"),  # already one of our keys
        ("client_ip_address", "client_ip_address"),
        ("some_new_key", None),
        ("Email", None),
        ("", None),
    ],
)
def test_match_key(identifier: str, key: str | None) -> None:
    assert match_key(identifier) == key


def test_match_keys_are_distinct() -> None:
    keys = list(MATCH_KEY_BY_IDENTIFIER.values())
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("Purchase", "Purchase"),
        ("PageView", "PageView"),
        ("CompleteRegistration", "CompleteRegistration"),
        ("pLTVPurchase", CUSTOM_EVENT_LABEL),
        ("purchase", CUSTOM_EVENT_LABEL),
        ("B2B Purchase", CUSTOM_EVENT_LABEL),
        ("", CUSTOM_EVENT_LABEL),
    ],
)
def test_event_label(name: str, label: str) -> None:
    assert event_label(name) == label
