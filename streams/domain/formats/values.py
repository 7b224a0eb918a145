"""Small readers shared by the format mappers: text, numbers, nested lookups, names, products.

They never raise for bad input: a value that cannot be read is `None`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

from streams.domain.formats.result import event_key
from streams.domain.model import STANDARD_EVENT_NAMES

__all__ = [
    "STANDARD_BY_KEY",
    "content_items",
    "first_text",
    "header_value",
    "integer",
    "lookup_event",
    "nested",
    "number",
    "put",
    "query_param",
    "split_full_name",
    "text",
]

STANDARD_BY_KEY: Final[Mapping[str, str]] = {event_key(n): n for n in STANDARD_EVENT_NAMES}
"""Meta standard event names by lookup key: `purchase` -> `Purchase`, `addtocart` -> ..."""

_MAX_EXACT_FLOAT: Final = 2**53


def text(value: object) -> str | None:
    """A trimmed non-empty string; numbers are written out; anything else is None."""
    if value is None:
        return None
    if type(value) is str:
        value = value.strip()
        return value or None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        exact = value.is_integer() and abs(value) < _MAX_EXACT_FLOAT
        return str(int(value)) if exact else repr(value)
    return None


def first_text(*values: object) -> str | None:
    """The first value that `text` can read."""
    for value in values:
        if value is not None:
            found = text(value)
            if found is not None:
                return found
    return None


def number(value: object) -> int | float | None:
    """A finite int/float; decimal strings are converted; bool and the rest give None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        candidate = value.strip()
        if not candidate or len(candidate) > 40 or "_" in candidate:
            return None
        try:
            parsed = float(candidate)
        except ValueError:
            return None
        if not math.isfinite(parsed):
            return None
        if parsed.is_integer() and "." not in candidate and "e" not in candidate.lower():
            return int(parsed) if abs(parsed) < _MAX_EXACT_FLOAT else parsed
        return parsed
    return None


def integer(value: object) -> int | None:
    """A whole number (integral floats and integer strings included), else None."""
    found = number(value)
    if isinstance(found, float):
        return int(found) if found.is_integer() else None
    return found


def nested(obj: object, *keys: str) -> Any:
    """`obj[k1][k2]...` through mappings only; None when any step is missing."""
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def put(target: dict[str, Any], key: str, value: object) -> None:
    """Set `target[key]` unless the value is None, empty text or an empty list."""
    if value is None or value == "" or value == []:
        return
    target[key] = value


def header_value(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """A Kafka header as trimmed text (name matched exactly, then case-insensitively)."""
    if not headers:
        return None
    raw = headers.get(name)
    if raw is None:
        lowered = name.lower()
        for key, value in headers.items():
            if isinstance(key, str) and key.lower() == lowered:
                raw = value
                break
        else:
            return None
    if isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return raw.strip() or None if isinstance(raw, str) else None


def query_param(url_or_query: str, name: str) -> str | None:
    """The first non-empty value of query parameter `name` (not percent-decoded)."""
    start = url_or_query.find("?")
    query = url_or_query[start + 1 :] if start >= 0 else url_or_query
    query = query.split("#", 1)[0]
    prefix = name + "="
    for pair in query.split("&"):
        if pair.startswith(prefix) and len(pair) > len(prefix):
            return pair[len(prefix) :]
    return None


def split_full_name(full: object) -> tuple[str | None, str | None]:
    """(first, last) of a full name: `Last, First` or `First [Middle...] Last`."""
    name = text(full)
    if name is None:
        return None, None
    if "," in name:
        last, _, first = name.partition(",")
        return text(first.split()[0] if first.split() else None), text(last)
    parts = name.split()
    if len(parts) == 1:
        return parts[0], None
    return parts[0], parts[-1]


def content_items(
    items: Iterable[object],
    id_keys: tuple[str, ...],
    *,
    price_key: str = "price",
    title_key: str = "name",
    brand_key: str = "brand",
    category_key: str = "category",
) -> tuple[list[dict[str, Any]], list[str], int]:
    """CAPI `contents`, `content_ids` and `num_items` from a list of product objects.

    An item's id is its first readable `id_keys` value; items without one are left out
    (Meta rejects a content without id). quantity (whole numbers only) and item_price
    (numbers only) are kept when readable; num_items counts an item without quantity as 1.
    """
    contents: list[dict[str, Any]] = []
    ids: list[str] = []
    count = 0
    for item in items:
        if not isinstance(item, Mapping):
            continue
        ident = first_text(*(item.get(key) for key in id_keys))
        if ident is None:
            continue
        content: dict[str, Any] = {"id": ident}
        quantity = integer(item.get("quantity"))
        if quantity is not None and quantity >= 0:
            content["quantity"] = quantity
        price = number(item.get(price_key))
        if price is not None:
            content["item_price"] = price
        put(content, "title", text(item.get(title_key)))
        put(content, "brand", text(item.get(brand_key)))
        put(content, "category", text(item.get(category_key)))
        contents.append(content)
        if ident not in ids:
            ids.append(ident)
        count += quantity if quantity is not None and quantity >= 0 else 1
    return contents, ids, count


def lookup_event(source: str, custom: Mapping[str, str], builtin: Mapping[str, str]) -> str | None:
    """The CAPI event name for a source event name, or None when no map knows it.

    Order: the topic's `event_names`, the format's built-in map, Meta's standard names
    (so a source event already called `purchase` or `Lead` keeps its standard meaning).
    """
    key = event_key(source)
    return custom.get(key) or builtin.get(key) or STANDARD_BY_KEY.get(key)
