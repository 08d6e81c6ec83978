"""Arriving labels into the store or into quarantine: the one path for `labels import` and for
feedback batches.

When a batch names several annotators, each one's share is checked on its own first, and a
suspicious share is held with its one-line reason; the rest of the batch is then checked
together and held whole if it is suspicious too. So one careless annotator's labels are held
while the others' land, even when the careless share would have made the whole look bad.
Held labels are not in the store's current labels, so nothing trains on them until an admin
accepts the batch (`needlens labels quarantine accept`).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from classifier.encoders import build_encoder
from classifier.inference import Predictor
from classifier.labels import LabeledRecord
from classifier.settings import Settings
from label_loop.arrival import ArrivalCheck, AuditJudge, BatchCheck, Judge, ModelJudge
from label_loop.pool import gather_labels
from label_loop.store import LabelStore, NewLabel


@dataclass(frozen=True)
class HeldBatch:
    batch_id: int
    labels: int
    reason: str


@dataclass(frozen=True)
class Outcome:
    """What became of one label of a batch: in the store, held (in ``batch``), or a duplicate of
    a label already recorded (in the store, held or rejected) that changed nothing."""

    status: Literal["admitted", "held", "duplicate"]
    batch: HeldBatch | None = None


@dataclass
class Admission:
    added: int = 0
    skipped: int = 0  # already in the store, or already held or rejected
    held: list[HeldBatch] = field(default_factory=list)
    checks: dict[str, BatchCheck] = field(default_factory=dict)  # "annotator <name>", then "batch": the rest
    outcomes: list[Outcome] = field(default_factory=list)  # per label, in the batch's order


def bundled_data(settings: Settings, note: Callable[[str], None] | None = None) -> list[Path] | None:
    """The default data where it exists (an installed needlens may not have it beside it). An
    arrival check without it compares labels with the store's alone: ``note`` is told so, for
    the CLI's note and the service's log, instead of the check losing its reference silently."""
    found = [path for path in settings.default_data if path.exists()] or None
    if found is None and note is not None:
        looked = ", ".join(str(path) for path in settings.default_data)
        note(
            f"no bundled labeled data ({looked}; NEEDLENS_HOME={settings.home}): arriving labels are compared "
            "with the store's labels alone, and the audit judge waits for enough of them"
        )
    return found


def build_arrival_check(
    settings: Settings, seed: Path | Sequence[Path] | None, store: LabelStore | None, predictor: Predictor | None
) -> ArrivalCheck:
    """Reference mix, judges and their honest yardstick from the same split retraining uses:
    the audit judge fits on a seeded sample of training labels, both judges' honest rate is
    measured on the gold set."""
    arrival, training = settings.arrival, settings.training
    pool = gather_labels(seed, store, settings.holdout_percent)
    if not pool.trainable:  # nothing labeled yet: no mix to compare with, no honest yardstick
        return ArrivalCheck([], [ModelJudge(predictor, [], arrival.confidence)] if predictor else [], arrival)
    rng = random.Random(training.seed)
    reference = rng.sample(pool.train, min(len(pool.train), arrival.reference_texts))
    gold = pool.gold.records
    honest = rng.sample(gold, min(len(gold), max(arrival.reference_texts // 4, arrival.min_labels)))
    judges: list[Judge] = [ModelJudge(predictor, honest, arrival.confidence)] if predictor else []
    encoder = build_encoder(training.base_model, training.max_tokens)
    judges.append(AuditJudge(encoder, reference, honest, arrival.confidence, training.seed))
    return ArrivalCheck([*pool.train, *gold, *pool.new_labels.records], judges, arrival)


def admit_batch(
    store: LabelStore,
    entries: Sequence[NewLabel],
    source: str,
    make_check: Callable[[], ArrivalCheck] | None,
    min_labels: int = 1,
) -> Admission:
    """Add a batch of new labels to the store, holding what the checks find suspicious.

    ``make_check`` is called only when at least ``min_labels`` labels are new (building a
    check loads models; fewer are admitted unjudged); None admits everything unchecked.
    Feedback batches come through here too (``label_loop.feedback``), one annotator's at a time."""
    known = store.known(entries)
    fresh = [entry for entry, seen in zip(entries, known, strict=True) if not seen]
    admission = Admission(skipped=len(entries) - len(fresh))
    suspects: list[tuple[list[NewLabel], str]] = []
    if make_check is not None and len(fresh) >= min_labels:
        check = make_check()
        for name, group in _by_annotator(fresh).items():  # first alone, so one careless annotator is held alone
            result = admission.checks[f"annotator {name}"] = check.check(_records(group))
            if result.suspicious:
                suspects.append((group, f"annotator {name}: {result.summary()}"))
        flagged = {id(entry) for group, _ in suspects for entry in group}
        rest = [entry for entry in fresh if id(entry) not in flagged]
        if rest:
            whole = admission.checks["batch"] = check.check(_records(rest))
            if whole.suspicious:
                suspects.append((rest, f"the rest of the batch: {whole.summary()}" if suspects else whole.summary()))
    for group, reason in suspects:
        admission.held.append(HeldBatch(store.hold(group, source, reason), len(group), reason))
    held = {id(entry): batch for (group, _), batch in zip(suspects, admission.held, strict=True) for entry in group}
    admission.added, duplicates = store.add_many([entry for entry in fresh if id(entry) not in held])
    admission.skipped += duplicates
    admission.outcomes = [
        Outcome("duplicate") if seen else Outcome("held", held[id(entry)]) if id(entry) in held else Outcome("admitted")
        for entry, seen in zip(entries, known, strict=True)
    ]
    return admission


def _records(entries: Sequence[NewLabel]) -> list[LabeledRecord]:
    return [
        LabeledRecord(id=f"new-{i}", text=e.text, needs=e.labels.needs, cause=e.labels.cause, source=e.source)
        for i, e in enumerate(entries)
    ]


def _by_annotator(entries: list[NewLabel]) -> dict[str, list[NewLabel]]:
    """Each named annotator's labels, when the batch has more than one annotator."""
    groups: dict[str, list[NewLabel]] = defaultdict(list)
    for entry in entries:
        if entry.annotator:
            groups[entry.annotator].append(entry)
    return groups if len(groups) > 1 else {}
