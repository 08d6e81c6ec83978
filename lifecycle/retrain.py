"""`needlens retrain`: seed data + the label store → a candidate, judged against the active model.

What trains and what judges is ``label_loop/pool.py``'s split: the candidate trains on
everything but the held-out texts, and both models are scored on the gold set (which new labels
cannot move) and on the held-out new labels; ``lifecycle/gate.py`` decides. Labels held in
quarantine are not in the store's current labels, so they neither train nor judge.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classifier.inference import Predictor
from classifier.settings import Settings
from label_loop.pool import LabelPool, gather_labels, require_trainable
from label_loop.store import LabelStore
from lifecycle.comparison_report import write_comparison_report
from lifecycle.gate import RULE, GateDecision, MetricDelta, promotion_gate
from lifecycle.judging import SetScores, by_source, metric_deltas, score_set, without_soft_labeled
from lifecycle.registry import ModelRegistry
from training.data import describe_paths, fingerprint
from training.pipeline import train_on_records


@dataclass(frozen=True)
class RetrainOutcome:
    candidate: str
    previous: str | None
    decision: GateDecision
    promoted: bool
    comparison: dict[str, Any]
    report_dir: Path


def retrain(
    registry: ModelRegistry,
    seed: Path | Sequence[Path] | None,
    store: LabelStore | None,
    settings: Settings,
    force_reason: str | None = None,
    log: Callable[[str], None] = print,
) -> RetrainOutcome:
    """Train a candidate, compare it with the active model on the judging sets, promote if not worse."""
    pool = require_trainable(
        gather_labels(seed, store, settings.holdout_percent, settings.max_chars), settings.holdout_percent
    )
    held = sum(b.labels for b in store.quarantine_batches()) if store else 0
    log(
        f"labels: {len(pool.train)} to train on ({', '.join(f'{n} from {k}' for k, n in sorted(pool.sources.items()))}); "
        f"judged on {len(pool.gold.records)} gold and {len(pool.new_labels.records)} held-out new labels"
        + (f"; {held} labels in quarantine left out" if held else "")
    )
    staging = registry.staging_dir() / f"candidate-{datetime.now(UTC):%Y%m%d%H%M%S%f}"
    seeds = describe_paths(seed) if seed else "no seed data"
    description = f"{seeds} + label store, less the held-out {settings.holdout_percent}%"
    judged = [r.text for s in (pool.gold, pool.new_labels) for r in s.records]
    train_on_records(pool.train, description, staging, settings.training, log, judged_texts=judged)
    candidate = registry.add(staging)
    previous = registry.active()

    versions = [v for v in (candidate, previous) if v]
    predictors = {v: Predictor.load(registry.path(v), settings) for v in versions}
    judging, notes = without_soft_labeled([pool.gold, pool.new_labels], [registry.path(v) for v in versions])
    sets = [score_set(predictors, s) for s in judging if s.records]
    deltas = None
    if previous:
        b = settings.bootstrap_samples
        deltas = [d for s in sets for d in metric_deltas(s, previous, candidate, b, settings.training.seed)]
    notes += [f"no {s.name} texts: judged without them" for s in judging if not s.records and not s.left_out]
    decision = promotion_gate(deltas, settings.promotion_tolerance, notes if previous else ())
    comparison = _comparison(pool, sets, deltas or [], candidate, previous, decision, settings, held)

    promoted = decision.passed or force_reason is not None
    reason = "passed the promotion gate" if decision.passed else f"forced: {force_reason}"
    comparison["promoted"] = promoted
    comparison["promotion_reason"] = reason if promoted else None
    report_dir = registry.path(candidate) / "reports" / "comparison"
    write_comparison_report(comparison, report_dir)
    if promoted:
        registry.promote(candidate, reason)
    else:
        registry.record(
            {
                "event": "reject",
                "version": candidate,
                "active": previous,
                "refused_by": decision.refused_by,
                "reasons": decision.reasons,
            }
        )
    return RetrainOutcome(candidate, previous, decision, promoted, comparison, report_dir)


def _comparison(
    pool: LabelPool,
    sets: list[SetScores],
    deltas: list[MetricDelta],
    candidate: str,
    previous: str | None,
    decision: GateDecision,
    settings: Settings,
    quarantined: int,
) -> dict[str, Any]:
    """Everything the comparison report shows: both models' figures on each judging set, the
    gated deltas with their intervals, figures by label source, and the verdict with its reasons."""
    judged = {
        s.judging.name: {
            "n": len(s.judging.records),
            "left_out_soft_labeled": s.judging.left_out,
            "version": s.judging.version,  # the whole set's
            "fingerprint": fingerprint(s.judging.records),  # of the texts judged
            "sources": dict(Counter(s.judging.sources)),
            "models": s.metrics,
            "deltas": {d.metric: d.delta for d in deltas if d.set_name == s.judging.name},
            "delta_95ci": {d.metric: list(d.interval) for d in deltas if d.set_name == s.judging.name and d.interval},
        }
        for s in sets
    }
    return {
        "candidate": candidate,
        "active": previous,
        "held_out": {"percent": settings.holdout_percent, "rule": "sha256(salt + content hash) mod 100 < percent"},
        "sets": judged,
        "by_source": [row for s in sets for row in by_source(s)],
        "training_labels": {"n": len(pool.train), "sources": pool.sources, "quarantined_left_out": quarantined},
        "tolerance": settings.promotion_tolerance,
        "rule": RULE,
        "gate_passed": decision.passed,
        "refused_by": decision.refused_by,
        "reasons": decision.reasons,
    }
