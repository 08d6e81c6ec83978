"""Evaluation reports as JSON, Markdown and a terminal table, all from one report dict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from classifier.labels import CAUSES, CHINESE_NAMES, NEEDS

_SUMMARY = (
    ("needs macro-F1", "needs_macro_f1"),
    ("needs micro-F1", "needs_micro_f1"),
    ("needs exact match", "needs_exact_match"),
    ("cause accuracy", "cause_accuracy"),
    ("cause macro-F1", "cause_macro_f1"),
    ("needs ECE", "needs_ece"),
    ("cause ECE", "cause_ece"),
)


SMALL_SET = 100
"""Below this many texts an evaluation's figures move by 0.01 or more with each text."""

SMALL_LABEL = 30
"""Below this many texts of a label in a domain, one text more or less right moves that label's F1
there by more than 0.015 (about 1 / (2 × count))."""


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}"


def _interval(bounds: list[float] | None, signed: bool = False) -> str:
    if bounds is None:
        return "–"
    low, high = (f"{v:+.3f}" if signed else f"{v:.3f}" for v in bounds)
    return f"[{low}, {high}]"


def _lead(report: dict[str, Any], name: str, model: float | None, baseline: float | None) -> str:
    """The model's lead over the baseline on one F1, and its interval: the difference the data shows."""
    bounds = report["intervals"].get("model_minus_baseline", {}).get(name)
    if bounds is None or model is None or baseline is None:
        return "–"
    return f"{model - baseline:+.3f} {_interval(bounds, signed=True)}"


def summary_header(report: dict[str, Any]) -> list[str]:
    extra = ["model, 95% CI", "model − baseline, 95% CI"] if "intervals" in report else []
    return ["figure", "fine-tuned model", "TF-IDF + LR baseline", *extra]


def summary_rows(report: dict[str, Any]) -> list[tuple[str, ...]]:
    baseline = report.get("baseline") or {}
    rows = []
    for name, key in _SUMMARY:
        row: tuple[str, ...] = (name, _fmt(report["model"].get(key)), _fmt(baseline.get(key)))
        if "intervals" in report:
            row += (
                _interval(report["intervals"]["model"].get(key)),
                _lead(report, key, report["model"].get(key), baseline.get(key)),
            )
        rows.append(row)
    return rows


def label_header(report: dict[str, Any]) -> list[str]:
    extra = ["F1, 95% CI", "model − baseline, 95% CI"] if "intervals" in report else []
    return ["label", "precision", "recall", "F1", "baseline F1", *extra, "support", "share"]


def label_rows(report: dict[str, Any]) -> list[tuple[str, ...]]:
    baseline = report.get("baseline") or {}
    rows = []
    for group, labels in (("needs", NEEDS), ("cause", CAUSES)):
        for label in labels:
            m = report["model"][group][label]
            b = baseline.get(group, {}).get(label, {})
            extra: tuple[str, ...] = ()
            if "intervals" in report:
                extra = (_interval(report["intervals"]["model"].get(label)), _lead(report, label, m["f1"], b.get("f1")))
            row = (f"{label} {CHINESE_NAMES[label]}", _fmt(m["precision"]), _fmt(m["recall"]), _fmt(m["f1"]))
            share = f"{100 * m['support'] / n:.1f}%" if (n := report["model"]["n"]) else "–"
            rows.append((*row, _fmt(b.get("f1")), *extra, str(m["support"]), share))
    return rows


