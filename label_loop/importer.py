"""`needlens labels import` (and `labels gold add`): analysts' label files into the label store.

Every row is checked against the spec; invalid rows are reported by row number and reason
and left out. A file whose needs and cause columns are swapped is refused whole. The valid
rows then pass the arrival checks (``label_loop/admission.py``): a suspicious batch is held in
quarantine with its reason, the rest land together, and importing the same file again adds
nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from classifier.inference import TextProblem, validate_text
from classifier.labels import Labels, field_error_line
from classifier.people import person_name
from label_loop.admission import Admission, admit_batch
from label_loop.arrival import ArrivalCheck
from label_loop.store import LabelStore, NewLabel, label_key
from labeling.tables import PROBLEM, iter_rows, readable_table
from labeling.text_encoding import AUTO
from training.data import DataError


class ImportRefused(DataError):
    """A label file refused whole, before anything reaches the store."""


@dataclass(frozen=True)
class LabelColumns:
    text: str = "text"
    needs: str = "needs"
    cause: str = "cause"
    annotator: str | None = None


@dataclass
class LabelRows:
    entries: list[NewLabel] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)
    conflicts: list[list[int]] = field(default_factory=list)
    """Row numbers of each text the file labels more than once, differently: two readings
    disagreed (or one is a slip), which an analyst should know before the store settles it."""


@dataclass
class ImportReport:
    added: int = 0
    skipped: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)
    admission: Admission = field(default_factory=Admission)
    conflicts: list[list[int]] = field(default_factory=list)


def read_label_rows(path: Path, columns: LabelColumns, source: str, max_chars: int, encoding: str = AUTO) -> LabelRows:
    """The file's valid labels and its invalid rows; refuses a file whose needs and cause
    columns are swapped (most rows read as valid labels only with the two exchanged).
    ``encoding``: of a CSV/TSV/JSONL file, auto or a codec name."""
    wanted = {"text": columns.text, "needs": columns.needs, "cause": columns.cause}
    if columns.annotator:
        wanted["annotator"] = columns.annotator
    _, text_encoding = readable_table(path, wanted, encoding)

    rows = LabelRows()
    swapped = 0
    readings: dict[str, list[tuple[int, tuple[str, ...]]]] = defaultdict(list)  # text → (row, labels) per row
    for row_no, row in enumerate(iter_rows(path, encoding=text_encoding, text_column=columns.text), start=1):
        try:
            if PROBLEM in row:
                raise ValueError(row[PROBLEM])
            text = validate_text(row.get(columns.text), max_chars)
            labels = Labels.model_validate({"needs": row.get(columns.needs), "cause": row.get(columns.cause)})
        except (TextProblem, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            rows.invalid.append((row_no, _one_line(exc)))
            swapped += _reads_swapped(row, columns)
            continue
        try:
            annotator = _annotator(row, columns.annotator)
        except ValueError as exc:
            rows.invalid.append((row_no, f"{columns.annotator}: {exc}"))
            continue
        entry = NewLabel(text, labels, source, annotator=annotator)
        rows.entries.append(entry)
        digest, needs, cause, _ = label_key(entry)
        readings[digest].append((row_no, (needs, cause)))
    if swapped and swapped * 2 > len(rows.entries) + len(rows.invalid):
        raise ImportRefused(
            f"{path}: the needs and cause columns look swapped ({swapped} of {len(rows.entries) + len(rows.invalid)}"
            f" rows hold a cause in {columns.needs!r} and needs in {columns.cause!r}); nothing was imported — "
            "name the columns with --needs-column and --cause-column"
        )
    rows.conflicts = [[n for n, _ in seen] for seen in readings.values() if len({labels for _, labels in seen}) > 1]
    return rows


def import_labels(
    store: LabelStore,
    path: Path,
    columns: LabelColumns = LabelColumns(),
    max_chars: int = 5000,
    make_check: Callable[[], ArrivalCheck] | None = None,
    min_labels: int = 1,
    encoding: str = AUTO,
) -> ImportReport:
    """Import a label file; with checks, suspicious labels are held in quarantine (``admit_batch``)."""
    source = f"import:{path.name}"
    rows = read_label_rows(path, columns, source, max_chars, encoding)
    admission = admit_batch(store, rows.entries, source, make_check, min_labels)
    return ImportReport(admission.added, admission.skipped, rows.invalid, admission, rows.conflicts)


def _annotator(row: dict[str, object], column: str | None) -> str | None:
    """The row's annotator by the one name rule (``classifier.people``); an empty cell is none."""
    value = row.get(column) if column else None
    if value is None or not str(value).strip():
        return None
    return person_name(str(value))


def _reads_swapped(row: dict[str, object], columns: LabelColumns) -> bool:
    try:
        Labels.model_validate({"needs": row.get(columns.cause), "cause": row.get(columns.needs)})
    except ValueError:
        return False
    return True


def _one_line(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(map(field_error_line, errors()))
    return str(exc)
