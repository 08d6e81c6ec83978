"""`needlens suggest`: which unlabeled texts analysts should label next.

Uncertainty sampling with a diversity rule. A text's uncertainty is that of its least
certain decision: for a need, how close its probability sits to the tuned threshold (0 at
the far end, 1 on the threshold); for the cause, one minus the gap between the two most
likely causes. Texts are taken most uncertain first, skipping any that is a near-duplicate
(character n-gram cosine) of one already taken, so 200 suggestions are not 200 versions
of the same complaint. A team whose weak spot is one label can rank by that decision alone
(``about``): the texts on that label's boundary are the ones that teach it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from classifier.inference import DocumentScores, Predictor, TextProblem
from classifier.labels import CAUSES, NEEDS, Decision
from label_loop.store import text_hash
from labeling.rows import row_text
from labeling.tables import ColumnType, iter_rows, readable_table
from labeling.text_encoding import AUTO

UNCERTAIN_LABELS = tuple(str(d) for d in Decision)


@dataclass(frozen=True)
class Suggestion:
    index: int  # into the texts given
    uncertainty: float
    label: str  # the decision it is least sure of


def decision_uncertainty(scores: DocumentScores, thresholds: Sequence[float]) -> np.ndarray:
    """(n, 4) uncertainty in [0, 1] of each need decision and of the cause decision."""
    t = np.asarray(thresholds, dtype=np.float64)
    p = scores.need_probs
    room = np.where(p >= t, 1.0 - t, t)  # distance from the threshold to the end on p's side
    need_u = 1.0 - np.abs(p - t) / np.maximum(room, 1e-9)
    top2 = np.sort(scores.cause_probs, axis=1)[:, -2:]
    cause_u = 1.0 - (top2[:, 1] - top2[:, 0])
    return np.clip(np.column_stack([need_u, cause_u]), 0.0, 1.0)


def char_ngram_vectors(texts: Sequence[str]) -> np.ndarray:
    """L2-normalised character 1–3-gram TF-IDF rows: near-duplicates have cosine near 1."""
    vectors = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True).fit_transform(texts)
    return normalize(vectors)


def select_uncertain(
    uncertainty: np.ndarray,
    vectors: object,
    n: int,
    max_similarity: float,
    exclude: set[int] | None = None,
    about: str | None = None,
) -> list[Suggestion]:
    """Most uncertain first (in the ``about`` decision alone when given); a text too similar
    to one already chosen is passed over."""
    rows = len(uncertainty)
    which = uncertainty.argmax(axis=1) if about is None else np.full(rows, UNCERTAIN_LABELS.index(about))
    per_text = uncertainty[np.arange(rows), which]
    chosen: list[int] = []
    for i in np.argsort(-per_text, kind="stable"):
        if len(chosen) == n:
            break
        if exclude and int(i) in exclude:
            continue
        if chosen:
            similarity = vectors[chosen] @ vectors[int(i)].T  # type: ignore[index]
            if similarity.max() > max_similarity:
                continue
        chosen.append(int(i))
    return [Suggestion(i, float(per_text[i]), UNCERTAIN_LABELS[which[i]]) for i in chosen]


@dataclass(frozen=True)
class SuggestResult:
    rows: list[dict[str, object]]  # ready to write: model's view plus empty needs/cause for the analyst
    considered: int
    invalid: list[tuple[int, str]]  # (row number, why): the rows `label` writes as error rows
    skipped_labeled: int


def _row_id(row: dict[str, object], id_column: str | None, row_no: int) -> str:
    """Without --id-column an `id` column is the id, as `label` and `review add` read it (row
    numbers alone did not join the suggestions back to their source); a row without one, or
    --id-column '', is numbered. An empty id cell stays empty: a row number there could equal
    another row's real id."""
    column = "id" if id_column is None else id_column
    if not column or (id_column is None and column not in row):
        return str(row_no)
    value = row.get(column)
    return "" if value is None else str(value)


def suggest_from_table(
    predictor: Predictor,
    path: Path,
    text_column: str,
    id_column: str | None,
    n: int,
    max_similarity: float,
    labeled_hashes: set[str],
    max_chars: int,
    about: str | None = None,
    encoding: str = AUTO,
) -> SuggestResult:
    """Score every usable row of a table and pick ``n`` to label; texts already in the label store are left out."""
    _, text_encoding = readable_table(path, {"text": text_column} | ({"id": id_column} if id_column else {}), encoding)
    texts: list[str] = []
    ids: list[str] = []
    invalid: list[tuple[int, str]] = []
    labeled = 0
    for row_no, row in enumerate(iter_rows(path, encoding=text_encoding, text_column=text_column), start=1):
        try:
            text = row_text(row, text_column, max_chars)  # the rows `label` refuses, for the same reasons
        except TextProblem as problem:
            invalid.append((row_no, f"{problem.code}: {problem}"))
            continue
        if text_hash(text) in labeled_hashes:
            labeled += 1
            continue
        texts.append(text)
        ids.append(_row_id(row, id_column, row_no))
    if not texts:
        return SuggestResult([], 0, invalid, labeled)
    scores = predictor.score(texts)
    picked = select_uncertain(
        decision_uncertainty(scores, predictor.config.need_thresholds),
        char_ngram_vectors(texts),
        n,
        max_similarity,
        about=about,
    )
    rows: list[dict[str, object]] = [
        {
            "rank": rank,
            "id": ids[s.index],
            "text": texts[s.index],
            "uncertainty": round(s.uncertainty, 4),
            "uncertain_about": s.label,
            "model_needs": [str(NEEDS[j]) for j in np.flatnonzero(scores.needs[s.index])],
            "model_cause": str(CAUSES[scores.cause[s.index]]),
            **{f"p_{label}": round(float(scores.need_probs[s.index, j]), 4) for j, label in enumerate(NEEDS)},
            **{f"p_{label}": round(float(scores.cause_probs[s.index, j]), 4) for j, label in enumerate(CAUSES)},
            "needs": None,
            "cause": None,
        }
        for rank, s in enumerate(picked, start=1)
    ]
    return SuggestResult(rows, len(texts), invalid, labeled)


SUGGEST_COLUMNS: dict[str, ColumnType] = {
    "rank": "int",
    "id": "string",
    "text": "string",
    "uncertainty": "float",
    "uncertain_about": "string",
    "model_needs": "list",
    "model_cause": "string",
    **{f"p_{label}": "float" for label in (*NEEDS, *CAUSES)},
    "needs": "string",
    "cause": "string",
}
