"""Rows in, figures and alerts out: the one monitoring pass that the CLI (and any other source) calls.

``monitor_rows`` takes any iterable of labeled rows — a labeled file (``monitor_file``), the
rows of a prediction store, ``DataFrame.to_dict("records")`` — and makes one streaming
pass: each usable row goes into the tally of its (segment, window), and into a fixed
baseline's tally when it falls in that period. Only tallies are kept, so memory grows with
segments × windows, not with rows. Then each segment's windows are walked in time order:
baseline, label changes, index, alert decision.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from labeling.tables import TableError, check_columns, iter_rows, readable_table
from monitor.alerts import AlertRule, Cooldown, Decision
from monitor.index import LabelChange, Reference, fluctuation_index, label_changes
from monitor.observations import Columns, InputReport, read_observations
from monitor.periods import FixedBaseline, TimeParser, window_number, window_start
from monitor.records import (
    Alert,
    InputSummary,
    LabelFigures,
    MonitorResult,
    MovedLabel,
    RowNumbers,
    WindowFigures,
    name_zh,
)
from monitor.settings import MonitorSettings
from monitor.tally import Tally

MAX_WINDOWS = 5000
"""More windows than this means a stray timestamp (an epoch 0, a year 2206), not a real stream."""
MAX_CELLS = 200_000
"""Segments × windows beyond this means a segment column that is really an id (one segment per text)."""
ALL_TEXTS = "all"


class MonitorError(TableError):
    """Input that cannot be monitored as a whole; a TableError so every command reports it in one line."""


Segment = tuple[str, ...]


Since = datetime | timedelta | None
"""List alerts in windows ending after this moment, or after this long before the latest time in the data."""


def monitor_file(path: Path, settings: MonitorSettings, since: Since = None) -> MonitorResult:
    """Monitor a `needlens label` output file of any supported format."""
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    if next(iter_rows(path), None) is None:
        return monitor_rows([], settings, since)
    columns, encoding = readable_table(path, {"time": settings.time_column, "label": "needs"})  # one read
    check_columns(path, columns, {"label": "cause"})
    for column in settings.by:
        check_columns(path, columns, {"segment": column})
    if (
        "id_column" in settings.model_fields_set
    ):  # named, not the default: alerts would quietly fall back to row numbers
        check_columns(path, columns, {"id": settings.id_column})
    return monitor_rows(iter_rows(path, encoding=encoding), settings, since)


def monitor_rows(rows: Iterable[Mapping[str, Any]], settings: MonitorSettings, since: Since = None) -> MonitorResult:
    """Figures per (segment, window) and the alerts; alerts before ``since`` still start cooldowns but are not listed."""
    span = settings.window_span
    baseline = settings.baseline_spec
    report = InputReport()
    tallies: dict[Segment, dict[int, Tally]] = defaultdict(dict)
    fixed: dict[Segment, Tally] = defaultdict(Tally)
    columns = Columns(time=settings.time_column, by=settings.by, id=settings.id_column)
    for observation in read_observations(rows, columns, TimeParser(settings.zone), report):
        number = window_number(observation.time, span)
        window = tallies[observation.segment].get(number)
        if window is None:
            window = tallies[observation.segment][number] = Tally()
        window.add(observation, settings.examples)
        if isinstance(baseline, FixedBaseline) and baseline.start <= observation.time < baseline.end:
            fixed[observation.segment].add(observation, 0)
    if isinstance(since, timedelta):
        since = None if report.last_time is None else report.last_time - since
    windows: list[WindowFigures] = []
    alerts: list[Alert] = []
    if tallies:
        first = min(min(by_window) for by_window in tallies.values())
        last = max(max(by_window) for by_window in tallies.values())
        if last - first >= MAX_WINDOWS:
            raise MonitorError(
                f"times run from {report.first_time} to {report.last_time}: {last - first + 1} windows of "
                f"{settings.window}; check the {settings.time_column!r} column for stray values or use a longer window"
            )
        if len(tallies) * (last - first + 1) > MAX_CELLS:
            raise MonitorError(
                f"{len(tallies):,} segments × {last - first + 1} windows is more than {MAX_CELLS:,} figures; "
                f"segment by columns with fewer distinct values than {', '.join(settings.by)!r} or use a longer window"
            )
        rule = AlertRule.from_settings(settings)
        for segment in sorted(tallies, key=lambda s: (-sum(t.volume for t in tallies[s].values()), s)):
            walk = _SegmentWalk(settings, rule, segment, tallies[segment], fixed.get(segment))
            for number in range(first, last + 1):
                figures, alert = walk.window(number)
                windows.append(figures)
                if alert is not None and (since is None or alert.window_end > since):
                    alerts.append(alert)
    return MonitorResult(
        settings=settings.model_dump(mode="json"),
        input=_input_summary(report),
        windows=windows,
        alerts=alerts,
        since=since,
    )


class _SegmentWalk:
    """One segment's windows in time order: its baseline, figures and alert state."""

    def __init__(
        self,
        settings: MonitorSettings,
        rule: AlertRule,
        segment: Segment,
        by_window: dict[int, Tally],
        fixed: Tally | None,
    ) -> None:
        self.settings, self.rule, self.by_window = settings, rule, by_window
        self.segment = dict(zip(settings.by, segment, strict=True))
        self.name = " · ".join(f"{k}={v}" for k, v in self.segment.items()) or ALL_TEXTS
        self.span = settings.window_span
        self.baseline = settings.baseline_spec
        self.fixed = fixed or Tally()
        self.cooldown = Cooldown(rule)

    def _baseline(self, number: int) -> tuple[Reference, datetime, datetime]:
        if isinstance(self.baseline, FixedBaseline):
            inside = [
                self.by_window[k]
                for k in sorted(self.by_window)
                if self.baseline.start <= window_start(k, self.span) <= self.baseline.end - self.span
            ]
            return Reference(self.fixed, inside), self.baseline.start, self.baseline.end
        count = self.baseline.windows(self.span)
        reference = Reference()
        for earlier in range(number - count, number):
            if earlier in self.by_window:
                reference.total += self.by_window[earlier]
                reference.windows.append(self.by_window[earlier])
        return reference, window_start(number - count, self.span), window_start(number, self.span)

    def window(self, number: int) -> tuple[WindowFigures, Alert | None]:
        tally = self.by_window.get(number) or Tally()
        reference, baseline_start, baseline_end = self._baseline(number)
        baseline = reference.total
        usable = reference if baseline.volume >= self.settings.min_baseline_volume else None
        changes = label_changes(tally, usable)
        scored = fluctuation_index(changes)
        index = None if scored is None else round(scored[0], 3)
        moved = self.rule.moved(changes)
        decision = self.cooldown.step(tally.volume, index, bool(moved))
        start = window_start(number, self.span)
        end = start + self.span
        figures = WindowFigures(
            segment=self.segment,
            segment_name=self.name,
            window_start=start,
            window_end=end,
            volume=tally.volume,
            labels={c.label: _label_figures(c) for c in changes},
            baseline_start=baseline_start,
            baseline_end=baseline_end,
            baseline_volume=baseline.volume,
            index=index,
            index_label=None if scored is None else scored[1],
            alert=decision is Decision.ALERT,
            suppressed=decision is Decision.SUPPRESSED,
        )
        if decision is not Decision.ALERT or index is None:
            return figures, None
        alert = Alert(
            segment=self.segment,
            segment_name=self.name,
            window_start=start,
            window_end=end,
            volume=tally.volume,
            baseline_volume=baseline.volume,
            index=index,
            threshold=self.rule.threshold,
            moved=[_moved(c) for c in moved],
            examples={c.label: tally.examples.get(c.label, []) for c in moved if (c.change or 0.0) > 0},
        )
        return figures, alert


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _label_figures(change: LabelChange) -> LabelFigures:
    return LabelFigures(
        count=change.count,
        share=_rounded(change.share),
        low=_rounded(change.low),
        high=_rounded(change.high),
        mean_probability=_rounded(change.mean_probability),
        baseline_share=_rounded(change.baseline_share),
        change=_rounded(change.change),
        z=_rounded(change.z, 3),
        dispersion=_rounded(change.dispersion, 3),
    )


