"""`needlens label … --store`: every labeled row's prediction into the prediction store, as the job goes.

A chunk's predictions are stored before the chunk is written to the job's journal, and each
row's origin (the job: input, its content and columns, the model; and the row number) is unique
in the store. So a job stopped anywhere and resumed stores every row once: a row the journal
holds was stored; a row labeled again after a stop between storing and journaling is skipped by
its origin. Labeling the same file with the same model again (``--restart``, or a second run)
stores nothing new. Rows that got an error instead of labels are not stored.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from classifier.labels import CAUSES, NEEDS
from label_loop.predictions import TIME_FIELD, NewPrediction, PredictionStore, label_source
from label_loop.store import LabelStoreError
from labeling.job import JOB_FILE_SUFFIXES
from labeling.passthrough import writable
from labeling.plan import LabelPlan
from labeling.resilient import LabelingStopped
from labeling.rows import NumberedRow
from labeling.tables import TableError
from monitor.periods import is_unreadable_time

LABELS = tuple(str(label) for label in (*NEEDS, *CAUSES))
PREDICTION_FIELDS = (
    *("row", "id", "needs", "cause"),
    *(f"p_{label}" for label in LABELS),
    *("truncated", "needs_review", "segments", "evidence"),
)
"""What a stored prediction keeps of an output row: its labels, not the kept input columns."""


@dataclass(frozen=True)
class PredictionSink:
    store: PredictionStore
    source: str
    text_column: str
    time_column: str | None
    """The input column whose value is stored as the text's ``time``; None: the input has none."""
    by: tuple[str, ...]
    """Input columns stored as segment fields, under their own names."""
    keep_text: bool
    job: dict[str, Any]
    """The label job's identity (``LabelPlan.identity``): with the model version, what a row's origin names."""
    notes: tuple[str, ...] = ()
    unreadable_time_rows: list[int] = field(default_factory=list)
    """Rows stored this run whose time the monitor will skip, for the job to say so at its end."""

    def identity(self) -> dict[str, Any]:
        """What the job's journal records, so that resuming with other storing options is refused as another job."""
        return {
            "store": str(self.store.path.resolve()),
            "time_column": self.time_column,
            "by": list(self.by),
            "keep_text": self.keep_text,
        }

    def store_chunk(self, chunk: Sequence[NumberedRow], records: Sequence[dict[str, Any]]) -> None:
        """Store the labeled rows of a chunk in one transaction; a store that fails stops the job,
        its finished rows kept."""
        entries_by_row = [
            (row_no, self._entry(row_no, row, record))
            for (row_no, row), record in zip(chunk, records, strict=True)
            if not record.get("error_code")
        ]
        entries = [entry for _, entry in entries_by_row]
        if not entries:
            return
        try:
            self.store.add(entries)
            self.unreadable_time_rows.extend(
                row_no for row_no, entry in entries_by_row if is_unreadable_time(entry.metadata.get(TIME_FIELD))
            )
        except (LabelStoreError, sqlite3.Error) as exc:
            raise LabelingStopped(
                f"{self.store.path}: cannot store predictions ({exc}); finished rows are kept, "
                "rerun the same command to resume"
            ) from None

    def _entry(self, row_no: int, row: dict[str, Any], record: dict[str, Any]) -> NewPrediction:
        metadata = {column: writable(row.get(column)) for column in self.by}
        if self.time_column is not None:
            metadata[TIME_FIELD] = writable(row.get(self.time_column))
        return NewPrediction(
            text=row[self.text_column],
            source=self.source,
            model_version=record["model_version"],
            needs=record["needs"],
            cause=record["cause"],
            probabilities={label: record[f"p_{label}"] for label in LABELS},
            needs_review=bool(record["needs_review"]),
            prediction={name: record.get(name) for name in PREDICTION_FIELDS},
            metadata=metadata,
            keep_text=self.keep_text,
            origin=f"{self._job_key(record['model_version'])}:{row_no}",
        )

    def _job_key(self, model_version: str) -> str:
        digest = hashlib.sha256(json.dumps([self.job, model_version], sort_keys=True).encode("utf-8"))
        return f"label:{digest.hexdigest()[:20]}"


def check_store_path(store: Path, plan: LabelPlan) -> None:
    """The store is a database the job writes chunk by chunk. Named as the input, the output (which
    the job replaces at the end) or one of the job's files beside it, it overwrote them or was
    overwritten, and every prediction in it was lost."""
    store = store.resolve()
    output = plan.output.resolve()
    own_files = {output.with_name(output.name + suffix) for suffix in JOB_FILE_SUFFIXES}
    if store == plan.source.resolve():
        raise TableError(f"--store: {store} is the input; name a separate database file")
    if store == output or store in own_files:
        raise TableError(
            f"--store: {store} is the output or one of the job's files beside it; name a separate database file"
        )


def plan_storing(
    plan: LabelPlan,
    keep_text: bool,
    time_column: str,
    by: Sequence[str],
    time_given: bool,
) -> Callable[[PredictionStore], PredictionSink]:
    """Check the storing options against the input, before the model loads; what it returns makes
    the sink once the store is open, which the caller does after the model has loaded: a run
    refused for its options or its model creates no database file.

    ``by`` columns must exist; the time column must too when ``time_given`` (a flag), while a
    default one missing from the input only costs a note (its rows carry no time)."""
    available = plan.input_columns
    missing = [column for column in by if column not in available]
    if missing:
        raise TableError(f"--by: no column {', '.join(map(repr, missing))} in {plan.source.name}")
    if TIME_FIELD in by:
        raise TableError(f"--by {TIME_FIELD}: the store keeps each text's time under that name, not a segment")
    notes: tuple[str, ...] = ()
    chosen: str | None = time_column
    if time_column not in available:
        if time_given:
            raise TableError(f"--time-column: no column {time_column!r} in {plan.source.name}")
        chosen = None
        notes = (
            f"no {time_column!r} column in {plan.source.name}: stored predictions carry no time, and monitoring "
            "counts them when they were stored (--time-column names another)",
        )
    return partial(
        PredictionSink,
        source=label_source(plan.source.name),
        text_column=plan.text_column,
        time_column=chosen,
        by=tuple(dict.fromkeys(by)),
        keep_text=keep_text,
        job=plan.identity(),
        notes=notes,
    )
