"""`needlens retrain`: seed data + the label store → a candidate, judged against the active model.

The held-out set is chosen by a hash of each text's content, so it is the same set on every
run, no model in the registry ever trains on it, and it grows as analysts label new texts.
A store label of a seed text replaces the seed label (the analyst corrected it).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classifier.inference import Predictor
from classifier.labels import LabeledRecord
from classifier.settings import Settings
from training.comparison_report import write_comparison_report
from training.data import DataError, fingerprint, label_arrays, read_records, to_dataset
from training.evaluate import score_predictor
from training.gate import GATED_METRICS, GateDecision, promotion_gate
from training.label_store import LabelStore, text_hash
from training.metrics import paired_bootstrap_delta
from training.pipeline import train_on_records
from training.registry import ModelRegistry

_HOLDOUT_SALT = "needlens-holdout-v1"


def in_holdout(text: str, percent: int) -> bool:
    """Deterministic, content-based: the same text is held out on every run and every machine."""
    digest = hashlib.sha256(f"{_HOLDOUT_SALT}:{text_hash(text)}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


@dataclass(frozen=True)
class LabelPool:
    train: list[LabeledRecord]
    held_out: list[LabeledRecord]
    sources: dict[str, int]  # records by origin, after corrections replaced seed labels


def labeled_records(
    seed: Path | Sequence[Path] | None, store: LabelStore | None
) -> tuple[list[LabeledRecord], dict[str, int]]:
    """Seed records plus each stored text's current label (which replaces a seed label of the
    same text), and how many came from each."""
    by_hash: dict[str, LabeledRecord] = {}
    origin: dict[str, str] = {}
    for record in read_records(seed) if seed else []:
        by_hash[text_hash(record.text)] = record
        origin[text_hash(record.text)] = "seed"
    for event in store.current() if store else []:
        label = event.label
        by_hash[event.text_hash] = LabeledRecord(
            id=f"ls-{event.id}",
            text=label.text,
            needs=label.labels.needs,
            cause=label.labels.cause,
            source=label.source,
        )
        origin[event.text_hash] = "store"
    if not by_hash:
        raise DataError("no labels: give seed data or a label store with labels in it")
    return list(by_hash.values()), dict(Counter(origin.values()))


def gather_labels(seed: Path | Sequence[Path] | None, store: LabelStore | None, holdout_percent: int) -> LabelPool:
    """All labeled texts, split into train and held-out by the content-hash rule."""
    records, sources = labeled_records(seed, store)
    train, held_out = [], []
    for record in records:
        (held_out if in_holdout(record.text, holdout_percent) else train).append(record)
    if not held_out or not train:
        raise DataError(
            f"{len(records)} labeled texts are too few to hold {holdout_percent}% out and train on the rest"
        )
    return LabelPool(train, held_out, sources)


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
    """Train a candidate, compare it with the active model on the held-out set, promote if not worse."""
    pool = gather_labels(seed, store, settings.holdout_percent)
    log(
        f"labels: {len(pool.train)} to train on, {len(pool.held_out)} held out "
        f"({', '.join(f'{n} from {k}' for k, n in sorted(pool.sources.items()))})"
    )
    staging = registry.staging_dir() / f"candidate-{datetime.now(UTC):%Y%m%d%H%M%S%f}"
    description = f"{seed or 'no seed data'} + label store, less the held-out {settings.holdout_percent}%"
    train_on_records(pool.train, description, staging, settings.training, log)
    candidate = registry.add(staging)
    previous = registry.active()

    held = to_dataset(pool.held_out)
    scored = {
        version: score_predictor(Predictor.load(registry.path(version), settings), held)
        for version in filter(None, [candidate, previous])
    }
    decision = promotion_gate(
        scored[candidate][0], scored[previous][0] if previous else None, settings.promotion_tolerance
    )
    comparison = _comparison(pool, held, scored, candidate, previous, decision, settings)

    promoted = decision.passed or force_reason is not None
    reason = "passed the promotion gate" if decision.passed else f"forced: {force_reason}"
    comparison["promoted"] = promoted
    comparison["promotion_reason"] = reason if promoted else None
    report_dir = registry.path(candidate) / "reports" / "comparison"
    write_comparison_report(comparison, report_dir)
    if promoted:
        registry.promote(candidate, reason)
    else:
        registry.record({"event": "reject", "version": candidate, "active": previous, "reasons": decision.reasons})
    return RetrainOutcome(candidate, previous, decision, promoted, comparison, report_dir)


def _comparison(
    pool: LabelPool,
    held: Any,
    scored: dict[str, tuple[dict[str, Any], Any, Any]],
    candidate: str,
    previous: str | None,
    decision: GateDecision,
    settings: Settings,
) -> dict[str, Any]:
    """Everything the comparison report shows: both models' figures, deltas with a bootstrap
    interval, and the verdict with its reasons."""
    need_true, cause_true = label_arrays(held)
    interval = None
    if previous and settings.bootstrap_samples:
        ci = paired_bootstrap_delta(
            need_true,
            cause_true,
            scored[previous][1:],
            scored[candidate][1:],
            settings.bootstrap_samples,
            seed=settings.training.seed,
        )
        interval = {m: [float(ci[j, 0]), float(ci[j, 1])] for j, m in enumerate(GATED_METRICS)}
    return {
        "candidate": candidate,
        "active": previous,
        "held_out": {
            "n": len(pool.held_out),
            "percent": settings.holdout_percent,
            "fingerprint": fingerprint(pool.held_out),
            "rule": "sha256(salt + content hash) mod 100 < percent",
        },
        "training_labels": {"n": len(pool.train), "sources": pool.sources},
        "models": {version: metrics for version, (metrics, _, _) in scored.items()},
        "deltas": decision.deltas,
        "delta_95ci": interval,
        "tolerance": settings.promotion_tolerance,
        "gate_passed": decision.passed,
        "reasons": decision.reasons,
    }
