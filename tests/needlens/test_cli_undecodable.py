"""A file name or text that is not UTF-8 is refused in one line before any work (it failed with a
traceback where it was first written: a label job's state file, the store)."""

import os

import pytest
from typer.testing import CliRunner

from needlens.cli import app

runner = CliRunner()
GBK_NAME = os.fsdecode("标注".encode("gbk") + b".csv")  # as Python reads a GBK name from argv


@pytest.mark.parametrize(
    "args",
    [
        ["label", GBK_NAME, "-o", "out.csv"],
        ["label", "in.csv", "-o", GBK_NAME],
        ["labels", "quarantine", "reject", "1", "--note", os.fsdecode("质量差".encode("gbk"))],
        ["labels", "gold", "add", "gold.csv", "--by", os.fsdecode("王".encode("gbk"))],
        ["monitor", GBK_NAME],
        ["monitor", "in.csv", "--by", os.fsdecode("渠道".encode("gbk"))],  # passed on inside a mapping of flags
        ["review", "hash-password", os.fsdecode("王".encode("gbk"))],
    ],
)
def test_an_argument_that_is_not_utf8_is_refused_before_any_work(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text("text\n好\n", encoding="utf-8")
    result = runner.invoke(app, [*args, "--store", "s.db"] if args[0] == "labels" else args)
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "is not UTF-8 (bytes in another encoding, such as GBK)" in said, said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]  # no job files, no store


def test_an_error_naming_a_file_shows_its_name_as_written_not_as_markup(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["label", "[bold]x[/bold].csv", "-o", "out.csv"])
    assert result.exit_code == 2 and "[bold]x[/bold].csv: no such file" in result.output