def caveat_lines(report: dict[str, Any]) -> list[str]:
    """What a reader would otherwise misread in the tables: a label these texts do not have (its
    F1 undefined, left out of the macro-F1s), and a need so common that tagging every text with it
    scores about what the model does."""
    model, lines = report["model"], []
    if model["n"] < SMALL_SET:
        lines.append(
            f"Only {model['n']} texts: one text moves a figure here by {1 / max(model['n'], 1):.2f} or more; "
            "read the intervals, not the digits."
        )
    absent = [label for group in ("needs", "cause") for label, m in model[group].items() if not m["support"]]
    if absent:
        which = (
            f"{absent[0]}: its recall and F1 are"
            if len(absent) == 1
            else f"{', '.join(absent)}: their recall and F1 are"
        )
        lines.append(f"No text here has {which} undefined, and the macro-F1s average the labels these texts have.")
    for label, m in model["needs"].items():
        share = m["support"] / model["n"] if model["n"] else 0.0
        if share >= 0.5:
            constant = 2 * share / (1 + share)
            lines.append(
                f"{label} is on {100 * share:.1f}% of these texts: tagging every text {label} would score F1 "
                f"{constant:.3f} (the model: {_fmt(m['f1'])})."
            )
    return lines


def _interval_lines(report: dict[str, Any]) -> list[str]:
    intervals = report.get("intervals")
    if not intervals:
        return []
    return [
        "",
        "CI: a percentile bootstrap interval over the texts "
        f"({intervals['samples']:,} resamples; `NEEDLENS_BOOTSTRAP_SAMPLES`). The model − baseline interval "
        "scores both on the same resamples; where it includes 0 these texts cannot tell the two apart. "
        "They measure the sample of texts, not what another training run would score.",
    ]


def _soft_label_lines(data: dict[str, Any]) -> list[str]:
    """What the figures left out as learned by the model, or why that could not be checked."""
    if "left_out_soft_labeled" not in data:
        return []
    if data["left_out_soft_labeled"] is None:
        return [
            "Not checked for texts the model learned as soft labels: " + "; ".join(data.get("soft_label_notes", []))
        ]
    if data["left_out_soft_labeled"]:
        return [f"Left out: {data['left_out_soft_labeled']} texts the model learned as a teacher's soft labels."]
    return []


