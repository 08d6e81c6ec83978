"""The retrain comparison report (candidate vs active on the gold set and the held-out new labels,
per label and per label source) as JSON, Markdown and tables."""

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
_SET_TITLES = {"gold": "gold set", "new-labels": "held-out new labels"}
_COLUMNS = ("figure", "active", "candidate", "delta", "delta 95% CI")
_SOURCE_COLUMNS = ("set", "label source", "n", "needs: active", "candidate", "cause: active", "candidate")


def _fmt(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.4f}" if sign else f"{value:.4f}"


def headline_figures(comparison: dict[str, Any], version: str) -> dict[str, float]:
    """A version's gated figures in the comparison that judged it: on the gold set, else the
    held-out new labels, else (reports written before the gold set existed) the held-out set."""
    sets = comparison.get("sets") or {}
    for name in ("gold", "new-labels"):
        if version in sets.get(name, {}).get("models", {}):
            return dict(sets[name]["models"][version])
    return dict(comparison.get("models", {}).get(version, {}))


def comparison_rows(comparison: dict[str, Any], set_name: str) -> list[tuple[str, str, str, str, str]]:
    """(figure, active, candidate, delta, 95% interval of the delta) per headline and per-label F1."""
    judged = comparison["sets"][set_name]
    candidate = judged["models"][comparison["candidate"]]
    active = judged["models"].get(comparison["active"]) if comparison["active"] else None
    interval = judged.get("delta_95ci") or {}
    rows = []

    def add(name: str, a: float | None, c: float | None, key: str | None = None) -> None:
        delta = None if a is None or c is None else c - a
        ci = interval.get(key) if key else None
        rows.append((name, _fmt(a), _fmt(c), _fmt(delta, sign=True), f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""))

    for name, key in _ROWS:
        add(name, active.get(key) if active else None, candidate.get(key), key)
    for group, labels in (("needs", NEEDS), ("cause", CAUSES)):
        for label in labels:
            add(f"{label} F1", active[group][label]["f1"] if active else None, candidate[group][label]["f1"])
    return rows


def source_rows(comparison: dict[str, Any]) -> list[tuple[str, ...]]:
    """Both macro-F1s of both models per judging set and label source (or annotator)."""
    active, candidate = comparison["active"], comparison["candidate"]
    rows = []
    for row in comparison["by_source"]:
        figures = row["models"]
        rows.append(
            (
                row["set"],
                row["group"],
                str(row["n"]),
                *(
                    _fmt(figures.get(version, {}).get(metric))
                    for metric in ("needs_macro_f1", "cause_macro_f1")
                    for version in (active, candidate)
                ),
            )
        )
    return rows


def _set_caption(comparison: dict[str, Any], set_name: str) -> str:
    judged = comparison["sets"][set_name]
    sources = ", ".join(f"{n} {k}" for k, n in sorted(judged["sources"].items()))
    left_out = judged.get("left_out_soft_labeled")
    learned = f"; {left_out} more left out, learned as soft labels" if left_out else ""
    return (
        f"{_SET_TITLES.get(set_name, set_name)}: {judged['n']} texts ({sources}{learned}), version {judged['version']}"
    )


def _verdict(comparison: dict[str, Any]) -> str:
    if comparison["promoted"]:
        return f"PROMOTED ({comparison['promotion_reason']})"
    refused = ", ".join(comparison.get("refused_by") or []) or "a gated figure"
    return f"NOT PROMOTED: worse than the active model beyond the tolerance on {refused}"


def comparison_markdown(comparison: dict[str, Any]) -> str:
    held = comparison["held_out"]
    train = comparison["training_labels"]
    quarantined = train.get("quarantined_left_out")
    lines = [
        f"# Candidate `{comparison['candidate']}` vs active `{comparison['active'] or 'none'}`",
        "",
        f"Judging sets: texts held out by {held['rule']} (percent {held['percent']}), never trained on by any "
        f"registered model (a text either model learned as a teacher's soft label is left out). The gold set keeps the seed data's labels and adds texts an admin marked as gold, so "
        f"new labels cannot move it. The candidate trained on {train['n']} texts "
        f"({', '.join(f'{n} from {k}' for k, n in sorted(train['sources'].items()))})"
        + (f"; {quarantined} labels in quarantine were left out." if quarantined else "."),
        "",
    ]
    for set_name in comparison["sets"]:
        lines += [
            f"## {_set_caption(comparison, set_name)}",
            "",
            "| " + " | ".join(_COLUMNS) + " |",
            "|---|---:|---:|---:|---|",
            *("| " + " | ".join(row) + " |" for row in comparison_rows(comparison, set_name)),
            "",
        ]
    lines += [
        "## Macro-F1 by label source",
        "",
        "| " + " | ".join(_SOURCE_COLUMNS) + " |",
        "|---|---|---:|---:|---:|---:|---:|",
        *("| " + " | ".join(row) + " |" for row in source_rows(comparison)),
        "",
        f"Gate: {comparison['rule']}; tolerance {comparison['tolerance']:.4f}.",
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
    for set_name in comparison["sets"]:
        table = Table(title=_set_caption(comparison, set_name))
        for column in _COLUMNS:
            table.add_column(column, justify="left" if column == "figure" else "right")
        for row in comparison_rows(comparison, set_name):
            table.add_row(*row)
        console.print(table)
    if comparison["active"]:
        sources = Table(title="macro-F1 by label source")
        for column in _SOURCE_COLUMNS:
            sources.add_column(column, justify="right" if column not in ("set", "label source") else "left")
        for row in source_rows(comparison):
            sources.add_row(*row)
        console.print(sources)
    for reason in comparison["reasons"]:
        console.print(f"  {reason}", highlight=False)
    console.print(_verdict(comparison), style="bold green" if comparison["promoted"] else "bold red")
