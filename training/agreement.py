"""`needlens agreement`: how far annotators agree, label by label, on the same texts.

Texts are matched across files by content hash (ids need not agree). With two files the
chance-corrected figure is Cohen's kappa; with three or more, Fleiss' kappa. Low agreement
on a label says the guideline for it needs work before any model can learn it well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score

from classifier.labels import CAUSES, NEEDS, LabeledRecord
from training.data import DataError, read_records
from training.label_store import text_hash


@dataclass(frozen=True)
class LabelAgreement:
    label: str
    kappa: float
    kappa_kind: str  # "cohen" or "fleiss"
    raw_agreement: float  # share of texts on which every annotator gave the same value
    positive_rate: float | None  # for needs: share of all judgements that said yes


@dataclass(frozen=True)
class AgreementReport:
    files: list[Path]
    matched: int
    unmatched: list[int]  # per file, texts not found in every other file
    labels: list[LabelAgreement]


def fleiss_kappa(ratings: np.ndarray, categories: int) -> float:
    """Fleiss' kappa for ``ratings`` of shape (texts, raters) holding category indices."""
    counts = np.stack([(ratings == c).sum(axis=1) for c in range(categories)], axis=1).astype(np.float64)
    raters = ratings.shape[1]
    per_text = ((counts * (counts - 1)).sum(axis=1)) / (raters * (raters - 1))
    p_bar = per_text.mean()
    shares = counts.sum(axis=0) / counts.sum()
    p_e = float((shares**2).sum())
    return 1.0 if p_e == 1.0 else float((p_bar - p_e) / (1 - p_e))


def _kappa(ratings: np.ndarray, categories: int) -> tuple[float, str]:
    if ratings.shape[1] == 2:
        if len(np.unique(ratings)) == 1:  # everyone always said the same: perfect, but kappa is 0/0
            return 1.0, "cohen"
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
    labels: list[LabelAgreement] = []
    for need in NEEDS:
        ratings = np.array([[int(need in t[h].needs) for t in tables] for h in common])
        kappa, kind = _kappa(ratings, 2)
        labels.append(
            LabelAgreement(
                str(need), kappa, kind, float((ratings == ratings[:, :1]).all(axis=1).mean()), float(ratings.mean())
            )
        )
    ratings = np.array([[CAUSES.index(t[h].cause) for t in tables] for h in common])
    kappa, kind = _kappa(ratings, len(CAUSES))
    labels.append(LabelAgreement("cause", kappa, kind, float((ratings == ratings[:, :1]).all(axis=1).mean()), None))
    return AgreementReport(list(files), len(common), [len(t) - len(common) for t in tables], labels)
