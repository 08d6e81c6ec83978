"""`needlens label`: label a feedback file of any size, writing as it goes and resuming after a stop.

Finished rows go to a journal (``OUTPUT.partial.jsonl``) one chunk at a time, in input order,
flushed to disk before the next chunk starts. A rerun of the same command skips the rows the
journal holds, so an interruption loses at most the chunk in flight and never duplicates a
row. When every row is done the journal is converted to the requested format and removed.
Every check that can fail without labeling (``labeling.plan``) has passed before.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout
from tqdm import tqdm

from classifier.inference import Predictor
from labeling.plan import LabelPlan
from labeling.resilient import LabelingStopped
from labeling.rows import NumberedRow, RowSpec, label_rows, predicted_fields
from labeling.tables import STAGING_SUFFIX, TableError, iter_rows, write_table

if TYPE_CHECKING:
    from labeling.prediction_sink import PredictionSink
    from labeling.workers import WorkerPool


@dataclass
class LabelSummary:
    output: Path | str
    """A file, or the Ray engine's output folder (a path or a URI)."""
    rows: int = 0
    labeled: int = 0
    to_review: int = 0
    resumed_rows: int = 0
    seconds: float = 0.0
    need_counts: Counter[str] = field(default_factory=Counter)
    cause_counts: Counter[str] = field(default_factory=Counter)
    error_counts: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return self.rows - self.labeled

    def count(self, row: dict[str, Any]) -> None:
        """Count one output row's labels, or its error."""
        self.rows += 1
        if row.get("error_code"):
            self.error_counts[row["error_code"]] += 1
        else:
            self.labeled += 1
            self.to_review += bool(row["needs_review"])
            self.need_counts.update(row["needs"])
            self.cause_counts[row["cause"]] += 1

    def merge(self, other: LabelSummary) -> None:
        """Add the counts of rows another worker labeled."""
        self.rows += other.rows
        self.labeled += other.labeled
        self.to_review += other.to_review
        self.need_counts.update(other.need_counts)
        self.cause_counts.update(other.cause_counts)
        self.error_counts.update(other.error_counts)


JOB_FACTS = {
    "input": "the input file",
    "signature": "the input's contents",
    "text_column": "the text column",
    "id_column": "the id column",
    "columns": "the kept columns",
    "model_version": "the model",
    "explain": "--explain",
    "store": "--store",
}
"""The job identity's keys (``LabelPlan.identity`` and what the job adds) as a user knows them."""


JOURNAL_SUFFIX, LOCK_SUFFIX = ".partial.jsonl", ".lock"
JOB_FILE_SUFFIXES = (JOURNAL_SUFFIX, LOCK_SUFFIX, STAGING_SUFFIX)
"""What a job writes beside ``OUTPUT``: its journal, its lock, the staging copy of the output."""


