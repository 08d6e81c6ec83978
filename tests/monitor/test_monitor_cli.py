"""`needlens monitor` on files: exit codes for cron, one-line errors, the report, and Chinese in the charts."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labeling.tables import write_table
from needlens.cli import app
from tests.monitor.test_monitor import BASE_MIX, DOUBLED_MISMATCH, exact_week

runner = CliRunner()
COLUMNS = {"row": "int", "id": "string", "time": "string", "channel": "string", "needs": "list", "cause": "string"}


def labeled_file(
    path: Path, shift_from: int | None = 16, weeks: int = 30, rename: dict[str, str] | None = None
) -> Path:
    """A file shaped like `needlens label` output (input columns beside the labels)."""
    rows = [
        r
        for week in range(weeks)
        for r in exact_week(week, 200, BASE_MIX if shift_from is None or week < shift_from else DOUBLED_MISMATCH)
    ]
    for number, row in enumerate(rows, start=1):
        row["row"] = number
        for old, new in (rename or {}).items():
            row[new] = row.pop(old)
    columns = {(rename or {}).get(name, name): kind for name, kind in COLUMNS.items()}
    write_table(rows, path, columns)  # type: ignore[arg-type]
    return path


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert message.startswith("error:") and "Traceback" not in message and len(message.splitlines()) == 1
    for fragment in fragments:
        assert fragment in message


def test_an_alert_exits_3_for_cron_and_writes_the_jsonl_files(tmp_path):
    source = labeled_file(tmp_path / "labeled.csv")
    out = tmp_path / "report"
    result = runner.invoke(app, ["monitor", str(source), "--by", "channel", "-o", str(out), "--no-charts"])
    assert result.exit_code == 3, result.output
    assert "1 alert" in result.output and "认知错位 perception_mismatch 25% → 50%" in result.output
    alerts = [json.loads(line) for line in (out / "alerts.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [a["window_start"] for a in alerts] == ["2025-04-28T00:00:00"]
    assert len((out / "windows.jsonl").read_text(encoding="utf-8").splitlines()) == 30
    assert (out / "report.html").is_file()


def test_a_quiet_stream_exits_0_and_since_hides_older_alerts(tmp_path):
    quiet = labeled_file(tmp_path / "quiet.jsonl", shift_from=None)
    result = runner.invoke(app, ["monitor", str(quiet), "--by", "channel", "-o", str(tmp_path / "a"), "--no-charts"])
    assert result.exit_code == 0, result.output
    assert "no alerts" in result.output
    shifted = labeled_file(tmp_path / "shifted.jsonl")
    args = ["monitor", str(shifted), "--by", "channel", "-o", str(tmp_path / "b"), "--no-charts", "--since", "7d"]
    assert runner.invoke(app, args).exit_code == 0  # the week-16 alert is old news by week 29


def test_non_ascii_column_names_work_in_every_role(tmp_path):
    source = labeled_file(tmp_path / "labeled.xlsx", rename={"time": "时间", "channel": "渠道", "id": "编号"})
    result = runner.invoke(
        app,
        ["monitor", str(source), "--time-column", "时间", "--by", "渠道", "--id-column", "编号",
         "-o", str(tmp_path / "out"), "--no-charts"],
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "渠道=app" in result.output


def test_a_missing_time_column_is_one_line_naming_it(tmp_path):
    source = labeled_file(tmp_path / "labeled.csv", weeks=1)
    one_line_error(
        runner.invoke(app, ["monitor", str(source), "--time-column", "created", "-o", str(tmp_path / "o")]),
        "no time column 'created'",
    )
    one_line_error(
        runner.invoke(app, ["monitor", str(source), "--by", "地区", "-o", str(tmp_path / "o")]),
        "no segment column '地区'",
    )
    one_line_error(  # a named id column must exist: alerts would name examples by row number without a word
        runner.invoke(app, ["monitor", str(source), "--id-column", "编号", "-o", str(tmp_path / "o")]),
        "no id column '编号'",
    )


def test_an_out_that_is_a_file_is_one_line_before_anything_is_read(tmp_path):
    source = labeled_file(tmp_path / "labeled.csv", weeks=1)
    (tmp_path / "taken").write_text("not a folder", encoding="utf-8")
    one_line_error(runner.invoke(app, ["monitor", str(source), "-o", str(tmp_path / "taken")]), "--out:", "is a file")
    assert (tmp_path / "taken").read_text(encoding="utf-8") == "not a folder"
    refused = runner.invoke(app, ["monitor", str(source), "--by", "地区", "-o", str(tmp_path / "new" / "out")])
    one_line_error(refused, "no segment column '地区'")
    assert not (tmp_path / "new").exists()  # a refused input leaves no empty output folder behind


def test_bad_flags_are_one_line_naming_the_flag(tmp_path):
    source = labeled_file(tmp_path / "labeled.csv", weeks=1)
    for flags, fragment in (
        (["--window", "a week"], "--window"),
        (["--baseline", "2026-03-01..2026-01-01"], "--baseline"),
        (["--threshold", "-1"], "--threshold"),
        (["--since", "last tuesday"], "--since"),
    ):
        one_line_error(runner.invoke(app, ["monitor", str(source), *flags, "-o", str(tmp_path / "o")]), fragment)


def test_unparseable_times_are_reported_by_row_and_the_rest_is_monitored(tmp_path):
    source = tmp_path / "labeled.csv"
    lines = labeled_file(source, shift_from=None, weeks=2).read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("2025-01-06T", "not a time ")
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["monitor", str(source), "-o", str(tmp_path / "o"), "--no-charts"])
    assert result.exit_code == 0, result.output
    assert "skipped 1 row whose 'time' is missing or not a time (row 3)" in result.output
    assert "read 400 rows, 399 used" in result.output


def test_an_empty_file_is_nothing_to_monitor_not_a_crash(tmp_path):
    for name, content in (("empty.csv", ""), ("header.csv", "id,time,needs,cause\n"), ("empty.jsonl", "")):
        source = tmp_path / name
        source.write_text(content, encoding="utf-8")
        result = runner.invoke(app, ["monitor", str(source), "-o", str(tmp_path / "o")])
        assert result.exit_code == 0, result.output
        assert "no rows, nothing to monitor" in result.output
        assert (tmp_path / "o" / "alerts.jsonl").read_text(encoding="utf-8") == ""


def test_the_html_report_is_self_contained_and_escapes_segment_names(tmp_path):
    pytest.importorskip("matplotlib")
    from monitor.html_report import write_report
    from monitor.pipeline import monitor_rows
    from monitor.settings import MonitorSettings

    rows = [r for week in range(20) for r in exact_week(week, 100, BASE_MIX, segment="<script>x</script>")]
    result = monitor_rows(rows, MonitorSettings(by=["channel"]))
    files, _ = write_report(result, tmp_path, chart_segments=8)
    assert sorted(p.name for p in files) == ["causes.png", "index.png", "report.html", "shares.png"]
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script>x" not in html and "&lt;script&gt;x" in html
    assert html.count("src='data:image/png;base64,") == 3
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in files if p.suffix == ".png")


def _missing_glyph_warnings(family: str, text: str) -> list[str]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1))
    figure.text(0.1, 0.5, text, family=family)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        FigureCanvasAgg(figure).draw()
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_the_chart_font_renders_chinese_without_tofu():
    pytest.importorskip("matplotlib")
    from monitor.fonts import chart_font, covers

    font = chart_font()
    assert font.chinese and font.path is not None, font.warning
    assert covers(font.path, "认知错位系统误差需求波动指数")
    assert _missing_glyph_warnings(font.family, "认知错位 perception_mismatch") == []
    assert _missing_glyph_warnings("DejaVu Sans", "认知错位"), "a Latin-only font must show the failure this catches"
