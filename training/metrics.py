"""Classification and calibration figures, computed the same way for the model and the baseline."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
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


def _label_figures(p: np.ndarray, r: np.ndarray, f: np.ndarray, s: np.ndarray, predicted: np.ndarray) -> list[dict]:
    """Each label's figures, None where undefined: recall and F1 of a label no text has, precision
    of one never predicted. Printed as 0 they read as a model that fails on that label, and a
    report on 15 texts, every one right, showed a macro-F1 of 0.667."""
    return [
        {
            "precision": float(p[j]) if predicted[j] else None,
            "recall": float(r[j]) if s[j] else None,
            "f1": float(f[j]) if s[j] else None,
            "support": int(s[j]),
            "predicted": int(predicted[j]),
        }
        for j in range(len(s))
    ]


def _macro(f1: np.ndarray, support: np.ndarray) -> float:
    """Mean F1 over the labels the texts have: a label none of them has has no F1 to average (the
    same labels for every model scored on these texts, so two models stay comparable)."""
    present = support > 0
    return float(f1[present].mean()) if present.any() else float("nan")


def classification_metrics(
    need_true: np.ndarray,
    need_pred: np.ndarray,
    cause_true: np.ndarray,
    cause_pred: np.ndarray,
    need_probs: np.ndarray | None = None,
    cause_probs: np.ndarray | None = None,
) -> dict[str, Any]:
    """Per-label and summary figures; calibration errors when probabilities are given."""
    causes = list(range(len(CAUSES)))
    p, r, f, s = precision_recall_fscore_support(need_true, need_pred, average=None, zero_division=0)
    cp, cr, cf, cs = precision_recall_fscore_support(
        cause_true, cause_pred, labels=causes, average=None, zero_division=0
    )
    need_predicted = np.asarray(need_pred).sum(axis=0)
    cause_predicted = np.bincount(np.asarray(cause_pred, dtype=np.int64), minlength=len(CAUSES))
    result: dict[str, Any] = {
        "n": len(cause_true),
        "needs": dict(zip((str(n) for n in NEEDS), _label_figures(p, r, f, s, need_predicted), strict=True)),
        "needs_macro_f1": _macro(f, s),
        "needs_micro_f1": float(f1_score(need_true, need_pred, average="micro", zero_division=0)),
        "needs_exact_match": float((need_true == need_pred).all(axis=1).mean()),
        "cause": dict(zip((str(c) for c in CAUSES), _label_figures(cp, cr, cf, cs, cause_predicted), strict=True)),
        "cause_accuracy": float(accuracy_score(cause_true, cause_pred)),
        "cause_macro_f1": _macro(cf, cs),
        "cause_confusion": {
            "labels": [str(c) for c in CAUSES],
            "rows_true_cols_pred": confusion_matrix(cause_true, cause_pred, labels=causes).tolist(),
        },
    }
    if need_probs is not None:
        result["needs_ece"] = expected_calibration_error(need_probs, need_true)
        result["needs_ece_per_label"] = {
            str(n): expected_calibration_error(need_probs[:, j], need_true[:, j]) for j, n in enumerate(NEEDS)
        }
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
    """(needs macro-F1, cause macro-F1) of one set of predictions, by the rule of
    ``classification_metrics`` (the labels the texts have): the retrain report's per-source figures."""
    return weighted_macro_f1s(np.ones((1, len(cause_true))), need_true, need_pred, cause_true, cause_pred)[0]


