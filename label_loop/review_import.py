"""`needlens review add`: texts of a file into the review queue, for analysts to label in the browser.

The file is a `needlens suggest` output (its ``uncertainty`` column says so, and the queue
keeps its order) or any unlabeled file (CSV, TSV, JSONL, XLSX, Parquet). Texts already
labeled in the store are left out, as `suggest` leaves them out; an unusable row is listed
by its number and skipped, and never costs the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from classifier.inference import TextProblem, validate_text
from label_loop.review_queue import QueuedText
from label_loop.store import text_hash
from labeling.tables import PROBLEM, iter_rows, readable_table
from labeling.text_encoding import AUTO

KEPT_COLUMNS = ("domain", "uncertainty", "uncertain_about")
"""Columns kept with a queued text: the queue filters by domain; suggest says what the model doubts."""


@dataclass(frozen=True)
class QueueFile:
    texts: list[QueuedText]
    labeled: int  # texts the label store already has a label for
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason)


def read_queue_file(
    path: Path,
    text_column: str,
    id_column: str | None,
    max_chars: int,
    labeled_hashes: set[str],
    encoding: str = AUTO,
) -> QueueFile:
    wanted = {"text": text_column} | ({"id": id_column} if id_column else {})
    columns, text_encoding = readable_table(path, wanted, encoding)
    origin = f"{'suggest' if 'uncertainty' in columns else 'import'}:{path.name}"
    texts: list[QueuedText] = []
    invalid: list[tuple[int, str]] = []
    labeled = 0
    for row_no, row in enumerate(iter_rows(path, encoding=text_encoding, text_column=text_column), start=1):
        if PROBLEM in row:
            invalid.append((row_no, row[PROBLEM].message))
            continue
        try:
            text = validate_text(row.get(text_column), max_chars)
        except TextProblem as problem:
            invalid.append((row_no, f"{text_column}: {problem}"))
            continue
        if text_hash(text) in labeled_hashes:
            labeled += 1
            continue
        external_id = row.get(id_column) if id_column else row.get("id")
        kept = {name: row[name] for name in KEPT_COLUMNS if row.get(name) not in (None, "")}
        texts.append(QueuedText(text, origin, None if external_id in (None, "") else str(external_id), kept))
    return QueueFile(texts, labeled, invalid)
