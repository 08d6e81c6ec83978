"""`needlens label|train|evaluate|demo|check-data`: parse flags, call the library, report.

Every user mistake (bad data, missing column, unreadable file, unusable model) ends as
one line on stderr and exit code 2; nothing here knows how labeling or training works.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from classifier.errors import ModelLoadError
from classifier.settings import Settings
from classifier.tabular import TableError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Chinese customer-feedback needs and complaint-cause classifier.",
)
console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

ModelOption = Annotated[
    Path | None, typer.Option("--model", "-m", help="model directory [default: NEEDLENS_MODEL_DIR or models/default]")
]


def _user_errors(func: F) -> F:
    """Turn the library's user-facing errors into one line and exit 2."""
    from training.data import DataError

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (DataError, TableError, ModelLoadError, FileNotFoundError) as exc:
            err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _settings(**overrides: Any) -> Settings:
    settings = Settings()
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)
    return settings


@app.command()
@_user_errors
def train(
    data: Annotated[
        Path | None, typer.Option(help="JSONL file or directory of JSONL files [default: data/seed]")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="model directory to write [default: models/default]")
    ] = None,
    base_model: Annotated[str | None, typer.Option(help="'use-m3' or a local Hugging Face encoder directory")] = None,
    epochs: Annotated[int | None, typer.Option(min=1)] = None,
    seed: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Fine-tune a model on labeled JSONL, tune thresholds, calibrate, and save it with its report."""
    from training.pipeline import train_model
    from training.report import print_report

    settings = _settings()
    training = settings.training.model_copy(
        update={k: v for k, v in {"base_model": base_model, "epochs": epochs, "seed": seed}.items() if v is not None}
    )
    report = train_model(data or settings.default_data, out or settings.model_dir, training, log=console.print)
    print_report(report, console)


@app.command()
@_user_errors
def evaluate(
    data: Annotated[Path, typer.Option(help="labeled JSONL file or directory")],
    model: ModelOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="report directory [default: reports/MODEL/DATA]")
    ] = None,
) -> None:
    """Score a model on labeled data beside its TF-IDF baseline; write report.json and report.md."""
    from classifier.inference import Predictor
    from training.data import fingerprint, read_records, to_dataset
    from training.evaluate import evaluation_report
    from training.report import print_report, write_report

    settings = _settings()
    model_dir = model or settings.model_dir
    records = read_records(data)
    predictor = Predictor.load(model_dir, settings)
    facts = {"path": str(data), "fingerprint": fingerprint(records)}
    report = evaluation_report(predictor, model_dir, to_dataset(records), facts)
    out_dir = out or Path("reports") / model_dir.name / data.stem
    json_path, md_path = write_report(report, out_dir)
    print_report(report, console)
    console.print(f"wrote {json_path} and {md_path}")


@app.command()
@_user_errors
def label(
    input: Annotated[Path, typer.Argument(help="CSV, TSV, JSONL, XLSX or Parquet file of feedback")],
    output: Annotated[Path, typer.Option("--output", "-o", help="output file; its extension picks the format")],
    text_column: Annotated[str, typer.Option(help="column holding the text")] = "text",
    id_column: Annotated[str, typer.Option(help="column holding the row id")] = "id",
    model: ModelOption = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="texts per forward pass")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    explain: Annotated[bool, typer.Option(help="add evidence spans for every predicted label")] = False,
) -> None:
    """Label every row of a file; rerun the same command to resume an interrupted job."""
    _label(input, output, text_column, id_column, _settings(batch_size=batch_size), model, progress, explain)


def _label(
    source: Path,
    output: Path,
    text_column: str,
    id_column: str,
    settings: Settings,
    model: Path | None,
    progress: bool,
    explain: bool = False,
) -> None:
    from classifier.batch import LabelJob
    from classifier.inference import Predictor
    from needlens.summary import print_label_summary

    predictor = Predictor.load(model or settings.model_dir, settings)
    job = LabelJob(predictor, settings.chunk_rows, settings.max_chars, explain=explain)
    try:
        summary = job.run(source, output, text_column, id_column, progress=progress)
    except KeyboardInterrupt:
        err_console.print("interrupted: finished rows are kept; run the same command again to resume")
        raise typer.Exit(130) from None
    print_label_summary(summary, console)


@app.command()
@_user_errors
def explain(
    text: Annotated[str, typer.Argument(help="the feedback text to explain")],
    model: ModelOption = None,
) -> None:
    """Classify one text and show, label by label, the words that drove each tag."""
    from classifier.inference import Predictor, validate_text
    from needlens.summary import print_explanation

    settings = _settings()
    try:
        text = validate_text(text, settings.max_chars)
    except ValueError as problem:
        raise typer.BadParameter(str(problem), param_hint="TEXT") from None
    prediction = Predictor.load(model or settings.model_dir, settings).predict([text], explain=True)[0]
    print_explanation(text, prediction, console)


@app.command()
@_user_errors
def demo(
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("out/sample_labeled.csv"),
) -> None:
    """Train the default model if there is none, then label the bundled sample and summarise it."""
    settings = _settings()
    if not (settings.model_dir / "config.json").is_file():
        console.print(f"no model at {settings.model_dir}: training the default model from {settings.default_data}")
        train(data=None, out=None, base_model=None, epochs=None, seed=None)
    _label(settings.sample_file, output, "text", "id", settings, None, progress=True)


@app.command()
@_user_errors
def serve(
    model: ModelOption = None,
    host: Annotated[str | None, typer.Option(help="interface to bind [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port [default: 8000]")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="worker processes")] = None,
    label_store: Annotated[Path | None, typer.Option(help="SQLite label store [default: labels.db]")] = None,
    micro_batching: Annotated[
        bool | None, typer.Option(help="share forward passes between concurrent requests")
    ] = None,
) -> None:
    """Serve the HTTP API (/v1/classify, /v1/feedback, /v1/model, /healthz, /readyz, /docs)."""
    import os

    import uvicorn

    overrides = {"model_dir": model, "host": host, "port": port, "workers": workers, "label_store": label_store}
    overrides["micro_batching"] = micro_batching
    for key, value in overrides.items():
        if value is not None:  # the environment is how every worker process gets the same settings
            os.environ[f"NEEDLENS_{key.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    settings = _settings()
    if not (settings.model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{settings.model_dir}: no model here; train one with `needlens train`")
    uvicorn.run(
        "serve.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,
        log_config=_LOG_CONFIG,
        timeout_graceful_shutdown=30,
    )


_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(message)s"},
        "default": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "access": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stdout"},
        "default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"},
    },
    "loggers": {
        "needlens.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        "needlens": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
    },
}


labels_app = typer.Typer(no_args_is_help=True, help="The label store: import, export and inspect analysts' labels.")
app.add_typer(labels_app, name="labels")
StoreOption = Annotated[
    Path | None, typer.Option("--store", help="SQLite label store [default: NEEDLENS_LABEL_STORE or labels.db]")
]


@labels_app.command("import")
@_user_errors
def labels_import(
    file: Annotated[Path, typer.Argument(help="CSV, TSV, JSONL, XLSX or Parquet with texts and labels")],
    store: StoreOption = None,
    text_column: Annotated[str, typer.Option(help="column holding the text")] = "text",
    needs_column: Annotated[
        str, typer.Option(help="needs: a list, 'a|b' or 'a,b'; English or Chinese names")
    ] = "needs",
    cause_column: Annotated[str, typer.Option(help="cause; English or Chinese name")] = "cause",
    annotator_column: Annotated[str | None, typer.Option(help="column naming who labeled the row")] = None,
) -> None:
    """Import labeled rows; invalid rows are listed and skipped (exit 1), re-imports add nothing."""
    from training.label_import import import_labels
    from training.label_store import LabelStore

    settings = _settings()
    report = import_labels(
        LabelStore(store or settings.label_store),
        file,
        text_column,
        needs_column,
        cause_column,
        annotator_column,
        settings.max_chars,
    )
    console.print(
        f"{file}: {report.added} labels added, {report.skipped} already in the store, {len(report.invalid)} invalid"
    )
    for row_no, reason in report.invalid[:50]:
        err_console.print(f"  row {row_no}: {reason}", highlight=False)
    if len(report.invalid) > 50:
        err_console.print(f"  … and {len(report.invalid) - 50} more")
    if report.invalid:
        raise typer.Exit(1)


@labels_app.command("export")
@_user_errors
def labels_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="file to write; its extension picks the format")],
    store: StoreOption = None,
    history: Annotated[bool, typer.Option(help="every label event, not only each text's current label")] = False,
) -> None:
    """Write the store's labels in the spec's record format (JSONL) or any table format."""
    from classifier.tabular import write_table
    from training.label_store import LabelStore

    label_store = LabelStore(store or _settings().label_store)
    events = label_store.all_events() if history else label_store.current()
    rows = (
        {
            "id": f"ls-{e.id}",
            "text": e.label.text,
            "needs": [str(n) for n in e.label.labels.needs],
            "cause": str(e.label.labels.cause),
            "source": e.label.source,
            "annotator": e.label.annotator,
            "created_at": e.created_at,
        }
        for e in events
    )
    columns = {"id": "string", "text": "string", "needs": "list", "cause": "string", "source": "string"}
    write_table(rows, output, {**columns, "annotator": "string", "created_at": "string"})
    console.print(f"wrote {len(events)} labels to {output}")


@labels_app.command("stats")
@_user_errors
def labels_stats(
    store: StoreOption = None,
    recent: Annotated[int, typer.Option(help="how many recent corrections to list")] = 10,
) -> None:
    """Counts per label and source, and the latest corrections."""
    from training.label_stats import print_label_stats
    from training.label_store import LabelStore

    label_store = LabelStore(store or _settings().label_store)
    print_label_stats(label_store, recent, console)


@app.command("check-data")
@_user_errors
def check_data(data: Annotated[Path, typer.Argument(help="labeled JSONL file or directory")]) -> None:
    """Validate labeled data against the spec and print its label distribution."""
    from training.data import fingerprint, read_records
    from training.data_stats import print_data_stats

    records = read_records(data)
    print_data_stats(records, console)
    console.print(f"{len(records)} valid records, fingerprint {fingerprint(records)[:16]}")