class Journal:
    """The append-only record of finished rows behind a label job."""

    def __init__(self, output: Path) -> None:
        self.path = output.with_name(output.name + JOURNAL_SUFFIX)

    def resume(self, meta: dict[str, Any], restart: bool = False) -> int:
        """Rows already done by an earlier run of this same job (0 when starting fresh);
        ``restart`` discards an earlier run's rows, whatever job they belonged to."""
        if restart:
            self.path.unlink(missing_ok=True)
        if not self.path.exists():
            self.path.write_text(json.dumps({"_meta": meta}, ensure_ascii=False) + "\n", encoding="utf-8")
            return 0
        with self.path.open("rb+") as handle:
            data = handle.read()
            complete = data[: data.rfind(b"\n") + 1]  # drop a line cut off by a crash mid-write
            handle.truncate(len(complete))
        lines = complete.decode("utf-8").splitlines()
        saved = json.loads(lines[0]).get("_meta") if lines else None
        if saved != meta:
            changed = sorted(k for k in meta.keys() | (saved or {}).keys() if (saved or {}).get(k) != meta.get(k))
            raise TableError(
                f"{self.path} holds an unfinished run of a different job "
                f"({', '.join(JOB_FACTS.get(k, k) for k in changed)} changed); "
                "rerun with --restart to discard it and start over"
            )
        return len(lines) - 1

    def append(self, rows: list[dict[str, Any]]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            handle.flush()
            os.fsync(handle.fileno())

    def rows(self) -> Iterator[dict[str, Any]]:
        with self.path.open(encoding="utf-8") as handle:
            next(handle)
            for line in handle:
                yield json.loads(line)


class LabelJob:
    def __init__(
        self,
        predictor: Predictor,
        chunk_rows: int,
        max_chars: int,
        explain: bool = False,
        n_examples: int = 5,
        pool: WorkerPool | None = None,
        sink: PredictionSink | None = None,
    ) -> None:
        self.predictor = predictor
        self.pool = pool  # label in worker processes instead of with ``predictor`` itself
        self.sink = sink  # store each chunk's predictions (`--store`) before it is journaled
        self.chunk_rows = chunk_rows
        self.max_chars = max_chars
        self.explain = explain
        self.n_examples = n_examples

    def run(
        self, plan: LabelPlan, restart: bool = False, progress: bool = True, log: Callable[[str], None] | None = None
    ) -> LabelSummary:
        """Label ``plan``'s input into its output, continuing an unfinished run of the same job
        unless ``restart``; ``log`` hears the plan's notes once the job is sure to start. Stops
        with ``LabelingStopped`` (finished rows kept) when the model or the disk fails; a bad
        row never stops it."""
        started = time.monotonic()
        journal = Journal(plan.output)
        meta = {**plan.identity(), "model_version": self.predictor.version, "explain": self.explain}
        if self.sink is not None:
            meta["store"] = self.sink.identity()
        done = journal.resume(meta, restart)
        for note in [*plan.notes(), *(self.sink.notes if self.sink else ())] if log else []:
            log(note)
        summary = LabelSummary(output=plan.output, resumed_rows=done)
        rows = enumerate(
            iter_rows(plan.source, skip=done, encoding=plan.encoding, text_column=plan.text_column), start=done + 1
        )
        try:
            with tqdm(total=plan.total_rows, initial=done, unit="row", disable=not progress, dynamic_ncols=True) as bar:
                while chunk := list(islice(rows, self.chunk_rows)):
                    labeled = self._label_chunk(chunk, plan, summary)
                    if self.sink is not None:
                        self.sink.store_chunk(chunk, labeled)
                    journal.append(labeled)
                    bar.update(len(chunk))
            written = write_table(self._tally(journal.rows(), summary), plan.output, plan.output_columns)
            for note in written if log else []:
                log(note)
        except OSError as exc:
            raise LabelingStopped(
                f"{exc.filename or plan.output}: cannot write ({exc.strerror}); finished rows are kept, "
                "rerun the same command to resume"
            ) from None
        journal.path.unlink()
        summary.seconds = time.monotonic() - started
        return summary

    def _label_chunk(self, chunk: list[NumberedRow], plan: LabelPlan, summary: LabelSummary) -> list[dict[str, Any]]:
        spec = RowSpec(plan.text_column, plan.id_column, plan.kept.names, self.max_chars, self.predictor.version)
        out = label_rows(chunk, spec, self._label)
        for (_, row), record in zip(chunk, out, strict=True):
            if len(summary.examples) >= self.n_examples:
                break
            if "error_code" not in record:
                summary.examples.append((row[plan.text_column], record))
        return out

    def _label(self, texts: list[str]) -> list[dict[str, Any]]:
        if self.pool is not None:
            return self.pool.label(texts, self.explain)
        return predicted_fields(self.predictor, texts, self.explain)

    @staticmethod
    def _tally(rows: Iterator[dict[str, Any]], summary: LabelSummary) -> Iterator[dict[str, Any]]:
        """Count labels and errors over every row, resumed ones included, while the output is written."""
        for row in rows:
            summary.count(row)
            yield row


@contextmanager
def only_job_writing(output: Path) -> Iterator[None]:
    """Hold ``OUTPUT.lock`` for a job, from before its model loads: two jobs on one output appended
    to one journal and shared one staging file, so the output held rows twice. The second is
    refused at once. The lock file stays: deleting it while held lets a waiting process lock the
    old file as a third creates a new one (filelock's own warning)."""
    lock = FileLock(output.with_name(output.name + LOCK_SUFFIX), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise TableError(
            f"{output}: another `needlens label` job is writing it (it holds {lock.lock_file}); "
            "wait for that job, or name another output"
        ) from None
    try:
        yield
    finally:
        lock.release()
