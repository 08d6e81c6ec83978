"""The console command: user mistakes are one line and exit code 2; jobs leave their files."""

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from needlens.cli import app
from tests.conftest import claim_soft_labels, toy_records, write_jsonl

runner = CliRunner()


def one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert message.startswith("error:") and "Traceback" not in message
    for fragment in fragments:
        assert fragment in " ".join(message.split())


def test_missing_column_names_it(toy_model, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("id,body\n1,好\n", encoding="utf-8")
    result = runner.invoke(app, ["label", str(source), "-o", str(tmp_path / "o.csv"), "-m", str(toy_model[0])])
    one_line_error(result, "no text column 'text'", "columns: id, body")


def test_missing_or_unreadable_input_names_the_file(toy_model, tmp_path):
    result = runner.invoke(
        app, ["label", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o.csv"), "-m", str(toy_model[0])]
    )
    one_line_error(result, "nope.csv: no such file")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip file")
    result = runner.invoke(app, ["label", str(broken), "-o", str(tmp_path / "o.csv"), "-m", str(toy_model[0])])
    one_line_error(result, "broken.xlsx: unreadable xlsx file")


def test_missing_model_is_a_clear_error(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,好\n", encoding="utf-8")
    result = runner.invoke(app, ["label", str(source), "-o", str(tmp_path / "o.csv"), "-m", str(tmp_path / "none")])
    one_line_error(result, "is not a needlens model directory")


def test_train_rejects_invalid_data_with_its_line(tmp_path):
    data = write_jsonl(tmp_path / "bad.jsonl", [{"id": "1", "text": "好", "needs": ["joy"], "cause": "none"}])
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "m")])
    one_line_error(result, "bad.jsonl:1", "needs.0")
    assert not (tmp_path / "m").exists()


