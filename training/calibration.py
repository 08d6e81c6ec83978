"""Temperature scaling, the TF-IDF mix and per-need thresholds, all fitted on validation data only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_expit, log_softmax

from classifier.decisions import decide_needs
from classifier.labels import NEEDS
from classifier.lexical import Probabilities, mix_probabilities
from training.metrics import classification_metrics, headline

_LOG_T_BOUNDS = (np.log(0.05), np.log(20.0))


def _fit_temperature(nll_at) -> float:  # type: ignore[no-untyped-def]
    """Minimise validation NLL over log-temperature (bounded, so it cannot run away)."""
    result = minimize_scalar(lambda log_t: nll_at(np.exp(log_t)), bounds=_LOG_T_BOUNDS, method="bounded")
    return float(np.exp(result.x))


def fit_need_temperatures(need_logits: np.ndarray, need_true: np.ndarray) -> list[float]:
    temps = []
    for j in range(len(NEEDS)):
        z, y = need_logits[:, j].astype(np.float64), need_true[:, j]

        def nll(t: float, z: np.ndarray = z, y: np.ndarray = y) -> float:
            return float(-(y * log_expit(z / t) + (1 - y) * log_expit(-z / t)).mean())

        temps.append(_fit_temperature(nll))
    return temps


def fit_cause_temperature(cause_logits: np.ndarray, cause_true: np.ndarray) -> float:
    z = cause_logits.astype(np.float64)

    def nll(t: float) -> float:
        return float(-log_softmax(z / t, axis=1)[np.arange(len(cause_true)), cause_true].mean())

    return _fit_temperature(nll)


def tune_thresholds(need_probs: np.ndarray, need_true: np.ndarray) -> list[float]:
    """Per need, the threshold with the best validation F1; ties go to the one nearest 0.5."""
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    thresholds = []
    for j in range(len(NEEDS)):
        y = need_true[:, j].astype(bool)
        pred = need_probs[:, j][None, :] >= grid[:, None]
        tp = (pred & y).sum(1)
        f1 = 2 * tp / np.maximum(pred.sum(1) + y.sum(), 1)
        best = np.flatnonzero(f1 >= f1.max() - 1e-12)
        thresholds.append(float(grid[best[np.argmin(np.abs(grid[best] - 0.5))]]))
    return thresholds


def fit_review_bands(
    need_probs: np.ndarray, need_true: np.ndarray, thresholds: list[float], target: float, max_fraction: float
) -> list[float]:
    """Per need, the narrowest band around the threshold outside which decisions reach ``target``
    accuracy on validation, but never so wide that more than ``max_fraction`` of texts fall in
    it: a review queue holding most of the traffic would not be a review queue."""
    widths = np.round(np.arange(0.0, 0.501, 0.01), 2)
    bands = []
    for j, threshold in enumerate(thresholds):
        distance = np.abs(need_probs[:, j] - threshold)
        correct = (need_probs[:, j] >= threshold) == need_true[:, j].astype(bool)
        band = 0.0
        for width in widths:
            inside = distance <= width
            if inside.mean() > max_fraction:
                break
            band = float(width)
            if (~inside).any() and correct[~inside].mean() >= target:
                break
        bands.append(band)
    return bands


def fit_cause_review_floor(
    cause_probs: np.ndarray, cause_true: np.ndarray, target: float, max_fraction: float
) -> float:
    """The lowest top-class confidence above which cause decisions reach ``target`` accuracy,
    capped so at most ``max_fraction`` of texts fall below it."""
    confidence = cause_probs.max(axis=1)
    correct = cause_probs.argmax(axis=1) == cause_true
    floor = 0.0
    for candidate in np.round(np.arange(0.0, 1.0, 0.01), 2):
        kept = confidence >= candidate
        if 1.0 - kept.mean() > max_fraction:
            break
        floor = float(candidate)
        if kept.any() and correct[kept].mean() >= target:
            break
    return floor


def fit_lexical_weight(
    network: Probabilities,
    lexical: Probabilities,
    need_true: np.ndarray,
    cause_true: np.ndarray,
    weights: Sequence[float],
) -> float:
    """The TF-IDF weight whose mix scores best on validation (the headline epochs are picked
    by), each judged at its own tuned thresholds; a tie keeps the smaller weight, since every bit
    of weight moves the decision away from what the network's evidence explains."""
    best_weight, best_score = 0.0, -np.inf
    for weight in sorted(weights):
        need_probs, cause_probs = mix_probabilities(network, lexical, weight)
        need_pred = decide_needs(need_probs, tune_thresholds(need_probs, need_true)).astype(np.int64)
        score = headline(classification_metrics(need_true, need_pred, cause_true, cause_probs.argmax(axis=1)))
        if score > best_score + 1e-9:
            best_weight, best_score = float(weight), score
    return best_weight
