"""How one input row becomes one output row, for every engine that labels files.

The local engine (``labeling.job``) and the Ray engine (``labeling.ray_engine``) both
call ``label_rows``, so a row gets the same id, kept columns, error or labels whichever
engine labels it: only where the rows come from and where they go differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from classifier.inference import Prediction, Predictor, TextProblem, validate_text
from labeling.passthrough import writable
from labeling.resilient import BatchLabeler, LabelFields, label_isolating_failures
from labeling.tables import PROBLEM, RowProblem

NumberedRow = tuple[int, dict[str, Any]]
"""An input row with its data row number (header excluded, counted from 1)."""


def prediction_fields(prediction: Prediction, text: str) -> LabelFields:
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


def predicted_fields(predictor: Predictor, texts: Sequence[str], explain: bool = False) -> list[LabelFields]:
    """The label fields of each text, in input order."""
    predictions = predictor.predict(texts, explain=explain)
    return [prediction_fields(p, t) for p, t in zip(predictions, texts, strict=True)]


@dataclass(frozen=True)
class RowSpec:
    """Which input fields make an output row, and what every labeled row records."""

    text_column: str
    id_column: str
    kept: dict[str, str]
    """Input column → its name in the output."""
    max_chars: int
    model_version: str


def row_text(row: dict[str, Any], text_column: str, max_chars: int) -> str:
    """The text to label in ``row``, or the ``TextProblem`` that makes it an error row."""
    problem = row.get(PROBLEM)
    if isinstance(problem, RowProblem):
        raise TextProblem(problem.code, problem.message)
    if text_column not in row:
        raise TextProblem("missing", f"no {text_column!r} field in this row")
    return validate_text(row[text_column], max_chars)


def label_rows(chunk: list[NumberedRow], spec: RowSpec, label: BatchLabeler) -> list[dict[str, Any]]:
    """The output row of each input row, in order. A row whose text cannot be labeled gets
    ``error_code`` and ``error``; the others get ``label``'s fields, from one call for the
    whole chunk (a text the model fails on costs only its own row)."""
    out: list[dict[str, Any]] = []
    texts: list[str] = []
    pending: list[dict[str, Any]] = []
    for row_no, row in chunk:
        raw_id = row.get(spec.id_column) if spec.id_column else None
        record: dict[str, Any] = {"row": row_no, "id": None if raw_id is None else writable(str(raw_id))}
        record |= {out_name: writable(row.get(name)) for name, out_name in spec.kept.items()}
        record["model_version"] = spec.model_version
        try:
            texts.append(row_text(row, spec.text_column, spec.max_chars))
            pending.append(record)
        except TextProblem as problem:
            record["error_code"], record["error"] = problem.code, str(problem)
        out.append(record)
    for record, result in zip(pending, label_isolating_failures(label, texts), strict=True):
        if isinstance(result, TextProblem):
            record["error_code"], record["error"] = result.code, str(result)
        else:
            record.update(result)
    return out