def _markdown_table(header: list[str], rows: list[tuple[str, ...]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def to_markdown(report: dict[str, Any]) -> str:
    data = report["data"]
    lines = [
        f"# Evaluation of `{report['model_version']}`",
        "",
        f"Data: `{data.get('path')}` — {report['model']['n']} records, fingerprint `{str(data.get('fingerprint'))[:12]}`.",
        f"{data.get('note', '')}",
        *_soft_label_lines(data),
        "",
        *_markdown_table(summary_header(report), summary_rows(report)),
        "",
        *_markdown_table(label_header(report), label_rows(report)),
        *(["", *caveats] if (caveats := caveat_lines(report)) else []),
        *_interval_lines(report),
        "",
        "Cause confusion (rows: true, columns: predicted):",
        "",
        "| true \\ predicted | " + " | ".join(CAUSES) + " |",
        "|---|" + "---:|" * len(CAUSES),
    ]
    matrix = report["model"]["cause_confusion"]["rows_true_cols_pred"]
    lines += [
        f"| {label} | " + " | ".join(str(v) for v in row) + " |" for label, row in zip(CAUSES, matrix, strict=True)
    ]
    lines += _review_lines(report)
    if report.get("per_domain"):
        lines += _domain_lines(report["per_domain"])
    per_label_ece = report["model"].get("needs_ece_per_label")
    lines += [
        "",
        "ECE: expected calibration error over 10 equal-width bins (needs: every label's probability, "
        f"{len(NEEDS) * report['model']['n']:,} of them pooled"
        + (f"; per label {', '.join(f'{k} {v:.3f}' for k, v in per_label_ece.items())}" if per_label_ece else "")
        + "; cause: top-class confidence). Below a few hundred texts most bins hold a handful, so ECE is "
        "rough. The baseline decides needs at 0.5; the model at its tuned thresholds "
        + ", ".join(f"{k} {v:.2f}" for k, v in report["thresholds"].items())
        + ". –: a figure that is undefined (recall and F1 of a label no text has, precision of one never "
        "predicted) or not given.",
        "",
    ]
    return "\n".join(lines)


def _review_rule(report: dict[str, Any]) -> str:
    """What routes a label to review, from the model's config: without it, a label with no band
    reads as one where the band does not help."""
    rules = report.get("review_rules")
    if not rules:
        return ""
    banded = [f"{n} when within ±{b:.2f} of its threshold" for n, b in rules["need_bands"].items() if b > 0]
    unbanded = [n for n, b in rules["need_bands"].items() if b <= 0]
    cause = f"the cause when its top probability is below {rules['cause_below']:.2f}" if rules["cause_below"] else ""
    routed = ", ".join(filter(None, [cause, *banded])) or "no label"
    never = f"; {' and '.join(unbanded)} never" if unbanded else ""
    return f" Routed to review: {routed}{never}."


def _review_lines(report: dict[str, Any]) -> list[str]:
    review = report["model"].get("review")
    if not review:
        return []
    accuracy = review["needs_accuracy_unflagged"]
    exact_all = review.get("exact_match_all_texts")
    return [
        "",
        f"Review band: {100 * review['texts_flagged']:.1f}% of texts have at least one label routed to review "
        f"(cause: {100 * review['cause_flagged']:.1f}%).{_review_rule(report)} Accuracy on what is not routed — "
        f"cause {_fmt(review['cause_accuracy_unflagged'])} (all: {_fmt(report['model']['cause_accuracy'])}); "
        + ", ".join(f"{n} {_fmt(accuracy[n])} (all: {_fmt(review['needs_accuracy_all'][n])})" for n in accuracy)
        + f"; every label of a text right (needs and cause), on texts with nothing routed: "
        f"{_fmt(review['exact_match_unflagged_texts'])}"
        + (f" (all: {_fmt(exact_all)})." if exact_all is not None else "."),
    ]


def _domain_lines(per_domain: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "| domain | n | needs macro-F1 | cause accuracy | cause macro-F1 | fewest texts of a label | labels no text has |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    small = False
    for domain, m in per_domain.items():
        support = m.get("support", {})
        present = {label: count for label, count in support.items() if count}
        fewest = min(present, key=present.__getitem__) if present else None
        few = f"{fewest} {present[fewest]}" if fewest else "–"
        if fewest and present[fewest] < SMALL_LABEL:
            few, small = few + " †", True
        absent = ", ".join(label for label, count in support.items() if not count) or "–"
        lines.append(
            f"| {domain} | {m['n']} | {_fmt(m['needs_macro_f1'])} | {_fmt(m['cause_accuracy'])} "
            f"| {_fmt(m['cause_macro_f1'])} | {few} | {absent} |"
        )
    if small:
        lines += [
            "",
            f"† fewer than {SMALL_LABEL} texts of that label in the domain: each of them moves that label's F1 "
            "there by over 0.015, so read the row's macro-F1s as rough figures.",
        ]
    return lines


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(to_markdown(report), encoding="utf-8")
    return json_path, md_path


def print_report(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    summary = Table(title=f"{report['model_version']} on {report['data'].get('path')} (n={report['model']['n']})")
    for i, column in enumerate(summary_header(report)):
        summary.add_column(column, justify="right" if i else "left")
    for row in summary_rows(report):
        summary.add_row(*row)
    per_label = Table()
    for i, column in enumerate(label_header(report)):
        per_label.add_column(column, justify="right" if i else "left")
    for row in label_rows(report):
        per_label.add_row(*row)
    console.print(summary)
    console.print(per_label)
    for line in caveat_lines(report):
        console.print(line, highlight=False)
    review = report["model"].get("review")
    if review:
        console.print(
            f"review band: {100 * review['texts_flagged']:.1f}% of texts have a label routed to review; cause "
            f"accuracy {_fmt(review['cause_accuracy_unflagged'])} on texts whose cause is not routed "
            f"(all: {_fmt(report['model']['cause_accuracy'])})",
            highlight=False,
        )
