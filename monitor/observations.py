"""Labeled rows → observations (time, segment, labels, probabilities, a reference), counting what cannot be used.

Any iterable of dicts shaped like `needlens label` output rows works: a labeled file read
by ``labeling.tables``, rows of a prediction store, or ``DataFrame.to_dict("records")``.
A row that cannot be used is counted and skipped, never fatal: an error row from labeling,
a time that does not parse, labels that are not in the spec.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from classifier.labels import CAUSES, NEEDS, Labels
from labeling.tables import PROBLEM
from monitor.periods import TimeParser

LABELS: tuple[str, ...] = tuple(str(label) for label in (*NEEDS, *CAUSES))
"""Every label the mix is made of, needs first, in the spec's order."""
MISSING_SEGMENT = "(missing)"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ROW_NUMBERS_KEPT = 20
"""Row numbers listed per problem; the count is always complete."""


@dataclass(frozen=True, slots=True)
class Observation:
    time: datetime
    segment: tuple[str, ...]
    labels: frozenset[str]
    probabilities: Mapping[str, float]
    ref: str
    """The row's id, or ``row N`` when it has none: what an alert lists as an example."""


@dataclass
class RowProblems:
    """One kind of unusable row: how many, and the first row numbers (1-based data rows)."""

    count: int = 0
    rows: list[int] = field(default_factory=list)

    def add(self, row: int) -> None:
        self.count += 1
        if len(self.rows) < ROW_NUMBERS_KEPT:
            self.rows.append(row)


@dataclass
class InputReport:
    rows: int = 0
    used: int = 0
    unlabeled: Counter[str] = field(default_factory=Counter)
    """Rows `needlens label` could not label, by their error_code."""
    unreadable: RowProblems = field(default_factory=RowProblems)
    """Rows the file reader could not read (malformed CSV or JSON, bad encoding)."""
    bad_time: RowProblems = field(default_factory=RowProblems)
    bad_labels: RowProblems = field(default_factory=RowProblems)
    first_time: datetime | None = None
    last_time: datetime | None = None


@dataclass(frozen=True)
class Columns:
    time: str
    by: Sequence[str]
    id: str


def clean_text(value: Any) -> str:
    """A cell as printable text: lone surrogates (possible in JSON) and control characters (NUL) become
    visible escapes, so output files encode and charts and terminals show what the cell held."""
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@functools.lru_cache(maxsize=4096)
def _labels(needs: Any, cause: Any) -> frozenset[str] | None:
    """Labels by the spec's rules (English or Chinese names, lists or ``a|b``); few distinct values, so cached."""
    try:
        parsed = Labels.model_validate({"needs": list(needs) if isinstance(needs, tuple) else needs, "cause": cause})
    except (ValidationError, TypeError):
        return None
    return frozenset(str(label) for label in (*parsed.needs, parsed.cause))


def _probabilities(row: Mapping[str, Any]) -> dict[str, float]:
    found: dict[str, float] = {}
    for label in LABELS:
        value = row.get(f"p_{label}")
        try:
            number = float(value) if value not in (None, "") else None
        except (TypeError, ValueError):
            number = None
        if number is not None and 0.0 <= number <= 1.0:
            found[label] = number
    return found


def read_observations(
    rows: Iterable[Mapping[str, Any]], columns: Columns, parse_time: TimeParser, report: InputReport
) -> Iterator[Observation]:
    """The usable rows as observations; ``report`` counts every row and why any was skipped."""
    for number, row in enumerate(rows, start=1):
        report.rows += 1
        if PROBLEM in row:
            report.unreadable.add(number)
            continue
        if row.get("error_code"):
            report.unlabeled[clean_text(row["error_code"])] += 1
            continue
        needs, cause = row.get("needs"), row.get("cause")
        if needs in (None, "", []) and cause in (None, ""):
            report.unlabeled["no labels"] += 1
            continue
        try:
            labels = _labels(_hashable(needs), _hashable(cause))
        except TypeError:  # an unhashable cell (a JSON object) is not a label either
            labels = None
        if labels is None:
            report.bad_labels.add(number)
            continue
        moment = parse_time(row.get(columns.time))
        if moment is None:
            report.bad_time.add(number)
            continue
        report.used += 1
        report.first_time = moment if report.first_time is None else min(report.first_time, moment)
        report.last_time = moment if report.last_time is None else max(report.last_time, moment)
        raw_id = row.get(columns.id)
        yield Observation(
            time=moment,
            segment=tuple(_segment_value(row.get(column)) for column in columns.by),
            labels=labels,
            probabilities=_probabilities(row),
            ref=clean_text(raw_id) if raw_id not in (None, "") else f"row {number}",
        )


def _segment_value(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return MISSING_SEGMENT
    if isinstance(value, float) and value != value:  # NaN from a DataFrame's empty cell
        return MISSING_SEGMENT
    return clean_text(value).strip()
