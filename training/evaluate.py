"""Scoring a model directory on labeled data, beside the TF-IDF baseline trained with it."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset

from classifier.inference import Predictor
from classifier.labels import NEEDS
from classifier.lexical import TfidfBaseline
from training.data import label_arrays
from training.metrics import classification_metrics, f1_intervals


def score_predictor(predictor: Predictor, dataset: Dataset) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Metrics of the full inference path (segmentation included), plus the decisions and the
    review-band figures: how much goes to a human and how accurate the rest is."""
    need_true, cause_true = label_arrays(dataset)
    scores = predictor.score(dataset["text"][:])
    need_pred, cause_pred = scores.needs.astype(np.int64), scores.cause
    metrics = classification_metrics(
        need_true, need_pred, cause_true, cause_pred, scores.need_probs, scores.cause_probs
    )
    flagged = scores.review.any(axis=1)
    exact = (need_pred == need_true).all(axis=1) & (cause_pred == cause_true)  # every label of the text right
    need_kept = ~scores.review[:, : len(NEEDS)]
    cause_kept = ~scores.review[:, len(NEEDS)]
    metrics["review"] = {
        "texts_flagged": float(flagged.mean()),
        "needs_flagged": {str(n): float(scores.review[:, j].mean()) for j, n in enumerate(NEEDS)},
        "cause_flagged": float(scores.review[:, len(NEEDS)].mean()),
        "needs_accuracy_unflagged": {
            str(n): _mean_or_none(need_pred[need_kept[:, j], j] == need_true[need_kept[:, j], j])
            for j, n in enumerate(NEEDS)
        },
        "needs_accuracy_all": {str(n): float((need_pred[:, j] == need_true[:, j]).mean()) for j, n in enumerate(NEEDS)},
        "cause_accuracy_unflagged": _mean_or_none(cause_pred[cause_kept] == cause_true[cause_kept]),
        "exact_match_unflagged_texts": _mean_or_none(exact[~flagged]),
        "exact_match_all_texts": float(exact.mean()),
    }
    return metrics, need_pred, cause_pred


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def score_baseline(baseline: TfidfBaseline, dataset: Dataset) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    need_true, cause_true = label_arrays(dataset)
    need_probs, cause_probs, need_pred, cause_pred = baseline.predict(dataset["text"][:])
    metrics = classification_metrics(need_true, need_pred, cause_true, cause_pred, need_probs, cause_probs)
    return metrics, need_pred, cause_pred


def per_domain(dataset: Dataset, need_pred: np.ndarray, cause_pred: np.ndarray) -> dict[str, dict[str, Any]]:
    """Macro-F1s by domain, with each label's count there: one number can hide a domain the model
    does not understand, and a domain's macro-F1 can rest on a handful of one label's texts."""
    need_true, cause_true = label_arrays(dataset)
    rows: dict[str, list[int]] = defaultdict(list)
    for i, domain in enumerate(dataset["domain"][:]):
        rows[domain or "unknown"].append(i)
    out = {}
    for domain, idx in sorted(rows.items()):
        m = classification_metrics(need_true[idx], need_pred[idx], cause_true[idx], cause_pred[idx])
        out[domain] = {k: m[k] for k in ("n", "needs_macro_f1", "cause_accuracy", "cause_macro_f1")}
        out[domain]["support"] = {label: f["support"] for group in ("needs", "cause") for label, f in m[group].items()}
    return out


def evaluation_report(
    predictor: Predictor,
    model_dir: Path,
    dataset: Dataset,
    data_facts: dict[str, Any],
    bootstrap_samples: int = 0,
) -> dict[str, Any]:
    """The model's figures beside its TF-IDF baseline's; with ``bootstrap_samples``, also the 95%
    interval of every F1 and of the model's lead over the baseline (``intervals``)."""
    model_metrics, need_pred, cause_pred = score_predictor(predictor, dataset)
    baseline = predictor.lexical or TfidfBaseline.load(model_dir)
    baseline_scores = score_baseline(baseline, dataset) if baseline else None
    report = {
        "model_version": predictor.version,
        "model_dir": str(model_dir),
        "data": data_facts,
        "thresholds": dict(zip(predictor.config.needs, predictor.config.need_thresholds, strict=True)),
        "lexical_weight": predictor.config.lexical_weight,
        "review_rules": {
            "need_bands": dict(zip(predictor.config.needs, predictor.config.need_review_bands, strict=True)),
            "cause_below": predictor.config.cause_review_below,
        },
        "model": model_metrics,
        "baseline": baseline_scores[0] if baseline_scores else None,
        "per_domain": per_domain(dataset, need_pred, cause_pred),
    }
    if bootstrap_samples:
        need_true, cause_true = label_arrays(dataset)
        baseline_preds = baseline_scores[1:] if baseline_scores else None
        report["intervals"] = f1_intervals(
            need_true, cause_true, (need_pred, cause_pred), baseline_preds, bootstrap_samples
        )
    return report
