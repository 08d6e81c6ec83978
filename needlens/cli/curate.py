"""`needlens suggest|audit|agreement`: make each label count — what to label next, which labels look
wrong, and how far annotators agree."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from classifier.labels import Decision
from needlens.cli.common import (
    EncodingOption,
    ModelOption,
    OutputFile,
    SettingsError,
    StoreOption,
    TextColumn,
    console,
    data_flag,
    existing_store,
    load_settings,
    note,
    print_row_problems,
    user_errors,
)

commands = typer.Typer()


@commands.command()
@user_errors
def suggest(
    input: Annotated[Path, typer.Argument(help="unlabeled feedback: CSV, TSV, JSONL, XLSX or Parquet")],
    output: OutputFile,
    n: Annotated[int, typer.Option("-n", min=1, help="how many texts to suggest")] = 200,
    text_column: TextColumn = "text",
    id_column: Annotated[
        str | None, typer.Option(help="column holding the row id \\[default: id, if any, else the row number]")
    ] = None,
    model: ModelOption = None,
    store: StoreOption = None,
    max_similarity: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="skip texts this similar (char n-gram cosine) to one already picked")
    ] = 0.6,
    about: Annotated[
        Decision | None,
        typer.Option(help="rank by this one decision's uncertainty (the label a team wants to teach) \\[default: any]"),
    ] = None,
    encoding: EncodingOption = "auto",
) -> None:
    """Pick the texts the model is least sure of (and not near-duplicates) for analysts to label next.

    Fill in the output's empty needs and cause columns, then `needlens labels import` it."""
    from classifier.inference import Predictor
    from label_loop.suggest import SUGGEST_COLUMNS, suggest_from_table
    from labeling.plan import check_output
    from labeling.tables import write_table

    settings = load_settings(model_dir=model, label_store=store)
    check_output(output, {"the input": input, "the label store": settings.label_store})
    label_store = existing_store(settings, named=store is not None)
    labeled = {e.text_hash for e in label_store.current()} if label_store else set()
    result = suggest_from_table(
        Predictor.load(settings.model_dir, settings),
        input,
        text_column,
        id_column,
        n,
        max_similarity,
        labeled,
        settings.max_chars,
        about=about,
        encoding=encoding,
    )
    for line in write_table(result.rows, output, SUGGEST_COLUMNS):
        note(line)
    console.print(
        f"{len(result.rows)} of {result.considered} texts suggested → {output} "
        f"({result.skipped_labeled} already labeled and {len(result.invalid)} unusable rows left out)"
    )
    print_row_problems(result.invalid)
    if len(result.rows) < min(n, result.considered):
        console.print(
            f"fewer than the {min(n, result.considered)} asked: each other text is a near-duplicate (char n-gram "
            f"cosine over --max-similarity {max_similarity}) of one already suggested"
        )


@commands.command()
@user_errors
def audit(
    output: OutputFile,
    data: Annotated[
        Path | None,
        typer.Option(help="labeled JSONL file or directory \\[default: data/seed]; --no-seed for store only"),
    ] = None,
    seed_data: Annotated[bool, typer.Option("--seed/--no-seed", help="audit the seed data too")] = True,
    store: StoreOption = None,
    confidence: Annotated[
        float, typer.Option(min=0.5, max=1.0, help="flag a label the out-of-fold model is this sure is wrong")
    ] = 0.9,
    folds: Annotated[
        int, typer.Option(min=2, help="cross-validation folds: each label is judged by a model that never saw it")
    ] = 5,
) -> None:
    """Find likely labeling mistakes: labels that cross-validated predictions confidently contradict."""
    from label_loop.audit import AUDIT_COLUMNS, audit_records, finding_rows
    from label_loop.pool import labeled_records
    from labeling.tables import write_table

    settings = load_settings(default_data=data_flag(data, seed_data), label_store=store)
    label_store = existing_store(settings, named=store is not None)
    records, sources = labeled_records(settings.default_data if seed_data else None, label_store)
    t = settings.training
    findings = audit_records(records, t.base_model, t.max_tokens, folds, confidence, t.seed)
    for line in write_table(finding_rows(findings), output, AUDIT_COLUMNS):
        note(line)
    by_label: dict[str, int] = {}
    for finding in findings:
        for d in finding.disagreements:
            by_label[d.label] = by_label.get(d.label, 0) + 1
    console.print(
        f"{len(findings)} of {len(records)} labeled texts flagged ({', '.join(f'{n} {k}' for k, n in sorted(sources.items()))})"
        f" → {output}"
    )
    if by_label:
        console.print("disagreements by label: " + ", ".join(f"{k} {v}" for k, v in sorted(by_label.items())))


@commands.command("agreement")
@user_errors
def agreement_command(
    files: Annotated[list[Path], typer.Argument(help="two or more label files (spec JSONL) over the same texts")],
) -> None:
    """Inter-annotator agreement per label: Cohen's kappa (two files) or Fleiss' kappa (more), raw agreement."""
    from rich.table import Table

    from label_loop.agreement import agreement

    resolved = [path.resolve() for path in files]
    if twice := next((path for i, path in enumerate(files) if resolved[i] in resolved[:i]), None):
        raise SettingsError(
            f"{twice}: given twice; a file always agrees with itself (kappa 1), name each annotator's file once"
        )
    report = agreement(files)
    table = Table(title=f"{report.matched} texts labeled in all {len(files)} files")
    for column in ("label", "kappa", "raw agreement", "share labeled yes"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for a in report.labels:
        rate = "–" if a.positive_rate is None else f"{a.positive_rate:.1%}"
        kappa = "– (one value throughout)" if a.kappa is None else f"{a.kappa:.3f} ({a.kappa_kind})"
        table.add_row(a.label, kappa, f"{a.raw_agreement:.1%}", rate)
    console.print(table)
    for path, missing in zip(report.files, report.unmatched, strict=True):
        if missing:
            console.print(f"{path}: {missing} texts not in every other file were left out")
