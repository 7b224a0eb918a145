"""Declarative mappings: any JSON shape (or CSV row) -> native event, configured, not coded.

A mapping is a table from CAPI field paths to sources, as it comes from TOML:

    [mappings.shop_orders]
    event_name = { path = "topic", map = { "orders/paid" = "Purchase" } }
    event_time = { path = "created_at", transform = "unix_seconds" }
    action_source = { const = "website" }
    event_id = "id"                                   # a plain string is a path
    "user_data.em" = "customer.email"
    user_data.fn = { path = "customer.name", transform = "first_name" }
    "custom_data.contents" = { each = "line_items", fields = { id = "sku", quantity = "qty" } }

Targets: top-level CAPI server-event fields, `dataset_id`, `fbclid`, and `<object>.<key>` for
user_data (CAPI keys or aliases), custom_data (any key), app_data, original_event_data and
attribution_data (their keys). A whole object (`user_data = "path.to.object"`) may be mapped
too; its specific keys win. TOML sub-tables (`[mappings.x.user_data]`) are read the same way.

Sources (exactly one of):
  * `"a.b.0.c"` or `{ path = "..." }` - a dotted path; digits index lists, `*` collects from
    every list element; a key that itself contains dots (a CSV column) is found as a whole;
  * `{ paths = ["a", "b"] }` - the first path with a value;
  * `{ const = value }` - a constant;
  * `{ each = "path", fields = { key = source, ... } }` - one object per list element, its
    sources read relative to the element (for contents).
Options: `transform` (one name or a list, applied in order), `split` (text -> list on a
separator), `time_format` (strptime pattern for `unix_seconds`), `utc_offset` ("+01:00", for
times without an offset), `map` (value -> value; for event_name a missing value follows the
topic's unknown-event policy, elsewhere it is kept), `default`, `required` (a missing value makes
the message unmapped with `missing_mapped_field`).
Transforms: unix_seconds, lower, upper, trim, first_name, last_name (split a full name),
digits, number (also `1.234,50` and `1,234.50`: the last mark is the decimal one; a lone comma
is a decimal comma; currency signs are ignored), cents (number / 100), string, bool, date (the
date part of a date-time).
A transform that cannot read a value leaves it unchanged, so the transform's own check
reports it (e.g. `invalid_event_time`). Null, empty text and empty lists count as missing.

Mistakes raise `MappingError(name, key, message)` from `parse_mapping` at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any, Final

from streams.domain.event_time import MS_THRESHOLD
from streams.domain.formats.result import (
    FormatOptions,
    MapResult,
    UnmappableReason,
    Unmapped,
    UnmappedAction,
    event_key,
)
from streams.domain.formats.values import number, split_full_name, text
from streams.domain.model import (
    APP_DATA_KEYS,
    ATTRIBUTION_DATA_KEYS,
    INPUT_ONLY_KEYS,
    ORIGINAL_EVENT_DATA_KEYS,
    SERVER_EVENT_KEYS,
    USER_DATA_KEYS,
)
from streams.domain.normalize import ALIASES

__all__ = [
    "MAPPING_NAME",
    "TRANSFORMS",
    "MappingError",
    "MappingSpec",
    "map_declarative",
    "parse_mapping",
    "parse_mappings",
]

MAPPING_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""Allowed mapping names (they appear in the format name `mapping:<name>`, a metric label)."""

_MICROS_THRESHOLD: Final = 100_000_000_000_000  # numbers above are microseconds
_OBJECT_TARGETS: Final[Mapping[str, frozenset[str] | None]] = {
    "user_data": frozenset(USER_DATA_KEYS | ALIASES.keys() | {"fbclid"}),
    "custom_data": None,  # any key: custom properties are allowed
    "app_data": APP_DATA_KEYS,
    "original_event_data": ORIGINAL_EVENT_DATA_KEYS,
    "attribution_data": ATTRIBUTION_DATA_KEYS,
}
_TOP_TARGETS: Final = SERVER_EVENT_KEYS | INPUT_ONLY_KEYS
_SOURCE_KEYS: Final = frozenset({"path", "paths", "const", "each"})
_OPTION_KEYS: Final = frozenset(
    {"transform", "split", "time_format", "utc_offset", "map", "default", "required", "fields"}
)
_REQUIRED_TARGETS: Final = ("event_name", "event_time")
_OFFSET: Final = re.compile(r"([+-])(\d{2}):?(\d{2})")
_CURRENCY_MARKS: Final = str.maketrans("", "", "$€£¥ \u00a0")
_TRUE: Final = frozenset({"true", "yes", "y", "1"})
_FALSE: Final = frozenset({"false", "no", "n", "0"})


