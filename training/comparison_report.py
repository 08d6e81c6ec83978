"""The retrain comparison report (candidate vs active on the held-out set) as JSON, Markdown and a table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from classifier.labels import CAUSES, NEEDS

_ROWS = (
    ("needs macro-F1", "needs_macro_f1"),
    ("cause macro-F1", "cause_macro_f1"),
    ("cause accuracy", "cause_accuracy"),
    ("needs ECE", "needs_ece"),
    ("cause ECE", "cause_ece"),
)


def _fmt(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.4f}" if sign else f"{value:.4f}"


def comparison_rows(comparison: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(figure, active, candidate, delta, 95% interval of the delta) per headline and per-label F1."""
    models = comparison["models"]
    candidate = models[comparison["candidate"]]
    active = models.get(comparison["active"]) if comparison["active"] else None
    interval = comparison.get("delta_95ci") or {}
    rows = []

    def add(name: str, a: float | None, c: float | None, key: str | None = None) -> None:
        delta = None if a is None or c is None else c - a
        ci = interval.get(key) if key else None
        rows.append((name, _fmt(a), _fmt(c), _fmt(delta, sign=True), f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""))

    for name, key in _ROWS:
        add(name, active.get(key) if active else None, candidate.get(key), key)
    for group, labels in (("needs", NEEDS), ("cause", CAUSES)):
        for label in labels:
            add(
                f"{label} F1",
                active[group][label]["f1"] if active else None,
                candidate[group][label]["f1"],
            )
    return rows


def _verdict(comparison: dict[str, Any]) -> str:
    if comparison["promoted"]:
        return f"PROMOTED ({comparison['promotion_reason']})"
    return "NOT PROMOTED: the candidate is worse than the active model beyond the tolerance"


def comparison_markdown(comparison: dict[str, Any]) -> str:
    held = comparison["held_out"]
    train = comparison["training_labels"]
    lines = [
        f"# Candidate `{comparison['candidate']}` vs active `{comparison['active'] or 'none'}`",
        "",
        f"Held-out set: {held['n']} labeled texts ({held['percent']}% by {held['rule']}), never trained on by any "
        f"registered model; fingerprint `{held['fingerprint'][:12]}`. The candidate trained on {train['n']} texts "
        f"({', '.join(f'{n} from {k}' for k, n in sorted(train['sources'].items()))}).",
        "",
        "| figure | active | candidate | delta | delta 95% CI (paired bootstrap) |",
        "|---|---:|---:|---:|---|",
        *("| " + " | ".join(row) + " |" for row in comparison_rows(comparison)),
        "",
        f"Gate: neither macro-F1 may drop by more than {comparison['tolerance']:.4f}.",
        "",
        *(f"- {reason}" for reason in comparison["reasons"]),
        "",
        f"**{_verdict(comparison)}**",
        "",
    ]
    return "\n".join(lines)


def write_comparison_report(comparison: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(comparison, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(comparison_markdown(comparison), encoding="utf-8")


def print_comparison(comparison: dict[str, Any], console: Console) -> None:
    table = Table(title=f"held-out set, n={comparison['held_out']['n']}")
    for column in ("figure", "active", "candidate", "delta", "delta 95% CI"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for row in comparison_rows(comparison):
        table.add_row(*row)
    console.print(table)
    for reason in comparison["reasons"]:
        console.print(f"  {reason}", highlight=False)
    console.print(_verdict(comparison), style="bold green" if comparison["promoted"] else "bold red")
