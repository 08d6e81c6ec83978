"""What a retrain trains on and what judges it: the training labels, the gold set, the new labels.

The held-out texts are chosen by a hash of each text's content, so they are the same on every
run, no model in the registry ever trains on them, and the set grows as analysts label texts.
They form two judging sets:

- **gold**: the held-out part of the seed data with the seed's own labels, plus every text an
  admin marked as gold (adjudicated; `needlens labels gold add`). New labels cannot move it:
  a store label of a held-out seed text does not replace its gold label, and gold texts are
  never trained on. Its version is a fingerprint of its texts and labels.
- **new labels**: the store's current labels of held-out texts that are not gold. They show
  whether the candidate learned what analysts just taught, but a bad batch moves them too.

In training, a store label of a seed text replaces the seed label (the analyst corrected it).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from classifier.labels import LabeledRecord, text_key
from label_loop.store import LabelEvent, LabelStore, text_hash
from training.data import DataError, fingerprint, read_records

_HOLDOUT_SALT = "needlens-holdout-v1"


def in_holdout(text: str, percent: int) -> bool:
    """Deterministic, content-based: the same text is held out on every run and every machine."""
    digest = hashlib.sha256(f"{_HOLDOUT_SALT}:{text_hash(text)}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def stored_record(event: LabelEvent, prefix: str = "ls") -> LabeledRecord:
    """A store label as a record; ``source`` is the label's source (import:<file>, feedback, …)."""
    label = event.label
    return LabeledRecord(
        id=f"{prefix}-{event.id}",
        text=label.text,
        needs=label.labels.needs,
        cause=label.labels.cause,
        source=label.source,
    )


def labeled_records(
    seed: Path | Sequence[Path] | None, store: LabelStore | None
) -> tuple[list[LabeledRecord], dict[str, int]]:
    """Seed records plus each stored text's current label (which replaces a seed label of the
    same text), and how many came from each."""
    by_hash = {text_hash(r.text): (r, "seed") for r in (read_records(seed) if seed else [])}
    by_hash.update({e.text_hash: (stored_record(e), "store") for e in (store.current() if store else [])})
    if not by_hash:
        raise DataError("no labels: give seed data or a label store with labels in it")
    return [record for record, _ in by_hash.values()], dict(Counter(origin for _, origin in by_hash.values()))


@dataclass(frozen=True)
class JudgingSet:
    """Held-out labeled texts both models are scored on, with where each label came from."""

    name: str
    records: list[LabeledRecord]
    sources: list[str]  # per record: seed, gold:<who>, import:<file>, feedback, review
    annotators: list[str | None]
    left_out: int = 0  # texts of the whole set left out because a judged model learned them
    whole_version: str | None = None  # the whole set's version, kept by ``without``

    @property
    def version(self) -> str:
        """Changes when, and only when, a text or label of the set does (of the whole set: the
        texts left out for one comparison do not make it another yardstick)."""
        if self.whole_version:
            return self.whole_version
        return f"{self.name}-{fingerprint(self.records)[:12]}" if self.records else f"{self.name}-empty"

    def without(self, keys: set[str]) -> JudgingSet:
        """The set less the texts whose ``text_key`` is in ``keys``."""
        keep = [i for i, record in enumerate(self.records) if text_key(record.text) not in keys]
        return JudgingSet(
            self.name,
            [self.records[i] for i in keep],
            [self.sources[i] for i in keep],
            [self.annotators[i] for i in keep],
            left_out=self.left_out + len(self.records) - len(keep),
            whole_version=self.version,
        )


@dataclass(frozen=True)
class LabelPool:
    train: list[LabeledRecord]
    gold: JudgingSet
    new_labels: JudgingSet
    sources: dict[str, int]  # training records by origin, after corrections replaced seed labels

    @property
    def judged(self) -> int:
        """Texts a candidate is judged on: the gold set and the held-out new labels."""
        return len(self.gold.records) + len(self.new_labels.records)

    @property
    def trainable(self) -> bool:
        """Something to train a candidate on and something to judge it on."""
        return bool(self.train) and self.judged > 0


def gather_labels(
    seed: Path | Sequence[Path] | None, store: LabelStore | None, holdout_percent: int, max_chars: int | None = None
) -> LabelPool:
    """Training labels, gold set and held-out new labels, by the content-hash rule. ``max_chars``
    as ``read_records`` takes it, so retraining refuses the seed texts ``needlens train`` does."""
    seed_records = read_records(seed, max_chars) if seed else []
    current = store.current() if store else []
    admin_gold = store.gold() if store else []
    gold_hashes = {g.text_hash for g in admin_gold}

    def held(text: str) -> bool:
        return in_holdout(text, holdout_percent)

    gold: dict[str, tuple[LabeledRecord, str, str | None]] = {
        text_hash(r.text): (r, "seed", None) for r in seed_records if held(r.text)
    }
    for g in admin_gold:
        gold[g.text_hash] = (stored_record(g, "gold"), f"gold:{g.label.annotator or 'admin'}", g.label.annotator)
    new = [e for e in current if held(e.label.text) and e.text_hash not in gold_hashes]
    train = {text_hash(r.text): (r, "seed") for r in seed_records if not held(r.text)}
    train.update({e.text_hash: (stored_record(e), "store") for e in current if not held(e.label.text)})
    for digest in gold_hashes:
        train.pop(digest, None)

    return LabelPool(
        train=[record for record, _ in train.values()],
        gold=_judging_set("gold", list(gold.values())),
        new_labels=_judging_set("new-labels", [(stored_record(e), e.label.source, e.label.annotator) for e in new]),
        sources=dict(Counter(origin for _, origin in train.values())),
    )


def require_trainable(pool: LabelPool, holdout_percent: int) -> LabelPool:
    """A pool a candidate can be trained on and judged on. Only retraining needs both: the gold
    set can be shown, and labels checked on arrival, whatever the pool holds."""
    judged = pool.judged
    if not pool.train and not judged:
        raise DataError("no labeled texts at all: give seed data (--data) or a label store with labels (--store)")
    if not pool.train:
        raise DataError(
            f"nothing to train on: all {judged} labeled texts are gold or held out "
            f"(every gold text, and {holdout_percent}% of the others by content hash)"
        )
    if not judged:
        raise DataError(
            f"nothing to judge a candidate on: none of the {len(pool.train)} labeled texts is gold or among the "
            f"{holdout_percent}% held out by content hash; add gold labels (`needlens labels gold add`) or more labels"
        )
    return pool


def _judging_set(name: str, rows: list[tuple[LabeledRecord, str, str | None]]) -> JudgingSet:
    return JudgingSet(name, [r for r, _, _ in rows], [s for _, s, _ in rows], [a for _, _, a in rows])
