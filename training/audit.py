"""`needlens audit`: labeled records whose label the data itself contradicts.

Each record is judged by a model that never saw it: k-fold cross-validated logistic
regressions on the *pretrained* (not fine-tuned) encoder's sentence vectors. A fine-tuned
model would have memorised the very labels being audited, so its agreement would prove
nothing. A record is flagged when that out-of-fold model is at least ``confidence`` sure
one of its labels is wrong; the report suggests the label it would give instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from classifier.encoders import build_encoder
from classifier.encoders.base import embed_texts
from classifier.labels import CAUSES, NEEDS, LabeledRecord
from classifier.tabular import ColumnType


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


def find_label_errors(
    records: Sequence[LabeledRecord],
    need_probs: np.ndarray,
    cause_probs: np.ndarray,
    confidence: float,
) -> list[AuditFinding]:
    """Records with at least one confidently contradicted label, most confident first."""
    findings = []
    for i, record in enumerate(records):
        disagreements = []
        for j, need in enumerate(NEEDS):
            given = need in record.needs
            wrong = 1.0 - need_probs[i, j] if given else need_probs[i, j]
            if wrong >= confidence:
                disagreements.append(
                    Disagreement(str(need), "yes" if given else "no", "no" if given else "yes", float(wrong))
                )
        given_cause = CAUSES.index(record.cause)
        if 1.0 - cause_probs[i, given_cause] >= confidence:
            disagreements.append(
                Disagreement(
                    "cause",
                    str(record.cause),
                    str(CAUSES[int(cause_probs[i].argmax())]),
                    float(1.0 - cause_probs[i, given_cause]),
                )
            )
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
    need_true = np.array([[int(n in r.needs) for n in NEEDS] for r in records])
    cause_true = np.array([CAUSES.index(r.cause) for r in records])
    need_probs, cause_probs = out_of_fold_probabilities(vectors, need_true, cause_true, folds, seed)
    return find_label_errors(records, need_probs, cause_probs, confidence)


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
