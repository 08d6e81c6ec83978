"""`needlens label`: label a feedback file of any size, writing as it goes and resuming after a stop.

Finished rows go to a journal (``OUTPUT.partial.jsonl``) one chunk at a time, in input order,
flushed to disk before the next chunk starts. A rerun of the same command skips the rows the
journal holds, so an interruption loses at most the chunk in flight and never duplicates a
row. When every row is done the journal is converted to the requested format and removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from classifier.inference import Prediction, Predictor, TextProblem, validate_text
from classifier.labels import CAUSES, NEEDS
from classifier.tabular import PROBLEM, ColumnType, TableError, count_rows, iter_rows, require_columns, write_table

if TYPE_CHECKING:
    from classifier.workers import WorkerPool

OUTPUT_COLUMNS: dict[str, ColumnType] = {
    "row": "int",
    "id": "string",
    "needs": "list",
    "cause": "string",
    **{f"p_{label}": "float" for label in (*NEEDS, *CAUSES)},
    "truncated": "bool",
    "needs_review": "list",
    "segments": "json",
    "evidence": "json",
    "model_version": "string",
    "error_code": "string",
    "error": "string",
}


def prediction_fields(prediction: Prediction, text: str) -> dict[str, Any]:
    """The label part of an output row, shared by every output format."""
    segments = prediction.segments and [
        {"start": s.start, "end": s.end, "text": text[s.start : s.end], "needs": s.needs, "cause": s.cause}
        for s in prediction.segments
    ]
    evidence = prediction.evidence and {
        label: [asdict(span) for span in spans] for label, spans in prediction.evidence.items()
    }
    return {
        "needs": prediction.needs,
        "cause": prediction.cause,
        **{f"p_{k}": round(v, 6) for k, v in (prediction.need_probs | prediction.cause_probs).items()},
        "truncated": prediction.truncated,
        "needs_review": prediction.needs_review,
        "segments": segments,
        "evidence": evidence,
    }


@dataclass
class LabelSummary:
    output: Path
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


def _signature(path: Path) -> str:
    """Cheap identity of an input file: size plus hashes of its head and tail."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 16))
        handle.seek(max(0, size - (1 << 16)))
        digest.update(handle.read())
    return digest.hexdigest()


class Journal:
    """The append-only record of finished rows behind a label job."""

    def __init__(self, output: Path) -> None:
        self.path = output.with_name(output.name + ".partial.jsonl")

    def resume(self, meta: dict[str, Any]) -> int:
        """Rows already done by an earlier run of this same job (0 when starting fresh)."""
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
            raise TableError(
                f"{self.path} belongs to a different job (input, columns or model changed); delete it to start over"
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
    ) -> None:
        self.predictor = predictor
        self.pool = pool  # label in worker processes instead of with ``predictor`` itself
        self.chunk_rows = chunk_rows
        self.max_chars = max_chars
        self.explain = explain
        self.n_examples = n_examples

    def run(self, source: Path, output: Path, text_column: str, id_column: str, progress: bool = True) -> LabelSummary:
        started = time.monotonic()
        if output.resolve() == source.resolve():
            raise TableError(f"{output}: output would overwrite the input")
        require_columns(source, {"text": text_column, "id": id_column})
        output.parent.mkdir(parents=True, exist_ok=True)
        journal = Journal(output)
        meta = {
            "input": str(source.resolve()),
            "signature": _signature(source),
            "text_column": text_column,
            "id_column": id_column,
            "model_version": self.predictor.version,
            "explain": self.explain,
        }
        done = journal.resume(meta)
        summary = LabelSummary(output=output, resumed_rows=done)
        rows = enumerate(iter_rows(source, skip=done), start=done + 1)
        with tqdm(total=count_rows(source), initial=done, unit="row", disable=not progress, dynamic_ncols=True) as bar:
            while chunk := list(islice(rows, self.chunk_rows)):
                journal.append(self._label_chunk(chunk, text_column, id_column, summary))
                bar.update(len(chunk))
        write_table(self._tally(journal.rows(), summary), output, OUTPUT_COLUMNS)
        journal.path.unlink()
        summary.seconds = time.monotonic() - started
        return summary

    def _label_chunk(
        self, chunk: list[tuple[int, dict[str, Any]]], text_column: str, id_column: str, summary: LabelSummary
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        texts: list[str] = []
        pending: list[dict[str, Any]] = []
        for row_no, row in chunk:
            raw_id = row.get(id_column)
            record: dict[str, Any] = {"row": row_no, "id": None if raw_id is None else str(raw_id)}
            record["model_version"] = self.predictor.version
            try:
                if PROBLEM in row:
                    raise TextProblem("unparseable", row[PROBLEM])
                if text_column not in row:
                    raise TextProblem("missing", f"no {text_column!r} field in this row")
                texts.append(validate_text(row[text_column], self.max_chars))
                pending.append(record)
            except TextProblem as problem:
                record["error_code"], record["error"] = problem.code, str(problem)
            out.append(record)
        if self.pool is not None:
            fields = self.pool.label(texts, self.explain)
        else:
            predictions = self.predictor.predict(texts, explain=self.explain)
            fields = [prediction_fields(p, t) for p, t in zip(predictions, texts, strict=True)]
        for record, text, label_fields in zip(pending, texts, fields, strict=True):
            record.update(label_fields)
            if len(summary.examples) < self.n_examples:
                summary.examples.append((text, record))
        return out

    @staticmethod
    def _tally(rows: Iterator[dict[str, Any]], summary: LabelSummary) -> Iterator[dict[str, Any]]:
        """Count labels and errors over every row, resumed ones included, while the output is written."""
        for row in rows:
            summary.rows += 1
            if row.get("error_code"):
                summary.error_counts[row["error_code"]] += 1
            else:
                summary.labeled += 1
                summary.to_review += bool(row["needs_review"])
                summary.need_counts.update(row["needs"])
                summary.cause_counts[row["cause"]] += 1
            yield row
