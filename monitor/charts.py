"""The monitoring charts as PNG bytes: label shares over time, the fluctuation index, the cause split.

Drawn with matplotlib's object API (no pyplot, no global figure state) in the font
``monitor.fonts`` found, so Chinese label names render. Only the largest segments are
drawn (``chart_segments``); the JSONL files hold them all.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from classifier.labels import CAUSES, Cause
from monitor.fonts import ChartFont
from monitor.observations import LABELS
from monitor.records import MonitorResult, WindowFigures, name_zh

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COLOURS = {
    "surface": "#9e9e9e",
    "emotional": "#e377c2",
    "growth": "#2ca02c",
    "system_error": "#1f77b4",
    "perception_mismatch": "#d62728",
    "none": "#ff7f0e",
}
ALERT_COLOUR = "#b00020"


def label_name(label: str, font: ChartFont) -> str:
    return f"{name_zh(label)} {label}" if font.chinese else label


def chart_segments(result: MonitorResult, limit: int) -> dict[str, list[WindowFigures]]:
    """The ``limit`` largest segments' windows in time order (windows come largest segment first)."""
    by_segment: dict[str, list[WindowFigures]] = {}
    for figures in result.windows:
        if figures.segment_name in by_segment or len(by_segment) < limit:
            by_segment.setdefault(figures.segment_name, []).append(figures)
    return by_segment


@contextmanager
def _style(font: ChartFont) -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context(
        {"font.family": [font.family, "DejaVu Sans"], "axes.unicode_minus": False, "figure.dpi": 100}
    ):
        yield


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", pil_kwargs={"optimize": True})
    return buffer.getvalue()


def _value(x: float | None) -> float:
    return math.nan if x is None else x


def _dates(axes: Axes) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def shares_chart(result: MonitorResult, font: ChartFont, limit: int) -> bytes:
    """Per segment, each label's share per window (causes with their Wilson band), alert windows marked."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    segments = chart_segments(result, limit)
    with _style(font):
        figure = Figure(figsize=(10, 0.6 + 2.4 * len(segments)), layout="constrained")
        axes_list = figure.subplots(len(segments), 1, sharex=True, squeeze=False)[:, 0]
        for axes, (name, windows) in zip(axes_list, segments.items(), strict=True):
            starts = [w.window_start for w in windows]
            for label in LABELS:
                shares = [_value(w.labels[label].share) for w in windows]
                style = "-" if label in CAUSES else "--"
                axes.plot(starts, shares, style, color=COLOURS[label], lw=1.4, label=label_name(label, font))
                if label in CAUSES:
                    low = [_value(w.labels[label].low) for w in windows]
                    high = [_value(w.labels[label].high) for w in windows]
                    axes.fill_between(starts, low, high, color=COLOURS[label], alpha=0.12, lw=0)
            for w in windows:
                if w.alert:
                    axes.axvline(w.window_start, color=ALERT_COLOUR, ls=":", lw=1.2)
                    if w.index_label is not None:
                        share = w.labels[w.index_label].share
                        axes.plot([w.window_start], [share], marker="v", ms=9, color=ALERT_COLOUR, ls="none")
            axes.set_ylim(-0.02, 1.02)  # a label on every text (surface) stays visible at 100%
            axes.yaxis.set_major_formatter(PercentFormatter(1.0))
            axes.set_title(name, loc="left", fontsize=10)
            axes.grid(alpha=0.3)
            _dates(axes)
        title = "标签占比 label shares per window (▼ alert)" if font.chinese else "label shares per window (▼ alert)"
        figure.suptitle(title, fontsize=12)
        handles, names = axes_list[0].get_legend_handles_labels()
        figure.legend(handles, names, ncol=6, fontsize=8, loc="outside lower center", frameon=False)
        return _png(figure)


def index_chart(result: MonitorResult, font: ChartFont, limit: int) -> bytes:
    """The fluctuation index per segment over time, the threshold, alerts and cooldown-suppressed windows."""
    from matplotlib.figure import Figure

    threshold = float(result.settings["threshold"])  # type: ignore[arg-type]
    with _style(font):
        figure = Figure(figsize=(10, 4), layout="constrained")
        axes = figure.subplots()
        for name, windows in chart_segments(result, limit).items():
            starts = [w.window_start for w in windows]
            (line,) = axes.plot(starts, [_value(w.index) for w in windows], lw=1.3, label=name)
            alerts = [(w.window_start, w.index) for w in windows if w.alert]
            held = [(w.window_start, w.index) for w in windows if w.suppressed]
            if alerts:
                axes.plot(*zip(*alerts, strict=True), marker="*", ms=14, color=ALERT_COLOUR, ls="none")
            if held:
                axes.plot(*zip(*held, strict=True), marker="o", ms=7, mfc="none", color=line.get_color(), ls="none")
        axes.axhline(threshold, color=ALERT_COLOUR, ls="--", lw=1, label=f"threshold {threshold:g}")
        axes.set_ylabel("|z| of the most-moved label")
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8, loc="upper left", framealpha=0.85)
        _dates(axes)
        title = "需求波动指数 fluctuation index" if font.chinese else "fluctuation index"
        axes.set_title(f"{title} (★ alert, ○ held back by the cooldown)", fontsize=12)
        return _png(figure)


def cause_split_chart(result: MonitorResult, font: ChartFont, limit: int) -> bytes:
    """Per segment, the whole period's cause shares: 系统误差 vs 认知错位 vs 非投诉."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    segments = chart_segments(result, limit)
    names = list(segments)[::-1]  # largest on top
    with _style(font):
        figure = Figure(figsize=(10, 1.2 + 0.55 * len(names)), layout="constrained")
        axes = figure.subplots()
        totals = {name: _cause_counts(segments[name]) for name in names}
        left = [0.0] * len(names)
        for cause in (Cause.SYSTEM_ERROR, Cause.PERCEPTION_MISMATCH, Cause.NONE):
            shares = [totals[n][cause] / max(1, sum(totals[n].values())) for n in names]
            bars = axes.barh(names, shares, left=left, color=COLOURS[cause], label=label_name(cause, font))
            axes.bar_label(
                bars, labels=[f"{s:.0%}" if s >= 0.06 else "" for s in shares], label_type="center", fontsize=8
            )
            left = [a + b for a, b in zip(left, shares, strict=True)]
        axes.xaxis.set_major_formatter(PercentFormatter(1.0))
        axes.set_xlim(0, 1)
        axes.legend(ncol=3, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
        title = "投诉原因构成 cause split" if font.chinese else "cause split"
        figure.suptitle(f"{title}, whole period", fontsize=12)
        return _png(figure)


def _cause_counts(windows: list[WindowFigures]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for w in windows:
        for cause in CAUSES:
            counts[cause] += w.labels[cause].count
    return counts


CHARTS = {"shares.png": shares_chart, "index.png": index_chart, "causes.png": cause_split_chart}


def render_charts(result: MonitorResult, font: ChartFont, limit: int) -> dict[str, bytes]:
    """File name → PNG bytes for every chart (nothing when there are no windows to draw)."""
    if not result.windows:
        return {}
    return {name: draw(result, font, limit) for name, draw in CHARTS.items()}