def _moved(change: LabelChange) -> MovedLabel:
    return MovedLabel(
        label=change.label,
        name_zh=name_zh(change.label),
        baseline_share=round(change.baseline_share or 0.0, 4),
        share=round(change.share or 0.0, 4),
        change=round(change.change or 0.0, 4),
        z=round(change.z or 0.0, 3),
        baseline_mean_probability=_rounded(change.baseline_mean_probability),
        mean_probability=_rounded(change.mean_probability),
    )


def _input_summary(report: InputReport) -> InputSummary:
    return InputSummary(
        rows=report.rows,
        used=report.used,
        unlabeled=dict(report.unlabeled),
        unreadable=RowNumbers(count=report.unreadable.count, rows=report.unreadable.rows),
        bad_time=RowNumbers(count=report.bad_time.count, rows=report.bad_time.rows),
        bad_labels=RowNumbers(count=report.bad_labels.count, rows=report.bad_labels.rows),
        first_time=report.first_time,
        last_time=report.last_time,
    )


def write_jsonl(result: MonitorResult, out_dir: Path) -> tuple[Path, Path]:
    """``windows.jsonl`` (every segment × window) and ``alerts.jsonl`` (the listed alerts), one JSON object a line."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = out_dir / "windows.jsonl", out_dir / "alerts.jsonl"
    for path, records in zip(paths, (result.windows, result.alerts), strict=True):
        with path.open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record.model_dump(mode="json"), ensure_ascii=False) + "\n")
    return paths
