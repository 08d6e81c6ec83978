"""Which input columns a labeled file keeps, under which names, with values every format can hold.

Analysts join labels back to their data, and monitoring groups labels by time and segment,
so the output keeps the input's columns beside the labels. A kept column whose name the
labels already use (an input that has ``needs`` or ``cause`` of its own) is renamed with an
``input_`` prefix rather than overwritten or overwriting.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from classifier.labels import LONE_SURROGATE
from labeling.tables import ColumnType, TableError, column_names

INPUT_PREFIX = "input_"
MAX_KEPT_COLUMNS = 1_000
"""Beyond this many input columns a job must pick them (``--columns``): a JSONL file whose every line
brings a new key would otherwise write an output of rows × keys cells, almost all of them empty."""


def column_list(spec: str | None) -> list[str] | None:
    """``--columns a,b`` as names: None (no flag) keeps every column, '' keeps none."""
    if spec is None:
        return None
    return [name.strip() for name in spec.split(",") if name.strip()]


@dataclass(frozen=True)
class KeptColumns:
    names: dict[str, str]
    """Input column → its name in the output."""
    kinds: dict[str, ColumnType]
    """Output name → how it is written."""

    @property
    def renamed(self) -> dict[str, str]:
        return {source: out for source, out in self.names.items() if source != out}


def keep_columns(
    available: list[str],
    wanted: list[str] | None,
    kinds: dict[str, ColumnType],
    reserved: Iterable[str],
    skip: Iterable[str] = (),
) -> KeptColumns:
    """The input columns to carry into the output (``wanted``, or all), less ``skip``, renamed
    away from the ``reserved`` label columns. An unknown name in ``wanted`` is an error."""
    if wanted is not None:
        unknown = [name for name in wanted if name not in available]
        if unknown:
            raise TableError(
                f"--columns: no column {', '.join(map(repr, unknown))} in the input "
                f"(columns: {column_names(available)})"
            )
    label_names, skipped = set(reserved), set(skip)
    chosen = [c for c in dict.fromkeys(available if wanted is None else wanted) if c not in skipped]
    if wanted is None and len(chosen) > MAX_KEPT_COLUMNS:  # columns named one by one are the user's choice
        raise TableError(
            f"the input has {len(chosen):,} columns to keep, more than {MAX_KEPT_COLUMNS:,}: name the ones "
            "to keep with --columns a,b (or --columns '' for none)"
        )
    taken = label_names | set(available)
    names: dict[str, str] = {}
    for column in chosen:
        out = column or f"column_{available.index(column) + 1}"  # a JSONL key "" names no header cell
        if column in label_names or out != column:
            while out in taken:
                out = INPUT_PREFIX + out
            taken.add(out)
        names[column] = out
    return KeptColumns(names, {out: kinds[column] for column, out in names.items()})


def writable(value: Any) -> Any:
    """``value`` as JSON carries it and every output format can encode it: lone surrogates
    (and bytes the decoder could not read) become U+FFFD, dates ISO 8601 text, NaN null,
    other objects their text."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {writable(str(key)): writable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [writable(item) for item in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return writable(str(value))