class MappingError(ValueError):
    """A mapping is invalid: its name, the offending key, and what is expected."""

    def __init__(self, name: str, key: str, message: str) -> None:
        where = f"mappings.{name}.{key}" if key else f"mappings.{name}"
        super().__init__(f"{where}: {message}")
        self.name = name
        self.key = key
        self.message = message


class _Missing:
    __slots__ = ()


_MISSING: Final = _Missing()


# ---------------------------------------------------------------- transforms


def _unix_seconds(value: object, time_format: str | None, offset: timezone) -> object:
    found = number(value) if not isinstance(value, str) or time_format is None else None
    if found is not None:
        if found < 0:
            return value
        if found > _MICROS_THRESHOLD:
            return int(found // 1_000_000)
        if found > MS_THRESHOLD:
            return int(found // 1000)
        return int(found)
    if not isinstance(value, str):
        return value
    raw = value.strip()
    try:
        moment = datetime.strptime(raw, time_format) if time_format else datetime.fromisoformat(raw)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=offset)
    return int(moment.timestamp())


def _number(value: object) -> object:
    if isinstance(value, str):
        cleaned = value.translate(_CURRENCY_MARKS)
        if "," in cleaned and "." in cleaned:  # the last mark is the decimal one
            thousands = "," if cleaned.rfind(".") > cleaned.rfind(",") else "."
            cleaned = cleaned.replace(thousands, "")
        cleaned = cleaned.replace(",", ".")
        found = number(cleaned)
        return value if found is None else found
    found = number(value)
    return value if found is None else found


def _cents(value: object) -> object:
    found = number(_number(value))
    if found is None:
        return value
    units = found / 100
    return int(units) if units.is_integer() else round(units, 6)


def _flag(value: object) -> object:
    if isinstance(value, bool):
        return value
    word = text(value)
    if word is not None and word.lower() in _TRUE:
        return True
    if word is not None and word.lower() in _FALSE:
        return False
    return value


def _date(value: object) -> object:
    if isinstance(value, str) and value[:1].isdigit():
        for separator in ("T", " "):
            if separator in value.strip():
                return value.strip().split(separator, 1)[0]
    return value


def _digits(value: object) -> object:
    found = text(value)
    if found is None:
        return value
    return "".join(ch for ch in found if ch.isdigit())


def _str_op(op: Callable[[str], str]) -> Callable[[object], object]:
    def run(value: object) -> object:
        return op(value) if isinstance(value, str) else value

    return run


def _first_name(value: object) -> object:
    return split_full_name(value)[0]


def _last_name(value: object) -> object:
    return split_full_name(value)[1]


_SIMPLE: Final[Mapping[str, Callable[[object], object]]] = {
    "lower": _str_op(str.lower),
    "upper": _str_op(str.upper),
    "trim": _str_op(str.strip),
    "first_name": _first_name,
    "last_name": _last_name,
    "digits": _digits,
    "number": _number,
    "cents": _cents,
    "string": text,
    "bool": _flag,
    "date": _date,
}
TRANSFORMS: Final = frozenset({"unix_seconds", *_SIMPLE})
"""Names accepted in a source's `transform`."""


# ---------------------------------------------------------------- compiled mapping


@dataclass(frozen=True, slots=True)
class _Path:
    raw: str
    parts: tuple[str, ...]
    wild: bool = False  # has a `*` segment


@dataclass(frozen=True, slots=True)
class _Source:
    paths: tuple[_Path, ...] = ()
    const: object = _MISSING
    each: _Path | None = None
    fields: tuple[tuple[str, _Source], ...] = ()
    transforms: tuple[str, ...] = ()
    split: str | None = None
    time_format: str | None = None
    offset: timezone = UTC
    value_map: Mapping[str, object] | None = None
    default: object = _MISSING
    required: bool = False


@dataclass(frozen=True, slots=True)
class MappingSpec:
    """A parsed mapping: (target path, source) pairs, whole objects before their keys."""

    name: str
    fields: tuple[tuple[tuple[str, ...], _Source], ...] = field(repr=False)

    @property
    def format(self) -> str:
        return "mapping:" + self.name

    def targets(self) -> tuple[str, ...]:
        """The mapped CAPI field paths (dotted), in application order."""
        return tuple(".".join(target) for target, _ in self.fields)

    def apply(
        self, obj: Mapping[str, Any], options: FormatOptions
    ) -> tuple[dict[str, Any] | None, Unmapped | None]:
        """The native event for `obj`, or why it cannot be built; a note for custom names."""
        event: dict[str, Any] = {}
        note: Unmapped | None = None
        for target, source in self.fields:
            value, missed = _evaluate(source, obj)
            if value is _MISSING:
                if source.required:
                    reason = UnmappableReason.MISSING_MAPPED_FIELD
                    return None, options.unmapped(reason, ".".join(target))
                continue
            if missed and target == ("event_name",):
                note = options.unknown("event_name")
                if note.action is not UnmappedAction.CUSTOM:
                    return None, note
            _assign(event, target, value)
        return event, note


def _is_missing(value: object) -> bool:
    if value is None or value is _MISSING:
        return True
    if type(value) is str:
        return not value or value.isspace()
    return isinstance(value, (list, dict)) and not value


def _resolve(obj: object, path: _Path) -> object:
    if len(path.parts) > 1 and isinstance(obj, Mapping) and path.raw in obj:
        return obj[path.raw]
    if not path.wild:
        value = obj
        for part in path.parts:
            if type(value) is dict or isinstance(value, Mapping):
                value = value.get(part)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return None
            if value is None:
                return None
        return value
    values: list[object] = [obj]
    collected = False
    for part in path.parts:
        found: list[object] = []
        for value in values:
            if part == "*":
                if isinstance(value, list):
                    found.extend(value)
                collected = True
            elif isinstance(value, list):
                if part.isdigit() and int(part) < len(value):
                    found.append(value[int(part)])
            elif isinstance(value, Mapping):
                found.append(value.get(part))
        values = [value for value in found if value is not None]
        if not values:
            return None
    if collected:
        return values
    return values[0]


def _evaluate(source: _Source, obj: object) -> tuple[object, bool]:
    """(value or _MISSING, whether `map` missed)."""
    value: object = _MISSING
    if source.const is not _MISSING:
        value = source.const
    elif source.each is not None:
        found = _resolve(obj, source.each)
        items = found if isinstance(found, list) else [] if found is None else [found]
        built = []
        for item in items:
            entry: dict[str, Any] = {}
            for key, sub in source.fields:
                sub_value, _ = _evaluate(sub, item)
                if sub_value is not _MISSING:
                    entry[key] = sub_value
            if entry:
                built.append(entry)
        value = built
    else:
        for path in source.paths:
            candidate = _resolve(obj, path)
            if not _is_missing(candidate):
                value = candidate
                break
    missed = False
    if not _is_missing(value):
        if source.split is not None and isinstance(value, str):
            value = [part.strip() for part in value.split(source.split) if part.strip()]
        if isinstance(value, list) and source.each is None:
            converted = [_convert(source, item) for item in value]
            value = [item for item, _ in converted if not _is_missing(item)]
            missed = any(miss for _, miss in converted)
        elif source.each is None:
            value, missed = _convert(source, value)
    if _is_missing(value):
        value = source.default
    return value, missed


def _convert(source: _Source, value: object) -> tuple[object, bool]:
    for name in source.transforms:
        if name == "unix_seconds":
            value = _unix_seconds(value, source.time_format, source.offset)
        else:
            value = _SIMPLE[name](value)
    if source.value_map is None or _is_missing(value):
        return value, False
    key = text(value)
    if key is not None:
        if key in source.value_map:
            return source.value_map[key], False
        folded = event_key(key)
        if folded in source.value_map:
            return source.value_map[folded], False
    return value, True


def _assign(event: dict[str, Any], target: tuple[str, ...], value: object) -> None:
    if len(target) == 1:
        if isinstance(value, Mapping) and isinstance(event.get(target[0]), dict):
            event[target[0]] = {**value, **event[target[0]]}
        else:
            event[target[0]] = dict(value) if isinstance(value, Mapping) else value
        return
    holder = event.get(target[0])
    if not isinstance(holder, dict):
        holder = event[target[0]] = {}
    holder[target[1]] = value


def map_declarative(
    obj: Mapping[str, Any],
    spec: MappingSpec,
    options: FormatOptions,
    received_at: float | None = None,
) -> MapResult:
    """The native event of `obj` under `spec`. `received_at` is unused (mappings say)."""
    del received_at
    event, note = spec.apply(obj, options)
    return MapResult(
        (event,) if event is not None else (), (note,) if note is not None else (), spec.format
    )


# ---------------------------------------------------------------- parsing


def parse_mappings(raw: object) -> dict[str, MappingSpec]:
    """Every mapping of a `[mappings]` table, by name."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise MappingError("*", "", "expected a table of mappings")
    return {str(name): parse_mapping(str(name), table) for name, table in raw.items()}


def parse_mapping(name: str, raw: object) -> MappingSpec:
    """A `MappingSpec` from a plain dict (as TOML gives it); raises `MappingError`."""
    if not MAPPING_NAME.fullmatch(name):
        raise MappingError(name, "", "a mapping name uses letters, digits, '_' and '-' only")
    if not isinstance(raw, Mapping) or not raw:
        raise MappingError(name, "", "expected a table of CAPI field = source")
    pairs: list[tuple[tuple[str, ...], _Source]] = []
    for key, spec in _flatten(name, raw):
        target = _target(name, key)
        pairs.append((target, _source(name, key, spec, nested=False)))
    mapped = {target for target, _ in pairs}
    for required in _REQUIRED_TARGETS:
        if (required,) not in mapped:
            raise MappingError(name, required, "is required in every mapping")
    pairs.sort(key=lambda pair: len(pair[0]))
    return MappingSpec(name, tuple(pairs))


def _flatten(name: str, raw: Mapping[Any, Any], prefix: str = "") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for key, spec in raw.items():
        if not isinstance(key, str) or not key.strip():
            raise MappingError(name, prefix + str(key), "keys must be non-empty strings")
        full = prefix + key
        if isinstance(spec, Mapping) and not _SOURCE_KEYS & spec.keys() and full in _OBJECT_TARGETS:
            out.extend(_flatten(name, spec, full + "."))
        else:
            out.append((full, spec))
    return out


def _target(name: str, key: str) -> tuple[str, ...]:
    parts = tuple(key.split("."))
    if any(not part for part in parts) or len(parts) > 2:
        raise MappingError(name, key, "a target is a CAPI field or <object>.<key>")
    if len(parts) == 1:
        if parts[0] not in _TOP_TARGETS:
            raise MappingError(name, key, "not a CAPI server event field")
        return parts
    allowed = _OBJECT_TARGETS.get(parts[0], frozenset())
    if parts[0] not in _OBJECT_TARGETS:
        raise MappingError(name, key, f"{parts[0]} has no sub-fields")
    if allowed is not None and parts[1] not in allowed:
        raise MappingError(name, key, f"not a {parts[0]} key")
    return parts


def _source(name: str, key: str, spec: object, *, nested: bool) -> _Source:
    if isinstance(spec, str):
        return _Source(paths=(_path(name, key, spec),))
    if not isinstance(spec, Mapping):
        raise MappingError(name, key, "expected a path string or a table with path/paths/const")
    unknown = sorted(str(k) for k in spec if k not in _SOURCE_KEYS | _OPTION_KEYS)
    if unknown:
        raise MappingError(name, key, f"unknown option {unknown[0]!r}")
    given = sorted(_SOURCE_KEYS & spec.keys())
    if len(given) != 1:
        raise MappingError(name, key, "needs exactly one of path, paths, const, each")
    kind = given[0]
    values: dict[str, Any] = {}
    if kind == "path":
        values["paths"] = (_path(name, key + ".path", spec["path"]),)
    elif kind == "paths":
        paths = spec["paths"]
        if not isinstance(paths, list) or not paths:
            raise MappingError(name, key + ".paths", "expected a non-empty list of paths")
        values["paths"] = tuple(_path(name, key + ".paths", p) for p in paths)
    elif kind == "const":
        values["const"] = _constant(name, key + ".const", spec["const"])
    else:
        if nested:
            raise MappingError(name, key + ".each", "each cannot be nested")
        values["each"] = _path(name, key + ".each", spec["each"])
        fields = spec.get("fields")
        if not isinstance(fields, Mapping) or not fields:
            raise MappingError(name, key + ".fields", "each needs a table of key = source")
        values["fields"] = tuple(
            (str(k), _source(name, f"{key}.fields.{k}", v, nested=True)) for k, v in fields.items()
        )
    if "fields" in spec and kind != "each":
        raise MappingError(name, key + ".fields", "fields belongs to each")
    if kind == "each":
        for option in ("transform", "split", "time_format", "map"):
            if option in spec:
                raise MappingError(name, f"{key}.{option}", "put it on the fields of each")
    values.update(_options(name, key, spec))
    return _Source(**values)


def _options(name: str, key: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    raw = spec.get("transform")
    if raw is not None:
        names = [raw] if isinstance(raw, str) else raw
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise MappingError(name, key + ".transform", "expected a name or a list of names")
        for item in names:
            if item not in TRANSFORMS:
                known = ", ".join(sorted(TRANSFORMS))
                raise MappingError(name, key + ".transform", f"unknown {item!r} (known: {known})")
        out["transforms"] = tuple(names)
    if "split" in spec:
        split = spec["split"]
        if not isinstance(split, str) or not split:
            raise MappingError(name, key + ".split", "expected a non-empty separator")
        out["split"] = split
    if "time_format" in spec:
        pattern = spec["time_format"]
        if "unix_seconds" not in out.get("transforms", ()):
            raise MappingError(name, key + ".time_format", "needs transform unix_seconds")
        if not isinstance(pattern, str) or "%" not in pattern:
            raise MappingError(name, key + ".time_format", "expected a strptime pattern")
        out["time_format"] = pattern
    if "utc_offset" in spec:
        out["offset"] = _offset(name, key + ".utc_offset", spec["utc_offset"])
    if "map" in spec:
        out["value_map"] = _value_map(name, key + ".map", spec["map"])
    if "default" in spec:
        out["default"] = _constant(name, key + ".default", spec["default"])
    if "required" in spec:
        if not isinstance(spec["required"], bool):
            raise MappingError(name, key + ".required", "expected true or false")
        out["required"] = spec["required"]
    return out


def _path(name: str, key: str, raw: object) -> _Path:
    if not isinstance(raw, str) or not raw.strip():
        raise MappingError(name, key, "expected a non-empty path")
    parts = tuple(part.strip() for part in raw.strip().split("."))
    if any(not part for part in parts):
        raise MappingError(name, key, "a path has an empty segment")
    return _Path(raw.strip(), parts, "*" in parts)


def _constant(name: str, key: str, value: object) -> object:
    if isinstance(value, (datetime, date, time)):
        raise MappingError(name, key, "write dates and times as strings")
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, list):
        return [_constant(name, key, item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): _constant(name, key, v) for k, v in value.items()}
    raise MappingError(name, key, "expected a string, number, boolean, list or table")


def _offset(name: str, key: str, raw: object) -> timezone:
    if isinstance(raw, str):
        if raw.strip().upper() in ("Z", "UTC", "+00:00"):
            return UTC
        match = _OFFSET.fullmatch(raw.strip())
        if match:
            sign, hours, minutes = match.groups()
            delta = timedelta(hours=int(hours), minutes=int(minutes))
            if delta < timedelta(hours=24):
                return timezone(-delta if sign == "-" else delta)
    raise MappingError(name, key, "expected an offset like +01:00 or -05:30")


def _value_map(name: str, key: str, raw: object) -> Mapping[str, object]:
    if not isinstance(raw, Mapping) or not raw:
        raise MappingError(name, key, "expected a table of source value = value")
    out: dict[str, object] = {}
    for source, target in raw.items():
        if not isinstance(source, str) or not source.strip():
            raise MappingError(name, key, "source values must be non-empty strings")
        value = _constant(name, f"{key}.{source}", target)
        out[source.strip()] = value
        out.setdefault(event_key(source), value)
    return out
