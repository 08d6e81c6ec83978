"""`needlens label`: label every row of a file, on this machine or on a Ray cluster."""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from classifier.settings import Settings
from needlens.cli.common import (
    EncodingOption,
    ModelOption,
    TextColumn,
    console,
    err_console,
    load_settings,
    user_errors,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from labeling.job import LabelSummary
    from labeling.plan import LabelPlan
    from labeling.prediction_sink import PredictionSink
    from labeling.ray_plan import RayPlan

commands = typer.Typer()

Engine = Literal["local", "ray"]


@commands.command()
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
    id_column: Annotated[
        str, typer.Option(help="column holding the row id ('': none, rows are told apart by number)")
    ] = "id",
    columns: Annotated[
        str | None,
        typer.Option(help="input columns to keep in the output, comma-separated \\[default: all]; '' keeps none"),
    ] = None,
    encoding: EncodingOption = "auto",
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
        int | None,
        typer.Option(min=1, help="single-threaded worker processes \\[default: NEEDLENS_LABEL_WORKERS or 1]"),
    ] = None,
    engine: Annotated[
        Engine, typer.Option(help="local: this machine, resumable; ray: a Ray cluster through Ray Data")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            help="--engine ray: 'auto' (the cluster this machine belongs to) or ray://HOST:10001 "
            "\\[default: NEEDLENS_RAY_ADDRESS, else Ray started on this machine]"
        ),
    ] = None,
    actors: Annotated[
        int | None,
        typer.Option(
            min=1, help="--engine ray: labeling actors, one model each \\[default: NEEDLENS_RAY_ACTORS or one per CPU]"
        ),
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(help="also store every row's prediction in this label store, for monitoring and review"),
    ] = None,
    store_text: Annotated[
        bool | None,
        typer.Option(
            "--store-text/--no-store-text",
            help="with --store: keep the texts, not only their hashes \\[default: NEEDLENS_PREDICTION_STORE_TEXT]",
        ),
    ] = None,
    time_column: Annotated[
        str | None,
        typer.Option(
            help="with --store: column with each text's time \\[default: NEEDLENS_MONITOR__TIME_COLUMN or time]"
        ),
    ] = None,
    by: Annotated[
        list[str] | None, typer.Option("--by", help="with --store: a segment column to store; repeat for several")
    ] = None,
    max_error_share: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=1,
            help="exit 1 when more than this share of rows could not be labeled, e.g. 0.05 "
            "\\[default: NEEDLENS_LABEL_MAX_ERROR_SHARE or 1: only when none could]",
        ),
    ] = None,
) -> None:
    """Label every row of a file, keeping its columns; rerun the same command to resume an interrupted job."""
    from labeling.passthrough import column_list

    if engine == "local" and (address is not None or actors is not None):
        raise typer.BadParameter("only with --engine ray", param_hint="--address/--actors")
    if engine == "ray" and workers is not None:
        raise typer.BadParameter("the ray engine runs --actors, not --workers", param_hint="--workers")
    if store is None and (store_text is not None or time_column is not None or by):
        raise typer.BadParameter("only with --store", param_hint="--store-text/--time-column/--by")
    if engine == "ray" and store is not None:
        raise typer.BadParameter("storing predictions is for --engine local", param_hint="--store")
    settings = load_settings(
        flags={
            "label_workers": "--workers",
            "ray_address": "--address",
            "ray_actors": "--actors",
            "label_store": "--store",
            "prediction_store_text": "--store-text",
            "label_max_error_share": "--max-error-share",
        },
        model_dir=model,
        batch_size=batch_size,
        label_workers=workers,
        ray_address=address,
        ray_actors=actors,
        label_store=store,
        prediction_store_text=store_text,
        label_max_error_share=max_error_share,
        monitor={"time_column": time_column, "by": by},
    )
    if engine == "ray":
        _require_ray()
        from labeling.ray_plan import plan_ray_job

        plan = plan_ray_job(input, output, text_column, id_column, column_list(columns), encoding, restart)
        _label_on_ray(plan, settings, progress, explain, restart)
        return
    from labeling.plan import plan_label_job

    plan = plan_label_job(Path(input), Path(output), text_column, id_column, column_list(columns), encoding)
    open_sink = _prediction_sink(plan, settings, time_given=time_column is not None) if store is not None else None
    run_label_job(plan, settings, progress, explain, restart, open_sink)