def weighted_label_f1s(
    weights: np.ndarray, need_true: np.ndarray, need_pred: np.ndarray, cause_true: np.ndarray, cause_pred: np.ndarray
) -> np.ndarray:
    """Each label's F1 (needs, then causes) in many resamples at once: ``weights`` (samples, n)
    counts how often each text is drawn. Same figures as scoring each resample's texts: NaN for a
    label the resample's texts do not have, as ``classification_metrics`` has None; shape
    (samples, labels)."""

    def f1(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
        tp, fp, fn = (weights @ (t & p).astype(np.float64) for t, p in ((truth, pred), (~truth, pred), (truth, ~pred)))
        return np.divide(2 * tp, 2 * tp + fp + fn, out=np.full_like(tp, np.nan), where=tp + fn > 0)

    causes = np.arange(len(CAUSES))
    return np.column_stack(
        [
            f1(need_true.astype(bool), need_pred.astype(bool)),
            f1(cause_true[:, None] == causes, cause_pred[:, None] == causes),
        ]
    )


def weighted_macro_f1s(
    weights: np.ndarray, need_true: np.ndarray, need_pred: np.ndarray, cause_true: np.ndarray, cause_pred: np.ndarray
) -> np.ndarray:
    """``macro_f1s`` of many resamples at once; shape (samples, 2)."""
    return _macro_columns(weighted_label_f1s(weights, need_true, need_pred, cause_true, cause_pred))


def _macro_columns(per_label: np.ndarray) -> np.ndarray:
    """(needs macro-F1, cause macro-F1) of each row of per-label F1s, over the labels each row's
    texts have (NaN columns left out); shape (samples, 2)."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a row without a need: NaN, said by the caller
        return np.column_stack(
            [np.nanmean(per_label[:, : len(NEEDS)], axis=1), np.nanmean(per_label[:, len(NEEDS) :], axis=1)]
        )


def resample_weights(n: int, samples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap resamples of ``n`` texts as draw counts, in blocks of (at most 256, n), so the
    weights stay small; the same seed draws the same resamples, which pairs two models' figures."""
    rng = np.random.default_rng(seed)
    for start in range(0, samples, 256):
        block = min(256, samples - start)
        draws = rng.integers(0, n, (block, n)) + n * np.arange(block)[:, None]
        yield np.bincount(draws.ravel(), minlength=block * n).reshape(block, n).astype(np.float64)


def _percentiles(values: np.ndarray, level: float) -> np.ndarray:
    """Each column's interval over the resamples that define it (NaN where none does)."""
    tail = (1 - level) / 2 * 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: a label no text has
        return np.nanpercentile(values, [tail, 100 - tail], axis=0).T


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
    deltas = np.concatenate(
        [
            weighted_macro_f1s(weights, need_true, preds_b[0], cause_true, preds_b[1])
            - weighted_macro_f1s(weights, need_true, preds_a[0], cause_true, preds_a[1])
            for weights in resample_weights(len(cause_true), samples, seed)
        ]
    )
    return _percentiles(deltas, level)


def f1_intervals(
    need_true: np.ndarray,
    cause_true: np.ndarray,
    preds: tuple[np.ndarray, np.ndarray],
    baseline_preds: tuple[np.ndarray, np.ndarray] | None,
    samples: int,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Bootstrap intervals of every F1 a report prints (each label's, both macro-F1s), and of the
    model's lead over its baseline on the same resamples: an evaluation on 238 texts moves an
    emotional F1 by ±0.05, and a report that prints 0.699 against 0.714 should say whether that
    difference is the model or the sample."""
    names = [*(str(n) for n in NEEDS), *(str(c) for c in CAUSES), "needs_macro_f1", "cause_macro_f1"]

    def figures(weights: np.ndarray, pred: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        per_label = weighted_label_f1s(weights, need_true, pred[0], cause_true, pred[1])
        return np.column_stack([per_label, _macro_columns(per_label)])

    model_draws, lead_draws = [], []
    for weights in resample_weights(len(cause_true), samples, seed):
        model = figures(weights, preds)
        model_draws.append(model)
        if baseline_preds is not None:
            lead_draws.append(model - figures(weights, baseline_preds))

    def bounds(draws: list[np.ndarray]) -> dict[str, list[float] | None]:
        rows = _percentiles(np.concatenate(draws), level).tolist()
        return {name: None if np.isnan(row).any() else row for name, row in zip(names, rows, strict=True)}

    out: dict[str, Any] = {"level": level, "samples": samples, "model": bounds(model_draws)}
    if lead_draws:
        out["model_minus_baseline"] = bounds(lead_draws)
    return out
