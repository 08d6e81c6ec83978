"""`needlens audit`: labeled records whose label the data itself contradicts.

Each record is judged by a model that never saw it: k-fold cross-validated logistic
regressions on the *pretrained* (not fine-tuned) encoder's sentence vectors. A fine-tuned
model would have memorised the very labels being audited, so its agreement would prove
nothing. A record is flagged when that out-of-fold model is at least ``confidence`` sure
one of its labels is wrong; the report suggests the label it would give instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split

from classifier.encoders import build_encoder
from classifier.encoders.base import embed_texts
from classifier.labels import CAUSES, NEEDS, LabeledRecord
from labeling.tables import ColumnType


@dataclass(frozen=True)
class Disagreement:
    label: str  # a need name, or "cause"
    given: str
    suggested: str
    confidence: float  # out-of-fold probability that the given label is wrong


@dataclass(frozen=True)
class AuditFinding:
    record: LabeledRecord
    disagreements: list[Disagreement]
    suggested_needs: list[str]
    suggested_cause: str

    @property
    def confidence(self) -> float:
        return max(d.confidence for d in self.disagreements)


def out_of_fold_probabilities(
    vectors: np.ndarray, need_true: np.ndarray, cause_true: np.ndarray, folds: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) need and (n, 3) cause probabilities, each from a model trained without that record."""
    need_probs = np.zeros(need_true.shape, dtype=np.float64)
    for j in range(need_true.shape[1]):
        need_probs[:, j] = _oof(vectors, need_true[:, j], folds, seed)[:, 1]
    return need_probs, _oof(vectors, cause_true, folds, seed)


_C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)


