"""Scoring a model directory on labeled data, beside the TF-IDF baseline trained with it."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset

from classifier.inference import Predictor, decide_needs
from training.baseline import TfidfBaseline
from training.data import label_arrays
from training.metrics import classification_metrics


def score_predictor(predictor: Predictor, dataset: Dataset) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Metrics plus the decisions, so callers can break them down further."""
    need_true, cause_true = label_arrays(dataset)
    need_probs, cause_probs, _ = predictor.probabilities(dataset["text"][:])
    need_pred = decide_needs(need_probs, predictor.config.need_thresholds).astype(np.int64)
    cause_pred = cause_probs.argmax(axis=1)
    metrics = classification_metrics(need_true, need_pred, cause_true, cause_pred, need_probs, cause_probs)
    return metrics, need_pred, cause_pred


def score_baseline(baseline: TfidfBaseline, dataset: Dataset) -> dict[str, Any]:
    need_true, cause_true = label_arrays(dataset)
    need_probs, cause_probs, need_pred, cause_pred = baseline.predict(dataset["text"][:])
    return classification_metrics(need_true, need_pred, cause_true, cause_pred, need_probs, cause_probs)


def per_domain(dataset: Dataset, need_pred: np.ndarray, cause_pred: np.ndarray) -> dict[str, dict[str, Any]]:
    """Macro-F1s by domain: one number can hide a domain the model does not understand."""
    need_true, cause_true = label_arrays(dataset)
    rows: dict[str, list[int]] = defaultdict(list)
    for i, domain in enumerate(dataset["domain"][:]):
        rows[domain or "unknown"].append(i)
    out = {}
    for domain, idx in sorted(rows.items()):
        m = classification_metrics(need_true[idx], need_pred[idx], cause_true[idx], cause_pred[idx])
        out[domain] = {k: m[k] for k in ("n", "needs_macro_f1", "cause_accuracy", "cause_macro_f1")}
    return out


def evaluation_report(
    predictor: Predictor, model_dir: Path, dataset: Dataset, data_facts: dict[str, Any]
) -> dict[str, Any]:
    model_metrics, need_pred, cause_pred = score_predictor(predictor, dataset)
    baseline = TfidfBaseline.load(model_dir)
    return {
        "model_version": predictor.version,
        "model_dir": str(model_dir),
        "data": data_facts,
        "thresholds": dict(zip(predictor.config.needs, predictor.config.need_thresholds, strict=True)),
        "model": model_metrics,
        "baseline": score_baseline(baseline, dataset) if baseline else None,
        "per_domain": per_domain(dataset, need_pred, cause_pred),
    }
