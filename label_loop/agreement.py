"""`needlens agreement`: how far annotators agree, label by label, on the same texts.

Texts are matched across files by content hash (ids need not agree). With two files the
chance-corrected figure is Cohen's kappa; with three or more, Fleiss' kappa. Low agreement
on a label says the guideline for it needs work before any model can learn it well.

The review UI's agreement page computes the same figures over the label store's texts
that two named annotators labeled (``store_agreement``), and lists where they differ.

`needlens labels annotators` compares each annotator in the label store (or each source,
where no annotator is named) with the model and with the other annotators on shared texts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import cohen_kappa_score

from classifier.labels import CAUSES, NEEDS, LabeledRecord, Labels
from label_loop.audit import confidently_wrong, label_truth
from label_loop.store import LabelEvent, NewLabel, text_hash
from training.data import DataError, read_records

if TYPE_CHECKING:
    from classifier.inference import Predictor


@dataclass(frozen=True)
class LabelAgreement:
    label: str
    kappa: float | None  # None: undefined, every judgement gave the one same value (chance agreement is 1)
    kappa_kind: str  # "cohen" or "fleiss"
    raw_agreement: float  # share of texts on which every annotator gave the same value
    positive_rate: float | None  # for needs: share of all judgements that said yes


@dataclass(frozen=True)
class AgreementReport:
    files: list[Path]
    matched: int
    unmatched: list[int]  # per file, texts not found in every other file
    labels: list[LabelAgreement]


def fleiss_kappa(ratings: np.ndarray, categories: int) -> float | None:
    """Fleiss' kappa for ``ratings`` of shape (texts, raters) holding category indices; None when
    every rating is one value, where kappa is 0/0 (raw agreement, 100%, says what there is to say)."""
    counts = np.stack([(ratings == c).sum(axis=1) for c in range(categories)], axis=1).astype(np.float64)
    raters = ratings.shape[1]
    per_text = ((counts * (counts - 1)).sum(axis=1)) / (raters * (raters - 1))
    p_bar = per_text.mean()
    shares = counts.sum(axis=0) / counts.sum()
    p_e = float((shares**2).sum())
    return None if p_e == 1.0 else float((p_bar - p_e) / (1 - p_e))


def _kappa(ratings: np.ndarray, categories: int) -> tuple[float | None, str]:
    if ratings.shape[1] == 2:
        if len(np.unique(ratings)) == 1:  # everyone always said the same: kappa is 0/0, not a figure
            return None, "cohen"
        return float(cohen_kappa_score(ratings[:, 0], ratings[:, 1], labels=list(range(categories)))), "cohen"
    return fleiss_kappa(ratings, categories), "fleiss"


def agreement(files: Sequence[Path]) -> AgreementReport:
    if len(files) < 2:
        raise DataError("agreement needs at least two label files")
    tables: list[dict[str, LabeledRecord]] = []
    for path in files:
        table: dict[str, LabeledRecord] = {}
        for record in read_records(path):
            digest = text_hash(record.text)
            if digest in table:
                raise DataError(f"{path}: the text of {record.id!r} appears twice ({table[digest].id!r})")
            table[digest] = record
        tables.append(table)
    common = sorted(set.intersection(*(set(t) for t in tables)))
    if not common:
        raise DataError("the files share no texts")
    labels = label_agreements([[t[h] for t in tables] for h in common])
    return AgreementReport(list(files), len(common), [len(t) - len(common) for t in tables], labels)


def label_agreements(judgements: Sequence[Sequence[Labels]]) -> list[LabelAgreement]:
    """Per label, how far raters agree: ``judgements[i]`` holds every rater's labels of text i
    (the same number of raters for every text)."""
    labels: list[LabelAgreement] = []
    for need in NEEDS:
        ratings = np.array([[int(need in j.needs) for j in text] for text in judgements])
        kappa, kind = _kappa(ratings, 2)
        labels.append(
            LabelAgreement(
                str(need), kappa, kind, float((ratings == ratings[:, :1]).all(axis=1).mean()), float(ratings.mean())
            )
        )
    ratings = np.array([[CAUSES.index(j.cause) for j in text] for text in judgements])
    kappa, kind = _kappa(ratings, len(CAUSES))
    labels.append(LabelAgreement("cause", kappa, kind, float((ratings == ratings[:, :1]).all(axis=1).mean()), None))
    return labels


@dataclass(frozen=True)
class Disagreement:
    """A text two annotators labeled differently: a case for adjudication."""

    text: str
    first: LabelEvent
    second: LabelEvent


@dataclass(frozen=True)
class StoreAgreement:
    """Texts in the label store that two named annotators labeled (each one's latest label,
    the two most recent annotators of the text), their per-label agreement, and where they differ."""

    texts: int
    labels: list[LabelAgreement]
    disagreements: list[Disagreement]


def store_agreement(events: Sequence[LabelEvent]) -> StoreAgreement:
    """Cohen's kappa per label over the store's doubly labeled texts (as `needlens agreement`
    computes it for two files); the disagreements newest first."""
    latest: dict[str, dict[str, LabelEvent]] = defaultdict(dict)
    for event in sorted(events, key=lambda e: e.id):
        if event.label.annotator:
            by_annotator = latest[event.text_hash]
            by_annotator.pop(event.label.annotator, None)  # re-inserted last: dicts keep insertion order
            by_annotator[event.label.annotator] = event
    pairs = [tuple(list(by.values())[-2:]) for by in latest.values() if len(by) >= 2]
    pairs.sort(key=lambda pair: -pair[1].id)
    if not pairs:
        return StoreAgreement(0, [], [])
    labels = label_agreements([[first.label.labels, second.label.labels] for first, second in pairs])
    disagreements = [
        Disagreement(second.label.text, first, second)
        for first, second in pairs
        if first.label.labels != second.label.labels
    ]
    return StoreAgreement(len(pairs), labels, disagreements)


@dataclass(frozen=True)
class AnnotatorAgreement:
    """How one annotator's labels compare with the model's and with other annotators' on the
    same texts: one careless source stands out from the rest on both."""

    annotator: str  # the annotator's name, or the label source when none is named
    labels: int
    model_needs: float | None  # share of their labels whose needs the model decides the same
    model_cause: float | None
    model_contradicts: float | None  # share the model is at least `confidence` sure is wrong
    shared_texts: int  # their texts that someone else labeled too
    peer_needs: float | None  # on those, share of (their label, another's label) pairs with equal needs
    peer_cause: float | None


def annotator_of(label: NewLabel) -> str:
    """Whom a label's figures are counted under: its annotator, or its source when none is named."""
    return label.annotator or label.source


