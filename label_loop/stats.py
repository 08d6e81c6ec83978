"""What is in the label store: label and source counts, what waits in quarantine or in feedback
batches, the gold texts, and the corrections analysts made lately."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from classifier.labels import CAUSES, CHINESE_NAMES, NEEDS
from classifier.settings import ArrivalSettings
from label_loop.feedback import FeedbackInbox
from label_loop.store import LabelStore


def print_label_stats(store: LabelStore, recent: int, console: Console, arrival: ArrivalSettings) -> None:
    current = store.current()
    total = len(current)
    needs = Counter(str(n) for e in current for n in e.label.labels.needs)
    causes = Counter(str(e.label.labels.cause) for e in current)
    sources = Counter(e.label.source for e in current)
    table = Table(title=f"{store.path}: {total} labeled texts, {store.count_events()} label events")
    for column in ("group", "value", "texts"):
        table.add_column(column, justify="right" if column == "texts" else "left")
    for label in NEEDS:
        table.add_row("need", f"{label} {CHINESE_NAMES[label]}", str(needs[label]))
    for label in CAUSES:
        table.add_row("cause", f"{label} {CHINESE_NAMES[label]}", str(causes[label]))
    for source, n in sources.most_common():
        table.add_row("source", source, str(n))
    console.print(table)
    held = store.quarantine_batches()
    if held:
        console.print(
            f"quarantine: {sum(b.labels for b in held)} labels in {len(held)} held batches, not trained on "
            "(`needlens labels quarantine list`)"
        )
    waiting = FeedbackInbox(store, arrival).waiting()
    if waiting:
        console.print(
            f"feedback: {sum(b.labels for b in waiting)} labels waiting in {len(waiting)} annotators' batches, "
            f"not trained on until judged at {arrival.min_labels} (`needlens labels feedback list`)"
        )
    gold = store.gold()
    if gold:
        console.print(f"gold: {len(gold)} texts an admin marked as gold (`needlens labels gold show`)")
    corrections = store.recent_corrections(recent)
    if corrections:
        latest = Table(title="recent corrections")
        for column in ("when", "text", "now", "source", "annotator"):
            latest.add_column(column, overflow="fold")
        for e in corrections:
            text = e.label.text if len(e.label.text) <= 40 else e.label.text[:39] + "…"
            labels = f"{'|'.join(e.label.labels.needs)} / {e.label.labels.cause}"
            latest.add_row(e.created_at[:19], text, labels, e.label.source, e.label.annotator or "")
        console.print(latest)
