"""One self-contained HTML file: the settings, what the input held, the alerts, each segment's latest window,
and the charts as base64 PNGs, so it can be mailed or archived as one file. Every value from the data is
HTML-escaped (a segment may be called ``<script>``)."""

from __future__ import annotations

import base64
import importlib.util
from html import escape
from pathlib import Path

from monitor.records import MonitorResult, WindowFigures, name_zh
from monitor.summary import input_lines

_STYLE = """
body{font-family:"Noto Sans SC","PingFang SC","Microsoft YaHei",sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
th{background:#f3f3f3}.alert{color:#b00020;font-weight:bold}img{max-width:100%;margin:1em 0}
.note{color:#666}
"""


def _row(*cells: object) -> str:
    return "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>"


def _latest(result: MonitorResult) -> list[WindowFigures]:
    latest: dict[str, WindowFigures] = {}
    for figures in result.windows:
        latest[figures.segment_name] = figures
    return list(latest.values())


def render_html(result: MonitorResult, images: dict[str, bytes], notes: list[str]) -> str:
    s = result.settings
    source = result.input
    parts = [
        "<!doctype html><html lang='zh'><head><meta charset='utf-8'>",
        f"<title>需求波动监测 need-mix monitor</title><style>{_STYLE}</style></head><body>",
        "<h1>需求波动监测 · need-mix monitor</h1>",
        "<p>"
        + escape(
            f"window {s['window']}, baseline {s['baseline']}, segments by {', '.join(s['by']) or '(none)'}; "  # type: ignore[arg-type]
            f"alert when the fluctuation index ≥ {s['threshold']} with a label moving ≥ "
            f"{float(s['min_change']) * 100:g} points, ≥ {s['min_volume']} texts, "  # type: ignore[arg-type]
            f"cooldown {s['cooldown_windows']} quiet windows"
        )
        + "</p>",
        *(f"<p>{escape(line)}</p>" for line in input_lines(result)),
        "<p>" + escape(f"times {source.first_time} – {source.last_time}") + "</p>",
        *(f"<p class='note'>{escape(note)}</p>" for note in notes),
        f"<h2>Alerts ({len(result.alerts)})</h2>",
    ]
    if result.alerts:
        parts.append("<table><tr><th>window</th><th>segment</th><th>index</th><th>moved</th><th>examples</th></tr>")
        for alert in result.alerts:
            moved = "; ".join(m.headline for m in alert.moved)
            examples = "; ".join(f"{name_zh(k)}: {', '.join(v)}" for k, v in alert.examples.items())
            parts.append(
                _row(f"{alert.window_start:%Y-%m-%d}", alert.segment_name, f"{alert.index:.1f}", moved, examples)
            )
        parts.append("</table>")
    else:
        parts.append("<p>No alerts.</p>")
    parts.append("<h2>Latest window per segment</h2><table><tr><th>segment</th><th>window</th><th>texts</th>")
    parts.append("<th>index</th><th>most-moved label</th><th>认知错位 share [95%]</th></tr>")
    for figures in _latest(result):
        mismatch = figures.labels["perception_mismatch"]
        share = "–" if mismatch.share is None else f"{mismatch.share:.0%} [{mismatch.low:.0%}, {mismatch.high:.0%}]"
        parts.append(
            _row(
                figures.segment_name,
                f"{figures.window_start:%Y-%m-%d}",
                figures.volume,
                "–" if figures.index is None else f"{figures.index:.1f}",
                "–" if figures.index_label is None else f"{name_zh(figures.index_label)} {figures.index_label}",
                share,
            )
        )
    parts.append("</table>")
    for name, png in images.items():
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(f"<img alt='{escape(name)}' src='data:image/png;base64,{encoded}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def chart_images(result: MonitorResult, chart_segments: int) -> tuple[dict[str, bytes], list[str]]:
    """File name → PNG of each chart, and what a reader should know (the font used, charts left out for
    want of matplotlib, segments not drawn); the report and the review UI's monitor page show both."""
    if importlib.util.find_spec("matplotlib") is None:
        return {}, ["no charts: they need matplotlib (pip install 'needlens[monitor]')"]
    from monitor.charts import render_charts
    from monitor.fonts import chart_font

    font = chart_font()
    notes = [font.warning] if font.warning else []
    images = render_charts(result, font, chart_segments)
    segments = len({w.segment_name for w in result.windows})
    if images and segments > chart_segments:
        notes.append(f"charts draw the {chart_segments} largest of {segments} segments; windows.jsonl has them all")
    return images, notes


def write_report(
    result: MonitorResult, out_dir: Path, chart_segments: int, draw: bool = True
) -> tuple[list[Path], list[str]]:
    """The chart PNGs (when ``draw``) and ``report.html`` into ``out_dir``; the notes say what a reader
    should know (the font used, charts left out for want of matplotlib, segments not drawn)."""
    images, notes = chart_images(result, chart_segments) if draw else ({}, [])
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, png in images.items():
        (out_dir / name).write_bytes(png)
        written.append(out_dir / name)
    report = out_dir / "report.html"
    report.write_text(render_html(result, images, notes), encoding="utf-8")
    return [*written, report], notes
