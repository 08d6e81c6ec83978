"""Label, domain and genre distribution of a labeled data set (what the data card reports)."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from classifier.labels import CAUSES, CHINESE_NAMES, NEEDS, LabeledRecord


def data_stats(records: list[LabeledRecord]) -> dict[str, Counter[str]]:
    return {
        "needs": Counter(str(n) for r in records for n in r.needs),
        "cause": Counter(str(r.cause) for r in records),
        "domain": Counter(r.domain or "unknown" for r in records),
        "genre": Counter(str(getattr(r, "genre", None) or "unknown") for r in records),
    }


def print_data_stats(records: list[LabeledRecord], console: Console) -> None:
    stats = data_stats(records)
    total = len(records)
    table = Table(title=f"{total} records")
    table.add_column("group")
    table.add_column("value")
    table.add_column("records", justify="right")
    table.add_column("share", justify="right")
    for group, order in (("needs", NEEDS), ("cause", CAUSES)):
        for label in order:
            table.add_row(
                group,
                f"{label} {CHINESE_NAMES[label]}",
                str(stats[group][label]),
                f"{100 * stats[group][label] / total:.1f}%",
            )
    for group in ("domain", "genre"):
        for value, n in stats[group].most_common():
            table.add_row(group, value, str(n), f"{100 * n / total:.1f}%")
    console.print(table)
