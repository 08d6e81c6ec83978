"""`needlens train|distill|evaluate|explain|check-data`: fit a model, score it, and look inside it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from classifier.settings import Profile
from needlens.cli.common import (
    ModelOption,
    SettingsError,
    check_training_device,
    console,
    load_settings,
    log_line,
    user_errors,
    with_installed_base_model,
)

commands = typer.Typer()


@commands.command()
@user_errors
def train(
    data: Annotated[
        list[Path] | None,
        typer.Option(help="JSONL file or directory of JSONL files, repeatable \\[default: data/seed and data/real]"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="model directory to write \\[default: models/default, models/accurate]"),
    ] = None,
    profile: Annotated[
        Profile, typer.Option(help="fast: the USE-m3 default; accurate: multilingual-e5-small, ~20x slower")
    ] = "fast",
    base_model: Annotated[
        str | None, typer.Option(help="'use-m3', an installed base model name (e5-small), or a Hugging Face directory")
    ] = None,
    soft_labels: Annotated[
        Path | None, typer.Option(help="a teacher's soft labels (`needlens distill`) to train on as well")
    ] = None,
    no_soft_labels: Annotated[
        bool,
        typer.Option("--no-soft-labels", help="train on the labeled data alone, without the profile's soft labels"),
    ] = False,
    epochs: Annotated[int | None, typer.Option(min=1, help="training epochs \\[default: the profile's]")] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="seeds the split, the sampling and the weights \\[default: NEEDLENS_TRAINING__SEED or 13]"),
    ] = None,
    device: Annotated[
        Literal["auto", "cpu", "cuda"] | None,
        typer.Option(help="where fine-tuning runs \\[default: auto, a CUDA GPU when torch sees one]"),
    ] = None,
) -> None:
    """Fine-tune a model on labeled JSONL, tune thresholds, calibrate, and save it with its report."""
    from training.pipeline import train_model
    from training.report import print_report

    if no_soft_labels and soft_labels is not None:
        raise SettingsError("--soft-labels and --no-soft-labels: give one or the other")
    overrides = {
        "base_model": base_model,
        "soft_labels": soft_labels,
        "soft_label_texts": 0 if no_soft_labels else None,
        "epochs": epochs,
        "seed": seed,
        "device": device,
    }
    settings = load_settings(profile=profile, default_data=data, training=overrides)
    check_training_device(settings.training.device, flag_given=device is not None)
    settings = with_installed_base_model(settings)
    default_out = settings.model_dir if profile == "fast" else settings.model_dir.with_name(profile)
    report = train_model(
        settings.default_data, out or default_out, settings.training, log=log_line, max_chars=settings.max_chars
    )
    print_report(report, console)


@commands.command()
@user_errors
def distill(
    pool: Annotated[Path, typer.Argument(help="unlabeled texts, JSONL with text (and pool_id or id, domain)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="soft-label JSONL to write (resumes)")],
    teacher: Annotated[Path, typer.Option(help="the teacher model directory")] = Path("models/accurate"),
) -> None:
    """Label unlabeled texts with a teacher model's calibrated probabilities, once, for
    `needlens train --soft-labels`."""
    from classifier.errors import ModelLoadError
    from classifier.inference import Predictor
    from classifier.model_dir import find_model
    from classifier.output_paths import check_writable_folder
    from training.distill import label_pool

    settings = load_settings()
    if output.is_dir():
        raise SettingsError(f"--output: {output} is a folder; name the soft-label JSONL file to write")
    check_writable_folder(output.parent)
    try:
        teacher = find_model(teacher, settings.home)
    except ModelLoadError:
        raise SettingsError(
            f"--teacher: no model at {teacher}; train one (`needlens train --profile accurate`) or name another"
        ) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    count = label_pool(Predictor.load(teacher, settings), pool, output, settings, log=log_line)
    console.print(f"{count} texts → {output}")


@commands.command()
@user_errors
def evaluate(
    data: Annotated[Path, typer.Option(help="labeled JSONL file or directory")],
    model: ModelOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="report directory \\[default: reports/MODEL/DATA]")
    ] = None,
) -> None:
    """Score a model on labeled data beside its TF-IDF baseline; write report.json and report.md.

    Texts the model learned as a teacher's soft labels are left out and counted: its score on
    them would be memory."""
    from classifier.inference import Predictor
    from classifier.output_paths import check_writable_folder, write_failure
    from training.data import DataError, fingerprint, read_records, to_dataset
    from training.distill import leave_out_soft_labeled, soft_labeled_by
    from training.evaluate import evaluation_report
    from training.report import print_report, write_report

    settings = load_settings(model_dir=model)
    given = read_records(data, max_chars=settings.max_chars)
    predictor = Predictor.load(settings.model_dir, settings)
    assert predictor.model_dir is not None
    out_dir = out or Path("reports") / predictor.model_dir.name / data.stem
    check_writable_folder(out_dir)  # before the scoring, not after it
    learned = soft_labeled_by([predictor.model_dir])
    records, notes = leave_out_soft_labeled(given, learned, str(data))
    for note in notes:
        console.print(note, highlight=False)
    if not records:
        raise DataError(
            f"{data}: the model learned every one of its {len(given)} texts as soft labels; nothing to judge"
        )
    facts = {
        "path": str(data),
        "fingerprint": fingerprint(records),  # of the texts scored
        "file_fingerprint": fingerprint(given),
        "left_out_soft_labeled": len(given) - len(records) if learned.complete else None,
        "soft_label_notes": notes,
    }
    report = evaluation_report(predictor, predictor.model_dir, to_dataset(records), facts, settings.bootstrap_samples)
    print_report(report, console)  # shown even if writing it fails
    try:
        json_path, md_path = write_report(report, out_dir)
    except OSError as exc:
        raise write_failure(exc, out_dir) from None
    console.print(f"wrote {json_path} and {md_path}")


@commands.command()
@user_errors
def explain(
    text: Annotated[str, typer.Argument(help="the feedback text to explain")],
    model: ModelOption = None,
) -> None:
    """Classify one text and show, label by label, the words that drove each tag."""
    from classifier.inference import Predictor, validate_text
    from needlens.summary import print_explanation

    settings = load_settings(model_dir=model)
    try:
        text = validate_text(text, settings.max_chars)
    except ValueError as problem:
        raise typer.BadParameter(str(problem), param_hint="TEXT") from None
    prediction = Predictor.load(settings.model_dir, settings).predict([text], explain=True)[0]
    print_explanation(text, prediction, console)


@commands.command("check-data")
@user_errors
def check_data(data: Annotated[Path, typer.Argument(help="labeled JSONL file or directory")]) -> None:
    """Validate labeled data against the spec and print its label distribution."""
    from training.data import conflict_notes, fingerprint, read_records
    from training.data_stats import print_data_stats

    records = read_records(data, max_chars=load_settings().max_chars)
    print_data_stats(records, console)
    for note in conflict_notes(records):
        console.print(note, highlight=False, markup=False)
    console.print(f"{len(records)} valid records, fingerprint {fingerprint(records)[:16]}")
