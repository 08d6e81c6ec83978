"""What the labeling view shows of one item: the text cut into pieces at evidence spans, each
label with its probability and key, and a long text's segments.

A stored prediction is data from disk or from another process: every field is checked here
(offsets inside the text, probabilities numbers in [0, 1], names known labels) and whatever
fails is left out, so a damaged or hostile record shows less, never breaks the page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from classifier.labels import CAUSES, CHINESE_NAMES, NEEDS
from label_loop.review_queue import Claim, PastDecision, QueueItem
from label_loop.store import LabelEvent

NEED_KEYS = ("1", "2", "3")  # in NEEDS order
CAUSE_KEYS = ("q", "w", "e")  # in CAUSES order
NEED_NAMES = [str(n) for n in NEEDS]
CAUSE_NAMES = [str(c) for c in CAUSES]
EVIDENCE_LABELS = frozenset({*NEED_NAMES, *CAUSE_NAMES, "cause"})


@dataclass(frozen=True)
class Piece:
    """A run of the text; ``labels`` are those whose evidence spans cover it."""

    text: str
    labels: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Choice:
    name: str
    chinese: str
    key: str
    probability: float | None
    predicted: bool
    selected: bool
    in_review_band: bool


@dataclass(frozen=True)
class SegmentView:
    start: int
    end: int
    text: str
    needs: list[str]
    cause: str


@dataclass(frozen=True)
class ItemView:
    item: QueueItem
    pieces: list[Piece]
    needs: list[Choice]
    causes: list[Choice]
    segments: list[SegmentView]
    prediction_from: str  # "stored", "live" (the served model, now) or "none"
    model_version: str | None
    note: str | None = None  # why there is no prediction, when there is none
    history: list[LabelEvent] = field(default_factory=list)
    decisions: list[PastDecision] = field(default_factory=list)
    claim: Claim | None = None

    @property
    def editable(self) -> bool:
        return self.claim is None or self.claim.held


def _probability(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None


def _probabilities(value: Any, names: Sequence[str]) -> dict[str, float]:
    if not isinstance(value, Mapping):
        return {}
    found = {name: _probability(value.get(name)) for name in names}
    return {name: p for name, p in found.items() if p is not None}


def _names(value: Any, known: Sequence[str]) -> list[str]:
    given = {str(v) for v in value} if isinstance(value, list | tuple) else set()
    return [name for name in known if name in given]


def _offset(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def evidence_spans(value: Any, length: int) -> dict[str, list[tuple[int, int, float]]]:
    """Per label, the (start, end, score) spans that lie inside a text of ``length`` characters."""
    if not isinstance(value, Mapping):
        return {}
    spans: dict[str, list[tuple[int, int, float]]] = {}
    for label, items in value.items():
        if label not in EVIDENCE_LABELS or not isinstance(items, list):
            continue
        for span in items:
            if not isinstance(span, Mapping):
                continue
            start, end, score = _offset(span.get("start")), _offset(span.get("end")), span.get("score", 0.0)
            if start is None or end is None or not 0 <= start < end <= length:
                continue
            number = float(score) if isinstance(score, int | float) and math.isfinite(score) else 0.0
            spans.setdefault(str(label), []).append((start, end, number))
    return spans


def highlight(text: str, spans: Mapping[str, Sequence[tuple[int, int, float]]]) -> list[Piece]:
    """The text as consecutive pieces, cut wherever a span starts or ends."""
    cuts = sorted({0, len(text), *(o for found in spans.values() for s, e, _ in found for o in (s, e))})
    pieces = []
    for start, end in pairwise(cuts):
        covering = [
            (label, score) for label, found in spans.items() for s, e, score in found if s <= start and end <= e
        ]
        labels = tuple(sorted({label for label, _ in covering}))
        note = " · ".join(f"{label} −{score:.2f}" for label, score in covering)
        pieces.append(Piece(text[start:end], labels, note))
    return pieces


def segment_views(value: Any, text: str) -> list[SegmentView]:
    if not isinstance(value, list):
        return []
    views = []
    for segment in value:
        if not isinstance(segment, Mapping):
            continue
        start, end = _offset(segment.get("start")), _offset(segment.get("end"))
        if start is None or end is None or not 0 <= start < end <= len(text):
            continue
        needs = _names(segment.get("needs"), NEED_NAMES)
        cause = next(iter(_names([segment.get("cause")], CAUSE_NAMES)), "")
        views.append(SegmentView(start, end, text[start:end], needs, cause))
    return views


def build_view(
    item: QueueItem,
    prediction: Mapping[str, Any] | None,
    prediction_from: str,
    model_version: str | None,
    history: list[LabelEvent],
    decisions: list[PastDecision],
    claim: Claim | None,
    note: str | None = None,
) -> ItemView:
    """The item as the labeling view shows it. Preselected: the model's labels, else the text's
    current human label, else nothing (the annotator picks)."""
    prediction = prediction if isinstance(prediction, Mapping) else {}
    need_names, cause_names = NEED_NAMES, CAUSE_NAMES
    predicted_needs = _names(prediction.get("needs"), need_names)
    predicted_cause = next(iter(_names([prediction.get("cause")], cause_names)), None)
    review = set(_names(prediction.get("needs_review"), [*need_names, "cause"]))
    if predicted_needs or predicted_cause:
        selected_needs, selected_cause = set(predicted_needs), predicted_cause
    elif history:
        latest = history[-1].label.labels
        selected_needs, selected_cause = {str(n) for n in latest.needs}, str(latest.cause)
    else:
        selected_needs, selected_cause = set(), None
    need_p = _probabilities(prediction.get("need_probabilities"), need_names)
    cause_p = _probabilities(prediction.get("cause_probabilities"), cause_names)
    return ItemView(
        item=item,
        pieces=highlight(item.text, evidence_spans(prediction.get("evidence"), len(item.text))),
        needs=[
            Choice(n, CHINESE_NAMES[n], k, need_p.get(n), n in predicted_needs, n in selected_needs, n in review)
            for n, k in zip(need_names, NEED_KEYS, strict=True)
        ],
        causes=[
            Choice(c, CHINESE_NAMES[c], k, cause_p.get(c), c == predicted_cause, c == selected_cause, "cause" in review)
            for c, k in zip(cause_names, CAUSE_KEYS, strict=True)
        ],
        segments=segment_views(prediction.get("segments"), item.text),
        prediction_from=prediction_from if prediction else "none",
        model_version=model_version,
        note=note,
        history=history,
        decisions=decisions,
        claim=claim,
    )