def annotator_agreement(
    labels: Sequence[NewLabel], predictor: Predictor | None, confidence: float
) -> list[AnnotatorAgreement]:
    """Per annotator (latest label of each text they labeled), most labels first."""
    by_annotator: dict[str, dict[str, NewLabel]] = defaultdict(dict)
    for label in labels:
        by_annotator[annotator_of(label)][text_hash(label.text)] = label
    texts = {digest: label.text for mine in by_annotator.values() for digest, label in mine.items()}
    scores = predictor.score(list(texts.values())) if predictor is not None and texts else None
    row_of = {digest: i for i, digest in enumerate(texts)}
    rows = []
    for name, mine in by_annotator.items():
        records = [
            LabeledRecord(id=digest[:16], text=x.text, needs=x.labels.needs, cause=x.labels.cause)
            for digest, x in mine.items()
        ]
        model: tuple[float | None, ...] = (None, None, None)
        if scores is not None:
            idx = [row_of[digest] for digest in mine]
            need_true, cause_true = label_truth(records)
            model = (
                float((scores.needs[idx] == need_true).all(axis=1).mean()),
                float((scores.cause[idx] == cause_true).mean()),
                float(confidently_wrong(records, scores.need_probs[idx], scores.cause_probs[idx], confidence).mean()),
            )
        pairs = [
            (x, theirs[digest])
            for other, theirs in by_annotator.items()
            if other != name
            for digest, x in mine.items()
            if digest in theirs
        ]
        rows.append(
            AnnotatorAgreement(
                name,
                len(mine),
                *model,
                shared_texts=len({text_hash(x.text) for x, _ in pairs}),
                peer_needs=float(np.mean([a.labels.needs == b.labels.needs for a, b in pairs])) if pairs else None,
                peer_cause=float(np.mean([a.labels.cause == b.labels.cause for a, b in pairs])) if pairs else None,
            )
        )
    return sorted(rows, key=lambda r: (-r.labels, r.annotator))
