"""Candidate and active model scored on one judging set: figures, the gated deltas with their
paired-bootstrap intervals, and the same figures by label source and annotator, so a source
whose labels a candidate learned (and the gold set contradicts) shows by name."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classifier.inference import Predictor
from label_loop.pool import JudgingSet
from lifecycle.gate import GATED_METRICS, MetricDelta
from training.data import label_arrays, to_dataset
from training.distill import soft_labeled_by
from training.evaluate import score_predictor
from training.metrics import macro_f1s, paired_bootstrap_delta


@dataclass(frozen=True)
class SetScores:
    judging: JudgingSet
    need_true: np.ndarray
    cause_true: np.ndarray
    metrics: dict[str, dict[str, Any]]  # per model version
    predictions: dict[str, tuple[np.ndarray, np.ndarray]]  # per model version: need and cause decisions


def score_set(predictors: dict[str, Predictor], judging: JudgingSet) -> SetScores:
    dataset = to_dataset(judging.records)
    scored = {version: score_predictor(p, dataset) for version, p in predictors.items()}
    return SetScores(
        judging,
        *label_arrays(dataset),
        metrics={version: metrics for version, (metrics, _, _) in scored.items()},
        predictions={version: (needs, cause) for version, (_, needs, cause) in scored.items()},
    )


def without_soft_labeled(sets: Sequence[JudgingSet], model_dirs: Sequence[Path]) -> tuple[list[JudgingSet], list[str]]:
    """The judging sets less the texts either model learned as a teacher's soft labels, and notes
    for the gate's reasons. A candidate never draws a judged text as a soft label, but the active
    model may have learned one before an analyst labeled it, and scoring it there would favour it
    by memory. A model whose list or soft-label file cannot be read leaves its texts in, with a
    note: a finished retrain is not thrown away for a missing file."""
    learned = soft_labeled_by(model_dirs)
    kept = [s.without(learned.keys) for s in sets]
    notes = [*learned.notes, *(f"judged without leaving out its soft-labeled texts: {p}" for p in learned.unreadable)]
    for s in kept:
        if s.left_out and s.records:
            notes.append(f"{s.name}: left out {s.left_out} texts a model learned as soft labels")
        elif s.left_out:
            notes.append(
                f"{s.name}: all {s.left_out} of its texts were learned as soft labels by a model; judged without it"
            )
    return kept, notes


def metric_deltas(scores: SetScores, active: str, candidate: str, samples: int, seed: int) -> list[MetricDelta]:
    """The gated figures of this set, candidate against active, each with its 95% interval."""
    interval = None
    if samples:
        interval = paired_bootstrap_delta(
            scores.need_true,
            scores.cause_true,
            scores.predictions[active],
            scores.predictions[candidate],
            samples,
            seed=seed,
        )
    return [
        MetricDelta(
            scores.judging.name,
            metric,
            float(scores.metrics[active][metric]),
            float(scores.metrics[candidate][metric]),
            None if interval is None else (float(interval[j, 0]), float(interval[j, 1])),
        )
        for j, metric in enumerate(GATED_METRICS)
    ]


def by_source(scores: SetScores) -> list[dict[str, Any]]:
    """Macro-F1s per label source and per annotator, for every scored model."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (source, annotator) in enumerate(zip(scores.judging.sources, scores.judging.annotators, strict=True)):
        groups[source].append(i)
        if annotator:
            groups[f"annotator:{annotator}"].append(i)
    rows = []
    for group, idx in sorted(groups.items()):
        figures = {}
        for version, (needs, cause) in scores.predictions.items():
            f1 = macro_f1s(scores.need_true[idx], needs[idx], scores.cause_true[idx], cause[idx])
            figures[version] = dict(zip(GATED_METRICS, map(float, f1), strict=True))
        rows.append({"set": scores.judging.name, "group": group, "n": len(idx), "models": figures})
    return rows
