"""Terminal summaries of a labeling run, for the analyst watching the command finish."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from classifier.inference import Prediction
from classifier.labels import CAUSES, CHINESE_NAMES, NEEDS
from labeling.job import LabelSummary


def _share(count: int, total: int) -> str:
    return f"{count} ({100 * count / total:.0f}%)" if total else "0"


def print_label_summary(summary: LabelSummary, console: Console) -> None:
    resumed = f", {summary.resumed_rows} kept from an earlier run" if summary.resumed_rows else ""
    console.print(
        f"[bold]{summary.rows}[/] rows → {summary.output}: {summary.labeled} labeled, "
        f"{summary.errors} with errors{resumed} ({summary.seconds:.1f} s)"
    )
    counts = Table(title="labels")
    counts.add_column("label")
    counts.add_column("rows", justify="right")
    for label in NEEDS:
        counts.add_row(f"need  {label} {CHINESE_NAMES[label]}", _share(summary.need_counts[label], summary.labeled))
    for label in CAUSES:
        counts.add_row(f"cause {label} {CHINESE_NAMES[label]}", _share(summary.cause_counts[label], summary.labeled))
    counts.add_row("[yellow]needs review[/] (inside an uncertainty band)", _share(summary.to_review, summary.labeled))
    for code, n in sorted(summary.error_counts.items()):
        counts.add_row(f"[red]error {code}[/]", str(n))
    console.print(counts)
    if summary.examples:
        examples = Table(title="examples", show_lines=True)
        for column in ("id", "text", "needs", "cause"):
            examples.add_column(column, overflow="fold")
        for text, row in summary.examples:
            shown = text if len(text) <= 80 else text[:79] + "…"
            needs = ", ".join(f"{n} {row[f'p_{n}']:.2f}" for n in row["needs"])
            cause = row["cause"]
            examples.add_row(str(row["id"]), shown, needs, f"{cause} {row['p_' + cause]:.2f}")
        console.print(examples)


_STYLES = {"surface": "bold cyan", "emotional": "bold magenta", "growth": "bold green"}


def _highlighted(text: str, spans: list[tuple[int, int]], style: str) -> Text:
    shown = Text(text)
    for start, end in spans:
        shown.stylize(f"{style} underline", start, end)
    return shown


_MIN_SHOWN_DROP = 0.01


def print_explanation(text: str, prediction: Prediction, console: Console) -> None:
    """The text once per predicted label, with that label's evidence highlighted and scored."""
    evidence = prediction.evidence or {}
    for label in [*prediction.needs, prediction.cause]:
        probability = (prediction.need_probs | prediction.cause_probs)[label]
        kind = "need " if label in prediction.need_probs else "cause"
        flag = (
            "  [yellow]needs review[/]"
            if label in prediction.needs_review or (kind == "cause" and "cause" in prediction.needs_review)
            else ""
        )
        console.print(f"[bold]{kind} {label} {CHINESE_NAMES[label]}[/] p={probability:.2f}{flag}")
        spans = evidence.get(label, [])
        console.print(_highlighted(text, [(s.start, s.end) for s in spans], _STYLES.get(label, "bold yellow")))
        listed = ", ".join(f"「{s.text}」 −{s.score:.2f}" for s in spans)
        if spans and spans[0].score >= _MIN_SHOWN_DROP:
            console.print(f"  evidence: {listed}")
        else:  # a very confident label is often supported redundantly: no one word carries it
            console.print(
                f"  evidence: no single word moves this label by {_MIN_SHOWN_DROP} or more"
                + (f" (largest: {listed})" if spans else "")
            )
    for segment in prediction.segments or []:
        console.print(
            f"[dim]segment {segment.start}-{segment.end}:[/] {text[segment.start : segment.end]} "
            f"→ {', '.join(segment.needs)} / {segment.cause}"
        )
