"""`needlens monitor`: the need mix of a labeled file (or of the stored predictions) per time window and
segment, its fluctuation index, alerts (exit code 3, for cron jobs) and charts. The figures and rules live in
the ``monitor`` package."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from needlens.cli.common import SettingsError, console, err_console, load_settings, note, user_errors

if TYPE_CHECKING:
    from monitor.pipeline import Since
    from monitor.records import MonitorResult
    from monitor.settings import MonitorSettings

commands = typer.Typer()

EXIT_ALERTS = 3
"""Exit code when at least one alert is listed: a cron job can act on it."""
FLAGS = {"monitor.cooldown_windows": "--cooldown", "monitor": "options"}
"""Flags not named ``--`` + their field, for one-line errors (a rule across fields names the options)."""


@commands.command()
def monitor(
    file: Annotated[
        Path | None, typer.Argument(help="a file `needlens label` wrote (CSV, TSV, JSONL, XLSX or Parquet)")
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(help="monitor the predictions stored in this label store instead of a file (ids: stored ids)"),
    ] = None,
    time_column: Annotated[
        str | None, typer.Option(help="column with each text's time (default: NEEDLENS_MONITOR__TIME_COLUMN or time)")
    ] = None,
    by: Annotated[list[str] | None, typer.Option("--by", help="segment column; repeat for several")] = None,
    window: Annotated[str | None, typer.Option(help="window length: 12h, 7d, 2w (default 7d)")] = None,
    baseline: Annotated[
        str | None, typer.Option(help="rolling span before each window (90d) or a fixed period 2026-01-01..2026-03-31")
    ] = None,
    threshold: Annotated[float | None, typer.Option(help="fluctuation index that raises an alert (default 4)")] = None,
    min_volume: Annotated[int | None, typer.Option(help="texts a window needs to alert (default 50)")] = None,
    cooldown: Annotated[
        int | None, typer.Option(help="quiet windows in a row before a segment may alert again (default 3)")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="list (and exit 3 for) only alerts in windows ending after this: a date, or 7d back from the latest time"
        ),
    ] = None,
    id_column: Annotated[str | None, typer.Option(help="column naming example texts in alerts (default id)")] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="folder for windows.jsonl, alerts.jsonl, report.html and the PNG charts")
    ] = Path("out/monitor"),
    charts: Annotated[bool, typer.Option("--charts/--no-charts", help="draw the PNGs into the report")] = True,
) -> None:
    """Share of each need and cause per window and segment, the fluctuation index against a baseline, alerts."""
    if (file is None) == (store is None):
        raise typer.BadParameter("give a labeled FILE or --store, one of the two", param_hint="FILE/--store")
    if store is not None and (time_column is not None or id_column is not None):
        raise typer.BadParameter(
            "a store keeps each text's time as 'time' and names examples by stored id",
            param_hint="--time-column/--id-column",
        )
    overrides = {
        "time_column": time_column,
        "by": by,
        "window": window,
        "baseline": baseline,
        "threshold": threshold,
        "min_volume": min_volume,
        "cooldown_windows": cooldown,
        "id_column": id_column,
    }
    source, stored = (store, True) if store is not None else (file, False)
    if _monitor(source, stored, overrides, since, out, charts):
        raise typer.Exit(EXIT_ALERTS)  # outside user_errors, which resolves its error types on any exception


@user_errors
def _monitor(
    source: Path | None, stored: bool, overrides: dict[str, Any], since: str | None, out: Path, charts: bool
) -> int:
    """The run behind `needlens monitor` over a labeled file or a store's predictions; returns how many alerts it listed."""
    assert source is not None  # the command took one of the two
    from monitor.html_report import write_report
    from monitor.periods import PeriodError, TimeParser, parse_since
    from monitor.pipeline import monitor_file, write_jsonl
    from monitor.summary import print_summary

    settings = load_settings(flags=FLAGS, monitor=overrides).monitor  # NEEDLENS_MONITOR__* under the flags
    _check_out_folder(out)
    try:
        since_value = parse_since(since, TimeParser(settings.zone)) if since else None
    except PeriodError as exc:
        raise SettingsError(f"--since: {exc}") from None
    result = _monitor_store(source, settings, since_value) if stored else monitor_file(source, settings, since_value)
    if not result.input.rows:
        err_console.print(f"{source}: no rows, nothing to monitor", highlight=False, markup=False, soft_wrap=True)
    written = list(write_jsonl(result, out))
    print_summary(result, console)
    files, notes = write_report(result, out, settings.chart_segments, draw=charts)
    for line in notes:
        note(line)
    console.print(f"wrote {', '.join(str(p) for p in [*written, *files])}", highlight=False, markup=False)
    return len(result.alerts)


def _check_out_folder(out: Path) -> None:
    """Before the input is read, so a long scan does not end on a folder it cannot write; the
    folder itself is made only when there is something to write in it."""
    from classifier.errors import OutputPathError
    from classifier.output_paths import check_writable_folder

    try:
        check_writable_folder(out)
    except OutputPathError as exc:
        raise SettingsError(f"--out: {exc}") from None


def _monitor_store(path: Path, settings: MonitorSettings, since: Since) -> MonitorResult:
    """The predictions stored in the label store at ``path``; reading must not create a store."""
    from label_loop.predictions import PredictionStore
    from monitor.stored import monitor_store

    if not path.is_file():
        raise SettingsError(f"--store: no label store at {path}")
    return monitor_store(PredictionStore(path), settings, since)
