"""`needlens label … --store`: every labeled row's prediction stored as the job goes, once, even across a resume."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from label_loop.predictions import PredictionStore
from label_loop.store import LabelStoreError
from labeling.job import Journal, LabelJob
from labeling.plan import plan_label_job
from labeling.prediction_sink import PredictionSink, plan_storing
from labeling.resilient import LabelingStopped
from needlens.cli import app
from tests.conftest import read_csv, write_csv
from tests.needlens.test_cli import one_line_error

runner = CliRunner()
TEXTS = ["屏幕坏了要求换货", "没人告诉我进度", "想参与新功能共创", "重复扣款请退回", "想了解电池原理"]
HEADER = ("id", "text", "created", "渠道")


class Crash(BaseException):  # a kill or Ctrl-C, which no fallback catches
    pass


def feedback_rows(n: int) -> list[list[str]]:
    return [[f"r{i}", TEXTS[i % len(TEXTS)] + str(i), f"2026-03-{1 + i % 28:02d}T10:00:00", "app" if i % 2 else "web"]
            for i in range(n)]  # fmt: skip


def sink_for(source, output, store_path, keep_text=False) -> PredictionSink:
    plan = plan_label_job(source, output)
    return plan_storing(plan, keep_text, "created", ["渠道"], time_given=True)(PredictionStore(store_path))


def run(job: LabelJob, source, output, restart=False):
    return job.run(plan_label_job(source, output), restart=restart, progress=False)


def stored_rows(store_path) -> list[int]:
    return sorted(p.prediction["row"] for p in PredictionStore(store_path).scan())


def label(toy_model, source, output, *extra):
    args = ["label", str(source), "-o", str(output), "-m", str(toy_model[0]), "--no-progress", *extra]
    return runner.invoke(app, args)


def test_store_writes_each_labeled_row_with_its_time_and_segments_not_the_error_rows(toy_model, tmp_path):
    rows = [*feedback_rows(4), ["bad", "   ", "2026-03-09", "app"]]
    source = write_csv(tmp_path / "in.csv", rows, header=HEADER)
    store_path = tmp_path / "labels.db"
    result = label(toy_model, source, tmp_path / "out.csv", "--store", str(store_path), "--time-column", "created",
                   "--by", "渠道")  # fmt: skip
    assert result.exit_code == 0, result.output
    output = read_csv(tmp_path / "out.csv")
    stored = sorted(PredictionStore(store_path).scan(), key=lambda p: p.prediction["row"])
    assert [p.prediction["id"] for p in stored] == ["r0", "r1", "r2", "r3"]
    for kept, row, out in zip(stored, rows, output, strict=False):
        assert kept.source == "label:in.csv" and kept.text is None and kept.model_version == out["model_version"]
        assert kept.metadata == {"time": row[2], "渠道": row[3]}
        assert "|".join(kept.needs) == out["needs"] and kept.cause == out["cause"]
        assert kept.probabilities == {k[2:]: pytest.approx(float(v)) for k, v in out.items() if k.startswith("p_")}
        assert "created" not in kept.prediction, "the kept input columns are metadata, not the prediction"


def test_rows_stored_with_a_time_that_is_not_one_are_named_when_the_job_ends(toy_model, tmp_path):
    rows = [*feedback_rows(3), ["x1", TEXTS[0], "2024-13-45", "app"], ["x2", TEXTS[1], "", "app"]]
    source = write_csv(tmp_path / "in.csv", [*rows, ["x3", TEXTS[2], "notadate", "web"]], header=HEADER)
    result = label(toy_model, source, tmp_path / "out.csv", "--store", str(tmp_path / "labels.db"),
                   "--time-column", "created")  # fmt: skip
    assert result.exit_code == 0, result.output
    message = " ".join(result.output.split())
    assert "warning: 2 stored row(s) have a 'created' that is not a time (rows 4, 6); `needlens monitor`" in message
    assert PredictionStore(tmp_path / "labels.db").count() == 6  # stored all the same, as the API stores them
    clean = write_csv(tmp_path / "clean.csv", feedback_rows(3), header=HEADER)
    quiet = label(toy_model, clean, tmp_path / "clean_out.csv", "--store", str(tmp_path / "labels.db"))
    assert quiet.exit_code == 0 and "not a time" not in quiet.output


def test_a_job_stopped_in_the_model_and_resumed_stores_every_row_once(predictor, tmp_path):
    source = write_csv(tmp_path / "in.csv", feedback_rows(23), header=HEADER)
    output, store_path = tmp_path / "out.csv", tmp_path / "labels.db"
    calls = {"n": 0}

    def predict_then_crash(texts, explain=False):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash
        return predictor.predict(texts, explain)

    job = LabelJob(predictor, chunk_rows=5, max_chars=1000, sink=sink_for(source, output, store_path))
    job.predictor = type("Flaky", (), {"predict": staticmethod(predict_then_crash), "version": predictor.version})()
    with pytest.raises(Crash):
        run(job, source, output)
    assert stored_rows(store_path) == list(range(1, 11))
    summary = run(LabelJob(predictor, 5, 1000, sink=sink_for(source, output, store_path)), source, output)
    assert summary.resumed_rows == 10 and stored_rows(store_path) == list(range(1, 24))


def test_a_job_stopped_between_storing_and_journaling_does_not_store_its_chunk_twice(predictor, tmp_path, monkeypatch):
    source = write_csv(tmp_path / "in.csv", feedback_rows(23), header=HEADER)
    output, store_path = tmp_path / "out.csv", tmp_path / "labels.db"
    real_append, appends = Journal.append, {"n": 0}

    def append_then_crash(self, rows):
        appends["n"] += 1
        if appends["n"] == 3:  # the third chunk is stored; the kill comes before the journal has it
            raise Crash
        real_append(self, rows)

    monkeypatch.setattr(Journal, "append", append_then_crash)
    with pytest.raises(Crash):
        run(LabelJob(predictor, 5, 1000, sink=sink_for(source, output, store_path)), source, output)
    assert stored_rows(store_path) == list(range(1, 16))
    monkeypatch.setattr(Journal, "append", real_append)
    summary = run(LabelJob(predictor, 5, 1000, sink=sink_for(source, output, store_path)), source, output)
    assert summary.resumed_rows == 10, "rows 11-15 were labeled again"
    assert stored_rows(store_path) == list(range(1, 24)), "and stored once"


def test_labeling_the_same_file_again_with_the_same_model_stores_nothing_new(predictor, tmp_path):
    source = write_csv(tmp_path / "in.csv", feedback_rows(7), header=HEADER)
    output, store_path = tmp_path / "out.csv", tmp_path / "labels.db"
    for restart in (False, True):
        run(LabelJob(predictor, 5, 1000, sink=sink_for(source, output, store_path)), source, output, restart)
    assert stored_rows(store_path) == list(range(1, 8))


def test_a_store_that_fails_stops_the_job_keeping_finished_rows(predictor, tmp_path, monkeypatch):
    source = write_csv(tmp_path / "in.csv", feedback_rows(12), header=HEADER)
    output, store_path = tmp_path / "out.csv", tmp_path / "labels.db"
    sink = sink_for(source, output, store_path)
    real_add, adds = sink.store.add, {"n": 0}

    def add_then_fail(entries):
        adds["n"] += 1
        if adds["n"] == 2:
            raise LabelStoreError(f"label store {store_path} cannot be used: database or disk is full")
        return real_add(entries)

    monkeypatch.setattr(sink.store, "add", add_then_fail)
    with pytest.raises(LabelingStopped, match=r"cannot store predictions .*rerun the same command to resume"):
        run(LabelJob(predictor, 5, 1000, sink=sink), source, output)
    assert len(list(Journal(output).rows())) == 5 and stored_rows(store_path) == list(range(1, 6))


def test_resuming_with_other_storing_options_is_refused_as_another_job(predictor, tmp_path):
    source = write_csv(tmp_path / "in.csv", feedback_rows(3), header=HEADER)
    output = tmp_path / "out.csv"
    Journal(output).resume({"input": "placeholder"}, restart=True)  # an unfinished run of some job
    plan = plan_label_job(source, output)
    meta = {**plan.identity(), "model_version": predictor.version, "explain": False}
    Journal(output).resume(meta, restart=True)
    job = LabelJob(predictor, 5, 1000, sink=sink_for(source, output, tmp_path / "labels.db"))
    with pytest.raises(Exception, match=r"different job \(--store changed\)"):
        run(job, source, output)


def test_store_text_keeps_the_texts(toy_model, tmp_path):
    source = write_csv(tmp_path / "in.csv", feedback_rows(2), header=HEADER)
    store_path = tmp_path / "labels.db"
    result = label(toy_model, source, tmp_path / "out.csv", "--store", str(store_path), "--store-text",
                   "--time-column", "created")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.text for p in PredictionStore(store_path).scan()) == sorted(r[1] for r in feedback_rows(2))


def test_an_input_without_the_default_time_column_is_stored_without_a_time_and_said(toy_model, tmp_path):
    source = write_csv(tmp_path / "in.csv", [["1", TEXTS[0]]])
    store_path = tmp_path / "labels.db"
    result = label(toy_model, source, tmp_path / "out.csv", "--store", str(store_path))
    assert result.exit_code == 0, result.output
    assert "no 'time' column in in.csv" in " ".join(result.output.split())
    (stored,) = PredictionStore(store_path).scan()
    assert stored.metadata == {}


def test_hostile_metadata_cells_are_stored_as_valid_unicode(toy_model, tmp_path):
    source = tmp_path / "in.jsonl"
    rows = [
        {"id": "1", "text": TEXTS[0], "time": "2026-03-02", "channel": "a\ud800b", "区域": {"nested": [1, None]}},
        {"id": "2", "text": TEXTS[1], "time": 1767225600, "channel": "x\x00y" * 10_000, "区域": None},
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    store_path = tmp_path / "labels.db"
    result = label(
        toy_model, source, tmp_path / "out.csv", "--store", str(store_path), "--by", "channel", "--by", "区域"
    )
    assert result.exit_code == 0, result.output
    first, second = sorted(PredictionStore(store_path).scan(), key=lambda p: p.prediction["row"])
    assert first.metadata == {"time": "2026-03-02", "channel": "a\ufffdb", "区域": {"nested": [1, None]}}
    assert second.metadata == {"time": 1767225600, "channel": "x\x00y" * 10_000, "区域": None}


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--by", "region"], "--by: no column 'region' in in.csv"),
        (["--time-column", "when"], "--time-column: no column 'when' in in.csv"),
        (["--by", "time"], "--by time"),
    ],
)
def test_storing_columns_are_checked_before_the_model_loads(tmp_path, extra, fragment):
    source = write_csv(tmp_path / "in.csv", feedback_rows(1), header=("id", "text", "time", "channel"))
    args = ["label", str(source), "-o", str(tmp_path / "o.csv"), "-m", str(tmp_path / "no-model")]
    one_line_error(runner.invoke(app, [*args, "--store", str(tmp_path / "labels.db"), *extra]), fragment)
    assert not (tmp_path / "o.csv").exists()
    assert not (tmp_path / "labels.db").exists()


def test_a_missing_model_leaves_no_new_store_behind(tmp_path):
    source = write_csv(tmp_path / "in.csv", feedback_rows(1), header=("id", "text", "time", "channel"))
    args = ["label", str(source), "-o", str(tmp_path / "o.csv"), "-m", str(tmp_path / "no-model")]
    one_line_error(runner.invoke(app, [*args, "--store", str(tmp_path / "labels.db")]), "not a needlens model")
    assert not (tmp_path / "labels.db").exists()


def test_a_model_that_fails_to_load_leaves_no_new_store_behind(toy_model, tmp_path):
    broken = tmp_path / "broken-model"
    shutil.copytree(toy_model[0], broken)
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    source = write_csv(tmp_path / "in.csv", feedback_rows(1), header=("id", "text", "time", "channel"))
    args = ["label", str(source), "-o", str(tmp_path / "o.csv"), "-m", str(broken)]
    result = runner.invoke(app, [*args, "--store", str(tmp_path / "labels.db")])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "labels.db").exists()
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--store-text"], "only with --store"),
        (["--by", "channel"], "only with --store"),
        (["--store", "labels.db", "--engine", "ray"], "for --engine local"),
    ],
)
def test_storing_options_need_store_and_the_local_engine(toy_model, tmp_path, extra, fragment):
    source = write_csv(tmp_path / "in.csv", feedback_rows(1), header=HEADER)
    result = label(toy_model, source, tmp_path / "out.csv", *extra)
    assert result.exit_code == 2 and fragment in result.output
    assert not (tmp_path / "out.csv").exists()
