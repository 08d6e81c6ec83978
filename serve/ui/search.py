"""`/ui?q=TEXT`: stored predictions, queued texts and labels whose text contains it or whose id
it is, newest first, each opening in the labeling view."""

from __future__ import annotations

import re
from dataclasses import dataclass

from label_loop.predictions import PredictionStore
from label_loop.review_queue import QueueItem, ReviewQueue, stored_item
from label_loop.store import LabelEvent

MAX_QUERY = 200
_ID = re.compile(r"^(p|t|l|ls-)([0-9]{1,18})$")


@dataclass(frozen=True)
class Hit:
    key: str  # what /ui/item/<key> opens
    shown_id: str
    text: str
    labels: str
    kind: str
    created_at: str


def _label_hit(event: LabelEvent) -> Hit:
    label = event.label
    who = label.annotator or label.source
    labels = f"{who}: {', '.join(label.labels.needs)} / {label.labels.cause}"
    return Hit(f"l{event.id}", f"ls-{event.id}", label.text, labels, f"label ({label.source})", event.created_at)


def _item_hit(item: QueueItem) -> Hit:
    if item.prediction is not None:
        needs = item.prediction.get("needs")
        shown = ", ".join(map(str, needs)) if isinstance(needs, list) else ""
        labels, kind = f"model: {shown} / {item.prediction.get('cause', '')}", "stored prediction"
    else:
        labels, kind = "—", "queued text"
    return Hit(item.key, item.key, item.text, labels, kind, item.created_at)


def search(query: str, queue: ReviewQueue, predictions: PredictionStore | None, limit: int) -> list[Hit]:
    """Up to ``limit`` hits of each kind; an id (p12, t3, ls-7) finds that one item as well."""
    query = query.strip()[:MAX_QUERY]
    hits: dict[str, Hit] = {}
    matched = _ID.match(query.lower())
    if matched and matched.group(1) in ("l", "ls-"):
        event = queue.store.event(int(matched.group(2)))
        if event is not None:
            hits[f"l{event.id}"] = _label_hit(event)
    elif matched:
        item = queue.item(matched.group(1) + matched.group(2))
        if item is not None:
            hits[item.key] = _item_hit(item)
    for event in queue.store.search(query, limit):
        hits.setdefault(f"l{event.id}", _label_hit(event))
    for item in queue.search(query, limit):
        hits.setdefault(item.key, _item_hit(item))
    if predictions is not None:
        for stored in predictions.query(text_contains=query, limit=limit):
            found = stored_item(stored)
            if found is not None:
                hits.setdefault(found.key, _item_hit(found))
    return sorted(hits.values(), key=lambda hit: hit.created_at, reverse=True)
