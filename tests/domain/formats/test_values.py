"""Readers shared by the mappers."""

from __future__ import annotations

import pytest

from streams.domain.formats.values import (
    content_items,
    header_value,
    integer,
    lookup_event,
    number,
    query_param,
    split_full_name,
    text,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" a ", "a"),
        ("  ", None),
        (3, "3"),
        (2.0, "2"),
        (2.5, "2.5"),
        (True, None),
        (float("nan"), None),
        ([1], None),
        (None, None),
    ],
)
def test_text(value: object, expected: str | None) -> None:
    assert text(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3),
        (2.5, 2.5),
        ("12.50", 12.5),
        ("7", 7),
        (" 1e3 ", 1000.0),
        ("1_000", None),
        ("inf", None),
        ("nan", None),
        ("", None),
        (True, None),
        (None, None),
        ("x" * 41, None),
    ],
)
def test_number(value: object, expected: float | None) -> None:
    assert number(value) == expected


def test_integer() -> None:
    assert (integer("4"), integer(4.0), integer(4.5), integer("x")) == (4, 4, None, None)


def test_header_value() -> None:
    headers = {"Capi-Format": b" segment ", "x": "text", "bad": b"\xff", "empty": b" "}
    assert header_value(headers, "capi-format") == "segment"
    assert header_value(headers, "x") == "text"
    assert header_value(headers, "bad") is None
    assert header_value(headers, "empty") is None
    assert header_value(headers, "missing") is None
    assert header_value(None, "x") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://x.y/p?a=1&fbclid=AbC&b=2", "AbC"),
        ("?fbclid=AbC#frag", "AbC"),
        ("fbclid=", None),
        ("https://x.y/p#fbclid=AbC", None),
        ("https://x.y/p?myfbclid=1", None),
    ],
)
def test_query_param(url: str, expected: str | None) -> None:
    assert query_param(url, "fbclid") == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Jane Doe", ("Jane", "Doe")),
        ("Jane Q. Public", ("Jane", "Public")),
        ("Cher", ("Cher", None)),
        ("Doe, Jane Q.", ("Jane", "Doe")),
        (",", (None, None)),
        (None, (None, None)),
    ],
)
def test_split_full_name(name: object, expected: tuple[str | None, str | None]) -> None:
    assert split_full_name(name) == expected


def test_content_items() -> None:
    items = [
        {"sku": "a", "quantity": "2", "price": "1.5", "name": "A"},
        {"sku": "a", "quantity": 1},
        {"name": "no id"},
        "junk",
        {"sku": "b", "quantity": -1, "price": "free"},
    ]
    contents, ids, count = content_items(items, ("product_id", "sku"))
    assert contents == [
        {"id": "a", "quantity": 2, "item_price": 1.5, "title": "A"},
        {"id": "a", "quantity": 1},
        {"id": "b"},
    ]
    assert ids == ["a", "b"]
    assert count == 4


def test_lookup_event_order() -> None:
    builtin = {"order completed": "Purchase"}
    assert lookup_event("Order Completed", {}, builtin) == "Purchase"
    assert lookup_event("Order Completed", {"order completed": "X"}, builtin) == "X"
    assert lookup_event("lead", {}, builtin) == "Lead"
    assert lookup_event("Nope", {}, builtin) is None