def _oof(vectors: np.ndarray, y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Out-of-fold class probabilities at the regularisation with the best out-of-fold log-loss,
    so that "90% sure" means about that: the flagging threshold is a probability, not a score."""
    classes = np.unique(y)
    smallest = min(int((y == c).sum()) for c in classes)
    if len(classes) < 2 or smallest < 2:  # nothing to learn a contradiction from
        onehot = np.zeros((len(y), max(int(y.max()) + 1, 2)))
        onehot[np.arange(len(y)), y] = 1.0
        return onehot
    splitter = StratifiedKFold(n_splits=min(folds, smallest), shuffle=True, random_state=seed)
    best, best_loss = None, np.inf
    for c in _C_GRID:
        probs = cross_val_predict(
            LogisticRegression(C=c, max_iter=2000), vectors, y, cv=splitter, method="predict_proba"
        )
        loss = log_loss(y, probs, labels=classes)
        if loss < best_loss:
            best, best_loss = probs, loss
    assert best is not None
    return best


def label_truth(records: Sequence[LabeledRecord]) -> tuple[np.ndarray, np.ndarray]:
    """Multi-hot needs (n, 3) and cause indices (n,) of labeled records."""
    need_true = np.array([[int(n in r.needs) for n in NEEDS] for r in records], dtype=np.int64).reshape(-1, len(NEEDS))
    return need_true, np.array([CAUSES.index(r.cause) for r in records], dtype=np.int64)


def wrong_probabilities(
    need_true: np.ndarray, cause_true: np.ndarray, need_probs: np.ndarray, cause_probs: np.ndarray
) -> np.ndarray:
    """(n, 4): per record, the probability that each need's given yes/no, then the given cause,
    is wrong."""
    need_wrong = np.where(need_true == 1, 1.0 - need_probs, need_probs)
    cause_wrong = 1.0 - cause_probs[np.arange(len(cause_true)), cause_true]
    return np.column_stack([need_wrong, cause_wrong])


def confidently_wrong(
    records: Sequence[LabeledRecord], need_probs: np.ndarray, cause_probs: np.ndarray, confidence: float
) -> np.ndarray:
    """Per record: is the judge at least ``confidence`` sure one of its labels is wrong?"""
    return (wrong_probabilities(*label_truth(records), need_probs, cause_probs) >= confidence).any(axis=1)


def find_label_errors(
    records: Sequence[LabeledRecord],
    need_probs: np.ndarray,
    cause_probs: np.ndarray,
    confidence: float,
) -> list[AuditFinding]:
    """Records with at least one confidently contradicted label, most confident first."""
    need_true, cause_true = label_truth(records)
    wrong = wrong_probabilities(need_true, cause_true, need_probs, cause_probs)
    findings = []
    for i, record in enumerate(records):
        disagreements = [
            Disagreement(str(need), *(("yes", "no") if need_true[i, j] else ("no", "yes")), float(wrong[i, j]))
            for j, need in enumerate(NEEDS)
            if wrong[i, j] >= confidence
        ]
        if wrong[i, len(NEEDS)] >= confidence:
            suggested = str(CAUSES[int(cause_probs[i].argmax())])
            disagreements.append(Disagreement("cause", str(record.cause), suggested, float(wrong[i, len(NEEDS)])))
        if disagreements:
            chosen = [str(n) for j, n in enumerate(NEEDS) if need_probs[i, j] >= 0.5]
            strongest = str(NEEDS[int(need_probs[i].argmax())])
            findings.append(
                AuditFinding(record, disagreements, chosen or [strongest], str(CAUSES[int(cause_probs[i].argmax())]))
            )
    return sorted(findings, key=lambda f: -f.confidence)


def audit_records(
    records: Sequence[LabeledRecord], base_model: str, max_tokens: int, folds: int, confidence: float, seed: int
) -> list[AuditFinding]:
    encoder = build_encoder(base_model, max_tokens)
    vectors = embed_texts(encoder, [r.text for r in records])
    need_true, cause_true = label_truth(records)
    need_probs, cause_probs = out_of_fold_probabilities(vectors, need_true, cause_true, folds, seed)
    return find_label_errors(records, need_probs, cause_probs, confidence)


class LabelClassifiers:
    """The audit's classifiers fitted once on reference labels, to judge texts they never saw
    (an arriving batch) without the k refits out-of-fold judging needs. Each regularisation is
    picked by log-loss on a quarter of the reference, then refitted on all of it."""

    def __init__(self, vectors: np.ndarray, need_true: np.ndarray, cause_true: np.ndarray, seed: int) -> None:
        self._needs = [_fit_best(vectors, need_true[:, j], 2, seed) for j in range(len(NEEDS))]
        self._cause = _fit_best(vectors, cause_true, len(CAUSES), seed)

    def probabilities(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, 3) need probabilities and (n, 3) cause probabilities."""
        return np.column_stack([fit(vectors)[:, 1] for fit in self._needs]), self._cause(vectors)


def _fit_best(vectors: np.ndarray, y: np.ndarray, n_classes: int, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    counts = np.bincount(y, minlength=n_classes)
    present = np.flatnonzero(counts)
    if len(present) < 2 or counts[present].min() < 2:  # nothing to learn a contradiction from: the prior
        prior = (counts + 1.0) / (counts.sum() + n_classes)
        return lambda x: np.tile(prior, (len(x), 1))
    fit_idx, check_idx = train_test_split(np.arange(len(y)), test_size=0.25, random_state=seed, stratify=y)

    def loss(c: float) -> float:
        model = LogisticRegression(C=c, max_iter=2000).fit(vectors[fit_idx], y[fit_idx])
        return float(log_loss(y[check_idx], model.predict_proba(vectors[check_idx]), labels=model.classes_))

    model = LogisticRegression(C=min(_C_GRID, key=loss), max_iter=2000).fit(vectors, y)

    def predict(x: np.ndarray) -> np.ndarray:
        probs = np.zeros((len(x), n_classes))
        probs[:, model.classes_] = model.predict_proba(x)
        return probs

    return predict


def finding_rows(findings: Sequence[AuditFinding]) -> list[dict[str, object]]:
    """One row per flagged record; fix needs/cause where the analyst agrees, then
    `needlens labels import` the file: the corrections supersede the old labels."""
    return [
        {
            "id": f.record.id,
            "text": f.record.text,
            "needs": [str(n) for n in f.record.needs],
            "cause": str(f.record.cause),
            "suggested_needs": f.suggested_needs,
            "suggested_cause": f.suggested_cause,
            "confidence": round(f.confidence, 4),
            "disagreements": "; ".join(
                f"{d.label}: labeled {d.given}, model says {d.suggested} ({d.confidence:.2f})" for d in f.disagreements
            ),
            "source": f.record.source,
        }
        for f in findings
    ]


AUDIT_COLUMNS: dict[str, ColumnType] = {
    "id": "string",
    "text": "string",
    "needs": "list",
    "cause": "string",
    "suggested_needs": "list",
    "suggested_cause": "string",
    "confidence": "float",
    "disagreements": "string",
    "source": "string",
}
