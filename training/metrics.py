"""Classification and calibration figures, computed the same way for the model and the baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from classifier.labels import CAUSES, NEEDS


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    confidence = np.asarray(confidence, dtype=np.float64).ravel()
    correct = np.asarray(correct, dtype=np.float64).ravel()
    if confidence.size == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            total += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(total)


def classification_metrics(
    need_true: np.ndarray,
    need_pred: np.ndarray,
    cause_true: np.ndarray,
    cause_pred: np.ndarray,
    need_probs: np.ndarray | None = None,
    cause_probs: np.ndarray | None = None,
) -> dict[str, Any]:
    """Per-label and summary figures; calibration errors when probabilities are given."""
    p, r, f, s = precision_recall_fscore_support(need_true, need_pred, average=None, zero_division=0)
    cp, cr, cf, cs = precision_recall_fscore_support(
        cause_true, cause_pred, labels=list(range(len(CAUSES))), average=None, zero_division=0
    )
    result: dict[str, Any] = {
        "n": len(cause_true),
        "needs": {
            str(label): {"precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]), "support": int(s[j])}
            for j, label in enumerate(NEEDS)
        },
        "needs_macro_f1": float(f1_score(need_true, need_pred, average="macro", zero_division=0)),
        "needs_micro_f1": float(f1_score(need_true, need_pred, average="micro", zero_division=0)),
        "needs_exact_match": float((need_true == need_pred).all(axis=1).mean()),
        "cause": {
            str(label): {"precision": float(cp[j]), "recall": float(cr[j]), "f1": float(cf[j]), "support": int(cs[j])}
            for j, label in enumerate(CAUSES)
        },
        "cause_accuracy": float(accuracy_score(cause_true, cause_pred)),
        "cause_macro_f1": float(
            f1_score(cause_true, cause_pred, labels=list(range(len(CAUSES))), average="macro", zero_division=0)
        ),
        "cause_confusion": {
            "labels": [str(c) for c in CAUSES],
            "rows_true_cols_pred": confusion_matrix(cause_true, cause_pred, labels=list(range(len(CAUSES)))).tolist(),
        },
    }
    if need_probs is not None:
        result["needs_ece"] = expected_calibration_error(need_probs, need_true)
    if cause_probs is not None:
        result["cause_ece"] = expected_calibration_error(
            cause_probs.max(axis=1), cause_probs.argmax(axis=1) == cause_true
        )
    return result


def headline(metrics: dict[str, Any]) -> float:
    """One number to pick the best epoch by: both tasks count equally."""
    return (metrics["needs_macro_f1"] + metrics["cause_macro_f1"]) / 2


def macro_f1s(
    need_true: np.ndarray, need_pred: np.ndarray, cause_true: np.ndarray, cause_pred: np.ndarray
) -> np.ndarray:
    """(needs macro-F1, cause macro-F1): the two figures the promotion gate compares."""
    return np.array(
        [
            f1_score(need_true, need_pred, average="macro", zero_division=0),
            f1_score(cause_true, cause_pred, labels=list(range(len(CAUSES))), average="macro", zero_division=0),
        ]
    )


def weighted_macro_f1s(
    weights: np.ndarray, need_true: np.ndarray, need_pred: np.ndarray, cause_true: np.ndarray, cause_pred: np.ndarray
) -> np.ndarray:
    """``macro_f1s`` of many resamples at once: ``weights`` (samples, n) counts how often each
    text is drawn. Same figures as scoring each resample's texts (an F1 whose counts are all
    zero is 0, as ``zero_division=0`` makes it); shape (samples, 2)."""

    def macro(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
        tp, fp, fn = (weights @ (t & p).astype(np.float64) for t, p in ((truth, pred), (~truth, pred), (truth, ~pred)))
        denominator = 2 * tp + fp + fn
        return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0).mean(axis=1)

    causes = np.arange(len(CAUSES))
    return np.column_stack(
        [
            macro(need_true.astype(bool), need_pred.astype(bool)),
            macro(cause_true[:, None] == causes, cause_pred[:, None] == causes),
        ]
    )


def paired_bootstrap_delta(
    need_true: np.ndarray,
    cause_true: np.ndarray,
    preds_a: tuple[np.ndarray, np.ndarray],
    preds_b: tuple[np.ndarray, np.ndarray],
    samples: int,
    seed: int = 0,
    level: float = 0.95,
) -> np.ndarray:
    """Confidence interval of (b - a) for both macro-F1s, resampling the same texts for both
    models: on a few hundred held-out texts a delta of 0.01 is often noise, and the report says so.
    Returns shape (2, 2): rows needs/cause, columns low/high."""
    rng = np.random.default_rng(seed)
    n = len(cause_true)
    deltas = np.empty((samples, 2))
    for start in range(0, samples, 256):  # resamples in blocks, so the (block, n) weights stay small
        block = min(256, samples - start)
        draws = rng.integers(0, n, (block, n)) + n * np.arange(block)[:, None]
        weights = np.bincount(draws.ravel(), minlength=block * n).reshape(block, n).astype(np.float64)
        deltas[start : start + block] = weighted_macro_f1s(
            weights, need_true, preds_b[0], cause_true, preds_b[1]
        ) - weighted_macro_f1s(weights, need_true, preds_a[0], cause_true, preds_a[1])
    tail = (1 - level) / 2 * 100
    return np.percentile(deltas, [tail, 100 - tail], axis=0).T
