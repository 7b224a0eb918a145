"""CSV offline conversions: one row of a CRM export -> one native event via a mapping.

Rows are read by column name with a declarative mapping (`streams.domain.formats.declarative`)
whose paths are column names. A column that appears several times (Meta's offline template
allows `email,email,phone,...`) gives a list of its non-empty cells. Empty cells count as
missing. Rows without an action_source become `physical_store` events, which Meta accepts up
to 62 days after the conversion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, Final

from streams.domain.formats.declarative import MappingSpec
from streams.domain.formats.result import FormatOptions, MapResult

__all__ = ["DEFAULT_ACTION_SOURCE", "RowProblem", "map_row", "row_dict"]

DEFAULT_ACTION_SOURCE: Final = "physical_store"
_BOM: Final = "\ufeff"


class RowProblem(StrEnum):
    """Why a CSV row is skipped before mapping. Closed set: report labels."""

    EMPTY_ROW = "empty_row"  # every cell is blank
    EXTRA_CELLS = "extra_cells"  # more cells than header columns (an unquoted separator?)


def row_dict(header: Sequence[str], cells: Sequence[str]) -> dict[str, Any] | RowProblem:
    """Column name -> cell text (a list for repeated columns); missing cells are left out."""
    if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
        return RowProblem.EXTRA_CELLS
    row: dict[str, Any] = {}
    for position, (name, cell) in enumerate(zip(header, cells, strict=False)):
        column = (name.removeprefix(_BOM) if position == 0 else name).strip()
        value = cell.strip()
        if not column or not value:
            continue
        current = row.get(column)
        if current is None:
            row[column] = value
        elif isinstance(current, list):
            current.append(value)
        else:
            row[column] = [current, value]
    if not row:
        return RowProblem.EMPTY_ROW
    return row


def map_row(
    row: Mapping[str, Any], mapping: MappingSpec, options: FormatOptions | None = None
) -> MapResult:
    """The native event of one row (see `row_dict`); physical_store unless mapped."""
    event, note = mapping.apply(row, options or FormatOptions())
    if event is not None and event.get("action_source") in (None, ""):
        event["action_source"] = DEFAULT_ACTION_SOURCE
    return MapResult(
        (event,) if event is not None else (), (note,) if note is not None else (), mapping.format
    )
