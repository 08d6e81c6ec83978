"""The terminal summary of a monitoring run: what was read, what was skipped and why, the alerts."""

from __future__ import annotations

from rich.console import Console

from monitor.records import MonitorResult, RowNumbers


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _rows(problem: RowNumbers) -> str:
    listed = ", ".join(str(r) for r in problem.rows)
    return f"{'row' if problem.count == 1 else 'rows'} {listed}{', …' if problem.count > len(problem.rows) else ''}"


def input_lines(result: MonitorResult) -> list[str]:
    source = result.input
    lines = [f"read {source.rows:,} rows, {source.used:,} used"]
    if source.unlabeled:
        kinds = ", ".join(f"{code} {n}" for code, n in sorted(source.unlabeled.items()))
        lines.append(f"skipped {_count(sum(source.unlabeled.values()), 'unlabeled row')} ({kinds})")
    if source.unreadable.count:
        lines.append(f"skipped {_count(source.unreadable.count, 'unreadable row')} ({_rows(source.unreadable)})")
    if source.bad_time.count:
        lines.append(
            f"skipped {_count(source.bad_time.count, 'row')} whose {result.settings['time_column']!r} is missing or not a time "
            f"({_rows(source.bad_time)})"
        )
    if source.bad_labels.count:
        lines.append(
            f"skipped {_count(source.bad_labels.count, 'row')} with labels outside the spec ({_rows(source.bad_labels)})"
        )
    return lines


def print_summary(result: MonitorResult, console: Console) -> None:
    def say(text: str, style: str | None = None) -> None:
        console.print(text, style=style, markup=False, highlight=False)

    for line in input_lines(result):
        say(line)
    if not result.windows:
        if source_rows := result.input.rows:
            say(f"nothing to monitor: none of the {source_rows:,} rows has labels and a time")
        return
    s = result.settings
    segments = len({w.segment_name for w in result.windows})
    starts = sorted({w.window_start for w in result.windows})
    say(
        f"{len(starts)} windows of {s['window']} ({starts[0]:%Y-%m-%d} – {starts[-1]:%Y-%m-%d}) × {segments} "
        f"segment{'s' if segments != 1 else ''}; baseline {s['baseline']}; alert at index ≥ {s['threshold']} "
        f"with ≥ {s['min_volume']} texts"
    )
    since = f" since {result.since:%Y-%m-%d %H:%M}" if result.since else ""
    if not result.alerts:
        say(f"no alerts{since}", "green")
        return
    say(f"{len(result.alerts)} alert{'s' if len(result.alerts) != 1 else ''}{since}:", "bold red")
    for alert in result.alerts:
        say(f"  {alert.window_start:%Y-%m-%d}  {alert.segment_name}  index {alert.index:.1f}  ({alert.volume} texts)")
        for moved in alert.moved:
            examples = alert.examples.get(moved.label, [])
            say(f"      {moved.headline}" + (f"  e.g. {', '.join(examples[:3])}" if examples else ""))
