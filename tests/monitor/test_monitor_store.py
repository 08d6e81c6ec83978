"""Monitoring the stored predictions (monitor/stored.py, `needlens monitor --store`): the same figures as the file."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from typer.testing import CliRunner

from label_loop.predictions import NewPrediction, PredictionStore
from monitor.pipeline import monitor_rows
from monitor.settings import MonitorSettings
from monitor.stored import monitor_store, stored_rows
from needlens.cli import app
from tests.monitor.test_monitor import BASE_MIX, DOUBLED_MISMATCH, exact_week

runner = CliRunner()


def planted_shift_rows() -> list[dict]:
    """30 weeks of 200 labeled rows; perception_mismatch doubles from week 16, and so does its mean probability."""
    rows = [r for week in range(30) for r in exact_week(week, 200, BASE_MIX if week < 16 else DOUBLED_MISMATCH)]
    for row in rows:
        row["p_perception_mismatch"] = 0.6 if row["cause"] == "perception_mismatch" else 0.1
    return rows


def as_predictions(rows: list[dict], metadata_of=lambda row: {"time": row["time"], "channel": row["channel"]}) -> list:
    """Labeled rows as the predictions a store would hold of them."""
    return [
        NewPrediction(
            text=row["id"],
            source="label:feedback.csv",
            model_version="m1",
            needs=row["needs"],
            cause=row["cause"],
            probabilities={key[2:]: value for key, value in row.items() if key.startswith("p_")},
            needs_review=False,
            prediction={"id": row["id"]},
            metadata=metadata_of(row),
        )
        for row in rows
    ]


def shifted_store(path) -> PredictionStore:
    store = PredictionStore(path)
    store.add(as_predictions(planted_shift_rows()))
    return store


def test_the_store_gives_the_figures_of_the_same_rows_read_from_a_file(tmp_path):
    rows = planted_shift_rows()
    settings = MonitorSettings(by=["channel"])
    from_store = monitor_store(shifted_store(tmp_path / "labels.db"), settings)
    from_file = monitor_rows(rows, settings)
    assert from_store.windows == from_file.windows and from_store.input == from_file.input
    assert [a.window_start for a in from_store.alerts] == [a.window_start for a in from_file.alerts]
    assert from_store.windows[20].labels["perception_mismatch"].mean_probability == 0.6 * 0.5 + 0.1 * 0.5


def test_a_prediction_without_a_time_counts_when_it_was_stored_and_ids_are_stored_ids(tmp_path):
    store = PredictionStore(tmp_path / "labels.db")
    (number,) = store.add(as_predictions(exact_week(0, 1, {"none": 1.0}), metadata_of=lambda row: {"channel": "app"}))
    (row,) = stored_rows(store.scan(), MonitorSettings(time_column="when", id_column="ref"))
    assert row["ref"] == number and row["channel"] == "app"
    assert datetime.fromisoformat(row["when"]).date() == datetime.now(UTC).date()


def words(output: str) -> str:
    """A usage error's text without its box and line breaks."""
    return " ".join(output.replace("│", " ").split())


def test_monitor_store_alerts_with_exit_3_and_refuses_a_file_and_a_store_together(tmp_path):
    shifted_store(tmp_path / "labels.db")
    out = tmp_path / "report"
    args = ["monitor", "--store", str(tmp_path / "labels.db"), "--by", "channel", "-o", str(out), "--no-charts"]
    result = runner.invoke(app, args)
    assert result.exit_code == 3, result.output
    (alert,) = [json.loads(line) for line in (out / "alerts.jsonl").read_text(encoding="utf-8").splitlines()]
    assert alert["window_start"] == "2025-04-28T00:00:00"
    assert all(example.isdigit() for example in alert["examples"]["perception_mismatch"]), "stored ids"
    both = runner.invoke(app, ["monitor", str(tmp_path / "labels.db"), "--store", str(tmp_path / "labels.db")])
    assert both.exit_code == 2 and "FILE or --store, one of the two" in words(both.output)
    assert runner.invoke(app, ["monitor"]).exit_code == 2
    column = runner.invoke(app, ["monitor", "--store", str(tmp_path / "labels.db"), "--time-column", "created"])
    assert column.exit_code == 2 and "keeps each text's time as 'time'" in words(column.output)


def test_monitor_store_on_a_missing_store_is_one_line_and_creates_nothing(tmp_path):
    result = runner.invoke(app, ["monitor", "--store", str(tmp_path / "none.db"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and result.output.startswith("error: --store: no label store at")
    assert not (tmp_path / "none.db").exists()
