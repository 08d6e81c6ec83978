"""`needlens labels import`: analysts' label files into the label store.

Every row is checked against the spec; invalid rows are reported by row number and reason
and left out, valid rows land together in one transaction, and importing the same file
again adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from classifier.inference import TextProblem, validate_text
from classifier.labels import Labels
from classifier.tabular import PROBLEM, iter_rows, require_columns
from training.label_store import LabelStore, NewLabel


@dataclass
class ImportReport:
    added: int = 0
    skipped: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)


def import_labels(
    store: LabelStore,
    path: Path,
    text_column: str = "text",
    needs_column: str = "needs",
    cause_column: str = "cause",
    annotator_column: str | None = None,
    max_chars: int = 5000,
) -> ImportReport:
    wanted = {"text": text_column, "needs": needs_column, "cause": cause_column}
    if annotator_column:
        wanted["annotator"] = annotator_column
    require_columns(path, wanted)

    report = ImportReport()
    entries: list[NewLabel] = []
    source = f"import:{path.name}"
    for row_no, row in enumerate(iter_rows(path), start=1):
        try:
            if PROBLEM in row:
                raise ValueError(row[PROBLEM])
            text = validate_text(row.get(text_column), max_chars)
            labels = Labels.model_validate({"needs": row.get(needs_column), "cause": row.get(cause_column)})
        except (TextProblem, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            report.invalid.append((row_no, _one_line(exc)))
            continue
        annotator = row.get(annotator_column) if annotator_column else None
        entries.append(NewLabel(text, labels, source, annotator=None if annotator is None else str(annotator)))
    report.added, report.skipped = store.add_many(entries)
    return report


def _one_line(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors())
    return str(exc)