def test_label_then_evaluate(toy_model, toy_data, tmp_path):
    model_dir = str(toy_model[0])
    source = tmp_path / "in.jsonl"
    write_jsonl(source, [{"id": r["id"], "text": r["text"]} for r in toy_records(3, seed=9)])
    result = runner.invoke(
        app, ["label", str(source), "-o", str(tmp_path / "out.csv"), "-m", model_dir, "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "9 rows" in result.output and "9 labeled" in " ".join(result.output.split())
    assert len((tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()) == 10

    result = runner.invoke(app, ["evaluate", "--data", str(toy_data), "-m", model_dir, "-o", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "rep" / "report.json").read_text(encoding="utf-8"))
    assert report["model"]["n"] == 180
    assert set(report["baseline"]) >= {"needs_macro_f1", "cause_macro_f1"}
    markdown = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert "TF-IDF + LR baseline" in markdown and "model − baseline, 95% CI" in markdown
    intervals = report["intervals"]
    assert intervals["samples"] == 1000 and set(intervals["model_minus_baseline"]) == set(intervals["model"])
    low, high = intervals["model"]["cause_macro_f1"]
    assert low <= report["model"]["cause_macro_f1"] <= high

    result = runner.invoke(
        app,
        ["evaluate", "--data", str(toy_data), "-m", model_dir, "-o", str(tmp_path / "rep0")],
        env={"NEEDLENS_BOOTSTRAP_SAMPLES": "0"},
    )
    assert result.exit_code == 0, result.output
    assert "intervals" not in json.loads((tmp_path / "rep0" / "report.json").read_text(encoding="utf-8"))
    assert "95% CI" not in (tmp_path / "rep0" / "report.md").read_text(encoding="utf-8")


def test_evaluate_leaves_out_the_texts_the_model_learned_as_soft_labels(toy_model, toy_data, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(toy_model[0], model)
    lines = toy_data.read_text(encoding="utf-8").splitlines()
    claim_soft_labels(model, [json.loads(line)["text"] for line in lines[:5]], tmp_path / "soft.jsonl")
    result = runner.invoke(app, ["evaluate", "--data", str(toy_data), "-m", str(model), "-o", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    assert "left out 5 texts" in result.output
    report = json.loads((tmp_path / "rep" / "report.json").read_text(encoding="utf-8"))
    assert report["model"]["n"] == len(lines) - 5 and report["data"]["left_out_soft_labeled"] == 5
    assert "Left out: 5 texts" in (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")

    only_learned = tmp_path / "learned.jsonl"
    only_learned.write_text("".join(line + "\n" for line in lines[:5]), encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "--data", str(only_learned), "-m", str(model)])
    assert result.exit_code == 2 and "learned every one of its 5 texts" in result.output

    (tmp_path / "soft.jsonl").unlink()  # cannot check: scores every text and says so
    result = runner.invoke(app, ["evaluate", "--data", str(toy_data), "-m", str(model), "-o", str(tmp_path / "rep2")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "rep2" / "report.json").read_text(encoding="utf-8"))
    assert report["model"]["n"] == len(lines) and report["data"]["left_out_soft_labeled"] is None
    assert "Not checked for texts the model learned" in (tmp_path / "rep2" / "report.md").read_text(encoding="utf-8")


def test_check_data_prints_the_distribution(toy_data):
    result = runner.invoke(app, ["check-data", str(toy_data)])
    assert result.exit_code == 0, result.output
    assert "180 valid records" in result.output


def test_a_bad_setting_is_one_line_naming_the_variable(toy_model, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,屏幕坏了\n", encoding="utf-8")
    args = ["label", str(source), "-o", str(tmp_path / "out.csv"), "--model", str(toy_model[0])]
    result = runner.invoke(app, args, env={"NEEDLENS_RUNTIME": "fast"})
    assert result.exit_code == 2
    assert "NEEDLENS_RUNTIME" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out.csv").exists()


def test_a_bad_variable_checked_by_its_own_rule_reads_as_that_rule(tmp_path):
    result = runner.invoke(app, ["monitor", str(tmp_path / "none.csv")], env={"NEEDLENS_MONITOR__WINDOW": "a week"})
    one_line_error(result, "NEEDLENS_MONITOR__WINDOW: 'a week' is not a duration")
    assert "Value error" not in result.output


def test_a_job_that_labels_no_row_exits_1_and_keeps_its_error_rows(toy_model, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,屏幕坏了要求换货\n2,没人告诉我进度\n", encoding="utf-8")
    args = ["label", str(source), "-o", str(tmp_path / "out.csv"), "--model", str(toy_model[0]), "--no-progress"]
    result = runner.invoke(app, args, env={"NEEDLENS_MAX_CHARS": "3"})
    assert result.exit_code == 1, result.output
    assert "none of the 2 rows could be labeled (too_long 2)" in " ".join(result.output.split())
    assert (tmp_path / "out.csv").read_text(encoding="utf-8-sig").count("too_long") == 2
    assert runner.invoke(app, args).exit_code == 0  # one labeled row is a finished job


@pytest.mark.parametrize(
    ("flag", "env", "exit_code"),
    [
        (["--max-error-share", "0.5"], {}, 1),  # 2 of 3 rows is more than half
        (["--max-error-share", "0.7"], {}, 0),
        ([], {"NEEDLENS_LABEL_MAX_ERROR_SHARE": "0.5"}, 1),
        (["--max-error-share", "0.7"], {"NEEDLENS_LABEL_MAX_ERROR_SHARE": "0.5"}, 0),  # the flag wins
        ([], {}, 0),  # by default a job that labeled a row has finished
    ],
)
def test_a_job_with_more_error_rows_than_allowed_exits_1_and_keeps_its_rows(toy_model, tmp_path, flag, env, exit_code):
    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,屏幕坏了要求换货\n2,\n3,\u3000\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    args = ["label", str(source), "-o", str(out), "--model", str(toy_model[0]), "--no-progress", *flag]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == exit_code, result.output
    if exit_code:
        assert "2 of the 3 rows (66.7%) could not be labeled (empty 2), more than the 50% allowed" in " ".join(
            result.output.split()
        )
    assert out.read_text(encoding="utf-8-sig").count(",empty,") == 2


@pytest.mark.parametrize("value", ["-0.1", "1.5", "nan"])
def test_an_error_share_outside_0_to_1_is_refused_before_labeling(toy_model, tmp_path, value):
    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,屏幕坏了\n", encoding="utf-8")
    args = ["label", str(source), "-o", str(tmp_path / "out.csv"), "--model", str(toy_model[0])]
    result = runner.invoke(app, [*args, "--max-error-share", value])
    assert result.exit_code == 2 and "--max-error-share" in result.output, result.output
    result = runner.invoke(app, args, env={"NEEDLENS_LABEL_MAX_ERROR_SHARE": value})
    assert result.exit_code == 2 and "NEEDLENS_LABEL_MAX_ERROR_SHARE" in result.output, result.output
    assert not (tmp_path / "out.csv").exists()


def test_more_label_workers_than_cpus_run_as_many_as_the_cpus_with_a_note(toy_model, tmp_path, monkeypatch):
    import needlens.cli.label as label_cli

    started = []
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0}, raising=False)
    monkeypatch.setattr(label_cli, "_label", lambda plan, settings, *_: started.append(settings.label_workers))
    monkeypatch.setattr("needlens.summary.print_label_summary", lambda *_: None)
    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,屏幕坏了\n", encoding="utf-8")
    args = ["label", str(source), "-o", str(tmp_path / "out.csv"), "--model", str(toy_model[0])]
    result = runner.invoke(app, args, env={"NEEDLENS_LABEL_WORKERS": "300"})
    assert started == [1], result.output
    assert "running 1 worker(s), not 300: this job may use 1 CPU(s)" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("NEEDLENS_MONITOR__BY", "channel", "NEEDLENS_MONITOR__BY: a list or mapping variable is JSON"),
        ("NEEDLENS_DEFAULT_DATA", "data/seed", "NEEDLENS_DEFAULT_DATA: a list or mapping variable is JSON"),
        ("NEEDLENS_UI_USERS", "{ana", "NEEDLENS_UI_USERS: a list or mapping variable is JSON"),
        ("NEEDLENS_BATCH_MAX_WAIT_MS", "inf", "NEEDLENS_BATCH_MAX_WAIT_MS: Input should be a finite number"),
        ("NEEDLENS_UI_SESSION_HOURS", "nan", "NEEDLENS_UI_SESSION_HOURS: Input should be a finite number"),
        ("NEEDLENS_BATCH_MAX_WAIT_MS", "40000", "NEEDLENS_BATCH_MAX_WAIT_MS (40000 ms) must be under"),
        ("NEEDLENS_QUEUE_MAX_TEXTS", "100", "NEEDLENS_QUEUE_MAX_TEXTS (100) must be at least NEEDLENS_MAX_ITEMS (256)"),
        ("NEEDLENS_ARRIVAL__MIN_LABEL", "3", "NEEDLENS_ARRIVAL__MIN_LABEL: Extra inputs are not permitted"),
        ("NEEDLENS_MONITOR__WINDOWS", "3d", "NEEDLENS_MONITOR__WINDOWS: Extra inputs are not permitted"),
        ("NEEDLENS_THREADS", "100000", "NEEDLENS_THREADS: Input should be less than or equal to 1024"),
        ("NEEDLENS_API_KEY", " ", "NEEDLENS_API_KEY is set but empty; give the key, or unset it"),
        ("NEEDLENS_MONITOR__QUIET_BELOW", "5", "error: quiet_below (5.0) must be under threshold (4.0)"),
    ],
)
def test_every_unusable_variable_is_one_line_naming_it_whatever_the_command(tmp_path, variable, value, fragment):
    # a window variable that is rightly not JSON is not named beside the one that should be
    env = {variable: value, "NEEDLENS_MONITOR__WINDOW": "7d"}
    result = runner.invoke(app, ["explain", "屏幕坏了"], env=env)
    one_line_error(result, fragment)
    assert "NEEDLENS_MONITOR__WINDOW:" not in result.output and "NEEDLENS_MONITOR__WINDOW," not in result.output


def test_an_empty_variable_is_unset(tmp_path, monkeypatch):
    from needlens.cli.common import load_settings

    for variable in ("NEEDLENS_HOST", "NEEDLENS_RAY_ACTORS", "NEEDLENS_MODEL_DIR", "NEEDLENS_MONITOR__TIME_COLUMN"):
        monkeypatch.setenv(variable, "")
    settings = load_settings()
    assert (settings.host, settings.ray_actors, settings.model_dir) == ("127.0.0.1", None, Path("models/default"))
    assert settings.monitor.time_column == "time"


def test_training_on_cuda_without_a_gpu_is_refused_before_the_data_is_read(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = ["train", "--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "m"), "--no-soft-labels"]
    one_line_error(runner.invoke(app, [*args, "--device", "cuda"]), "--device cuda: torch sees no CUDA GPU")
    result = runner.invoke(app, args, env={"NEEDLENS_TRAINING__DEVICE": "cuda"})
    one_line_error(result, "NEEDLENS_TRAINING__DEVICE cuda:")


def test_a_bad_flag_value_is_one_line_naming_the_flag_not_a_variable(tmp_path):
    result = runner.invoke(app, ["serve", "--port", "70000", "--model", str(tmp_path / "none")])
    one_line_error(result, "--port:", "65535")
    assert "NEEDLENS_PORT" not in result.output


def test_flags_override_the_environment_and_the_training_profile_fills_what_neither_sets(monkeypatch):
    from needlens.cli.common import load_settings

    monkeypatch.setenv("NEEDLENS_TRAINING__SEED", "7")
    monkeypatch.setenv("NEEDLENS_TRAINING__EPOCHS", "9")
    monkeypatch.setenv("NEEDLENS_PORT", "9000")
    settings = load_settings(profile="accurate", port=None, workers=3, training={"epochs": 2, "seed": None})
    assert (settings.port, settings.workers) == (9000, 3)
    assert (settings.training.seed, settings.training.epochs, settings.training.base_model) == (7, 2, "e5-small")


def test_a_training_variable_beats_the_profile_and_a_flag_beats_both(monkeypatch):
    from classifier.settings import PROFILES
    from needlens.cli.common import load_settings

    monkeypatch.setenv("NEEDLENS_TRAINING__SOFT_LABEL_TEXTS", "13750")
    monkeypatch.setenv("NEEDLENS_TRAINING__EPOCHS", "3")
    settings = load_settings(profile="fast", training={"epochs": None})
    assert PROFILES["fast"]["soft_label_texts"] != 13750 and PROFILES["fast"]["epochs"] != 3
    assert (settings.training.soft_label_texts, settings.training.epochs) == (13750, 3)
    assert settings.training.soft_labels == PROFILES["fast"]["soft_labels"]  # unset: the profile's
    assert load_settings(profile="fast", training={"epochs": 1}).training.epochs == 1


def test_a_retired_or_misspelt_training_knob_is_refused_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("NEEDLENS_TRAINING__FREEZE_LOWER_LAYERS", "true")
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "m")])
    one_line_error(result, "NEEDLENS_TRAINING__FREEZE_LOWER_LAYERS", "not permitted")
    assert not (tmp_path / "m").exists()


def test_frozen_lower_layers_with_an_encoder_that_has_none_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("NEEDLENS_TRAINING__FROZEN_LOWER_EPOCHS", "1")
    result = runner.invoke(app, ["train", "--profile", "accurate", "--out", str(tmp_path / "m")])
    one_line_error(result, "FROZEN_LOWER_EPOCHS works with the use-m3 encoder only", "e5-small")
    assert not (tmp_path / "m").exists()


def test_serve_hands_its_worker_processes_the_same_settings_through_the_environment(monkeypatch, tmp_path):
    from classifier.settings import Settings
    from needlens.cli.common import load_settings
    from needlens.cli.serve import settings_environment

    monkeypatch.setenv("NEEDLENS_API_KEY", "secret")
    monkeypatch.setenv("NEEDLENS_TRAINING__SEED", "7")
    given = load_settings(model_dir=tmp_path, port=9001, micro_batching=False, default_data=[tmp_path / "d"])
    environment = settings_environment(given)
    assert "NEEDLENS_API_KEY" not in environment  # inherited as it is, never unmasked into a copy
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    worker = Settings()
    assert worker == given
    assert worker.api_key is not None and worker.api_key.get_secret_value() == "secret"
