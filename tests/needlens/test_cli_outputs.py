"""Where a job writes, and what it reads, is refused in one line before the work: training never
deletes a folder of someone's files, evaluation never scores and then fails to write, and a
conflicting or over-long record is named by its line or id."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from classifier.errors import OutputPathError
from classifier.model_dir import is_trained_model
from classifier.output_paths import check_replaceable_folder, write_failure
from needlens.cli import app
from needlens.cli.common import log_line
from tests.conftest import quick_settings, toy_records, write_jsonl
from tests.needlens.test_cli import one_line_error
from training import pipeline
from training.pipeline import train_model

runner = CliRunner()


@pytest.fixture
def no_training(monkeypatch):
    def reached(*args, **kwargs):
        pytest.fail("training started before its output folder was checked")

    monkeypatch.setattr("training.pipeline.split_dataset", reached)


def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"\xff\xd8")
    return folder


def test_train_refuses_a_folder_of_other_files_and_leaves_them(no_training, toy_data, tmp_path):
    folder = photos(tmp_path)
    result = runner.invoke(app, ["train", "--data", str(toy_data), "--out", str(folder)])
    one_line_error(result, f"{folder} already holds files that are not a needlens model (holiday.jpg)")
    assert [p.name for p in folder.iterdir()] == ["holiday.jpg"]


def test_train_refuses_a_file_as_its_output(no_training, toy_data, tmp_path):
    taken = tmp_path / "model.txt"
    taken.write_text("keep")
    result = runner.invoke(app, ["train", "--data", str(toy_data), "--out", str(taken)])
    one_line_error(result, "model.txt is a file, not a folder to write a needlens model in")
    assert taken.read_text() == "keep"


def test_train_may_replace_a_model_it_wrote(toy_model):
    check_replaceable_folder(toy_model[0], is_trained_model, "a needlens model")  # retraining models/default


def test_a_failed_model_write_names_the_model_folder_not_its_staging_copy(toy_data, tmp_path, monkeypatch):
    def full_disk(staging, out_dir):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline, "_replace_dir", full_disk)
    out = tmp_path / "models" / "m"
    out.parent.mkdir()
    with pytest.raises(OutputPathError, match=f"cannot write {out}: No space left on device"):
        train_model(toy_data, out, quick_settings(epochs=1), log=lambda _: None)
    assert list(out.parent.iterdir()) == []  # the staging copy is gone too


def test_train_refuses_a_registered_version_the_current_folder_and_a_dangling_link(
    no_training, toy_data, toy_model, tmp_path, monkeypatch
):
    version = tmp_path / "registry" / "versions" / "v1"
    shutil.copytree(toy_model[0], version)
    result = runner.invoke(app, ["train", "--data", str(toy_data), "--out", str(version)])
    one_line_error(result, f"{version} is a version in a model registry; name a new folder")
    here = tmp_path / "empty"
    here.mkdir()
    monkeypatch.chdir(here)
    one_line_error(runner.invoke(app, ["train", "--data", str(toy_data), "--out", "."]), ". holds the current folder")
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    result = runner.invoke(app, ["train", "--data", str(toy_data), "--out", str(tmp_path / "gone")])
    one_line_error(result, "gone is a link to nothing, not a folder to write a needlens model in")


def test_progress_lines_are_printed_as_written_not_as_markup(capsys):
    log_line("text '[/b]好[red]' and models/[v1]")
    assert capsys.readouterr().out == "text '[/b]好[red]' and models/[v1]\n"


def test_a_failed_read_is_not_reported_as_a_failed_write(tmp_path):
    unreadable = FileNotFoundError(2, "No such file or directory", str(tmp_path / "tokenizer.json"))
    assert write_failure(unreadable, tmp_path / "out", tmp_path / ".out.tmp") is unreadable
    in_staging = PermissionError(13, "Permission denied", str(tmp_path / ".out.tmp" / "model.safetensors"))
    assert str(write_failure(in_staging, tmp_path / "out", tmp_path / ".out.tmp")) == (
        f"cannot write {tmp_path / 'out'}: Permission denied"
    )
    interrupted = KeyboardInterrupt()
    assert write_failure(interrupted, tmp_path / "out") is interrupted


def test_soft_labels_and_no_soft_labels_together_are_refused(tmp_path):
    result = runner.invoke(
        app, ["train", "--soft-labels", str(tmp_path / "s.jsonl"), "--no-soft-labels", "--out", str(tmp_path / "m")]
    )
    one_line_error(result, "--soft-labels and --no-soft-labels: give one or the other")


def test_evaluate_refuses_a_file_as_its_report_folder_before_scoring(toy_model, toy_data, tmp_path, monkeypatch):
    def reached(*args, **kwargs):
        pytest.fail("scored before the report folder was checked")

    monkeypatch.setattr("training.evaluate.evaluation_report", reached)
    taken = tmp_path / "report"
    taken.write_text("keep")
    result = runner.invoke(app, ["evaluate", "--data", str(toy_data), "-m", str(toy_model[0]), "-o", str(taken)])
    one_line_error(result, "report is a file, not a folder")
    assert taken.read_text() == "keep"


def test_check_data_names_a_lone_surrogate_an_over_long_text_and_conflicting_readings(tmp_path):
    good = {"id": "a", "text": "好", "needs": ["surface"], "cause": "none"}
    odd = tmp_path / "odd.jsonl"
    odd.write_text(json.dumps({**good, "domain": "hotel\ud800"}) + "\n", encoding="utf-8")
    one_line_error(runner.invoke(app, ["check-data", str(odd)]), "odd.jsonl:1: domain has a lone surrogate (U+D800)")

    long = write_jsonl(tmp_path / "long.jsonl", [{**good, "text": "长" * 30}])
    result = runner.invoke(app, ["check-data", str(long)], env={"NEEDLENS_MAX_CHARS": "20"})
    one_line_error(result, "long.jsonl:1: text has 30 characters, over the limit of 20 (NEEDLENS_MAX_CHARS)")

    records = [
        *toy_records(3),
        {**good, "id": "x1", "text": "两种读法"},
        {**good, "id": "x2", "text": "两种读法", "cause": "system_error"},
    ]
    result = runner.invoke(app, ["check-data", str(write_jsonl(tmp_path / "c.jsonl", records))])
    assert result.exit_code == 0, result.output
    assert "warning: 1 text(s) appear more than once with different labels" in result.output
    assert "'两种读法': x1 surface/none, x2 surface/system_error" in result.output


def test_distill_names_a_missing_teacher_and_a_folder_given_as_its_output(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", [{"id": "1", "text": "好"}])
    result = runner.invoke(
        app, ["distill", str(pool), "-o", str(tmp_path / "s.jsonl"), "--teacher", str(tmp_path / "none")]
    )
    one_line_error(result, f"--teacher: no model at {tmp_path / 'none'}; train one")
    assert not (tmp_path / "s.jsonl").exists()
    result = runner.invoke(app, ["distill", str(pool), "-o", str(tmp_path)])
    one_line_error(result, f"--output: {tmp_path} is a folder; name the soft-label JSONL file to write")


def test_explain_names_a_byte_that_is_not_utf8(tmp_path):
    # how Python hands over the argument b"\xe5\xa5\xbd\xff" from a terminal that is not UTF-8
    result = runner.invoke(app, ["explain", "好\udcff", "-m", str(tmp_path / "none")])
    assert result.exit_code == 2, result.output
    assert "the argument b'\\xe5\\xa5\\xbd\\xff' is not UTF-8" in " ".join(result.output.split())