def _workers_within_cpus(settings: Settings) -> Settings:
    """Each worker is single-threaded and loads its own model (~600 MB): more of them than the
    CPUs this process may use only slows the job, and 300 made a 2-core machine unusable for
    minutes before the first row. As many as the CPUs run instead, as a Ray started here does."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if settings.label_workers <= cpus:
        return settings
    err_console.print(
        f"running {cpus} worker(s), not {settings.label_workers}: this job may use {cpus} CPU(s), one worker each",
        highlight=False,
    )
    return settings.model_copy(update={"label_workers": cpus})


def _prediction_sink(plan: LabelPlan, settings: Settings, time_given: bool) -> Callable[[], PredictionSink]:
    """`--store`: the storing columns checked now, before the model loads; the store opened by
    `run_label_job` once the model has loaded, so a refused run leaves no new store behind (the
    price: a store file that is not a usable database is found after the model's load, not before)."""
    from label_loop.predictions import PredictionStore
    from labeling.prediction_sink import check_store_path, plan_storing

    check_store_path(settings.label_store, plan)
    monitor = settings.monitor
    make_sink = plan_storing(plan, settings.prediction_store_text, monitor.time_column, monitor.by, time_given)
    return lambda: make_sink(PredictionStore(settings.label_store, settings.prediction_retention_days))


def _require_ray() -> None:
    """Ray is an extra (``needlens[ray]``): without it, say how to get it, in one line."""
    try:
        import ray  # noqa: F401
    except ImportError:
        err_console.print("[red]error:[/] --engine ray needs Ray: pip install 'needlens\\[ray]'", highlight=False)
        raise typer.Exit(2) from None


def _label_on_ray(plan: RayPlan, settings: Settings, progress: bool, explain: bool, restart: bool) -> None:
    """Run a checked Ray label job on the cluster (or on a Ray started here). A local output
    folder is locked as the local engine locks its output: two jobs wrote shards of the same
    names, and one job's rows were lost with both exiting 0. Behind a URI there is no lock."""
    from pyarrow.fs import LocalFileSystem

    from labeling.job import only_job_writing
    from labeling.ray_engine import label_on_ray
    from labeling.ray_plan import check_output
    from labeling.resilient import LabelingStopped
    from needlens.summary import print_label_summary

    local = isinstance(plan.output_filesystem, LocalFileSystem)
    try:
        with only_job_writing(Path(plan.output_path)) if local else nullcontext():
            # what another job wrote between the plan's check and the lock is refused, not replaced
            check_output(plan.output, plan.output_filesystem, plan.output_path, restart)
            summary = label_on_ray(
                plan,
                settings,
                settings.model_dir,
                actors=settings.ray_actors,
                address=settings.ray_address,
                explain=explain,
                progress=progress,
                restart=restart,
                log=lambda note: err_console.print(note, highlight=False, markup=False, soft_wrap=True),
            )
    except KeyboardInterrupt:
        err_console.print("interrupted: the Ray job stopped unfinished; rerun with --restart to label from the start")
        raise typer.Exit(130) from None
    except LabelingStopped as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    print_label_summary(summary, console)
    _fail_over_error_share(summary, settings.label_max_error_share)


def run_label_job(
    plan: LabelPlan,
    settings: Settings,
    progress: bool,
    explain: bool = False,
    restart: bool = False,
    open_sink: Callable[[], PredictionSink] | None = None,
) -> None:
    """Run a checked label job: the model loads only after every check on the files has passed
    and the output's lock is held, and the prediction store (``open_sink``, `--store`) opens only
    once the model has loaded."""
    from labeling.job import only_job_writing
    from needlens.summary import print_label_summary

    with only_job_writing(plan.output):
        summary = _label(plan, _workers_within_cpus(settings), progress, explain, restart, open_sink)
    print_label_summary(summary, console)
    _fail_over_error_share(summary, settings.label_max_error_share)


def _fail_over_error_share(summary: LabelSummary, max_share: float) -> None:
    """Rows but not one labeled (every text too long, an input of the wrong column), or more error
    rows than the job allows (`--max-error-share`), is a failed job, not a finished one: exit 1, so
    a scheduled job notices. The error rows stay written. A survey export with blank answers has
    error rows by nature, so by default only a job that labeled nothing fails."""
    if not summary.rows or (summary.labeled and summary.errors / summary.rows <= max_share):
        return
    codes = ", ".join(f"{code} {n}" for code, n in summary.error_counts.most_common())
    if summary.labeled:
        what = (
            f"{summary.errors} of the {summary.rows} rows ({_percent(summary.errors / summary.rows)}) could not be "
            f"labeled ({codes}), more than the {_percent(max_share)} allowed (--max-error-share)"
        )
    else:
        what = f"none of the {summary.rows} rows could be labeled ({codes})"
    err_console.print(
        f"[red]error:[/] {what}; each row's error_code and error are in {summary.output}",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(1)


def _percent(share: float) -> str:
    """Three significant digits, so a share just over its limit never prints as the limit (5.04% against 5%)."""
    return f"{100 * share:.3g}%"


def _label(
    plan: LabelPlan,
    settings: Settings,
    progress: bool,
    explain: bool,
    restart: bool,
    open_sink: Callable[[], PredictionSink] | None,
) -> LabelSummary:
    from classifier.inference import Predictor
    from labeling.job import LabelJob
    from labeling.resilient import LabelingStopped

    predictor = Predictor.load(settings.model_dir, settings)
    sink = open_sink() if open_sink is not None else None
    pool = None
    if settings.label_workers > 1:
        from labeling.workers import WorkerPool

        assert predictor.model_dir is not None
        pool = WorkerPool(predictor.model_dir, settings, settings.label_workers)
    job = LabelJob(predictor, settings.chunk_rows, settings.max_chars, explain=explain, pool=pool, sink=sink)
    try:
        summary = job.run(
            plan,
            restart,
            progress,
            log=lambda note: err_console.print(note, highlight=False, markup=False, soft_wrap=True),
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
    if sink is not None and (rows := sink.unreadable_time_rows):
        shown = ", ".join(map(str, rows[:5])) + (", …" if len(rows) > 5 else "")
        err_console.print(
            f"warning: {len(rows)} stored row(s) have a {sink.time_column!r} that is not a time (rows {shown}); "
            "`needlens monitor` will skip them",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    return summary
