"""`needlens label` on real files: checks before work, encodings, kept columns, restart, a failing model."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from filelock import FileLock
from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from classifier.inference import Predictor
from needlens.cli import app
from tests.conftest import read_csv, write_csv
from tests.needlens.test_cli import one_line_error

runner = CliRunner()
TEXTS = ["屏幕坏了要求换货", "没人告诉我进度", "想参与新功能共创", "重复扣款请退回"]


def label(toy_model, source, output, *extra, env=None):
    args = ["label", str(source), "-o", str(output), "-m", str(toy_model[0]), "--no-progress", *extra]
    return runner.invoke(app, args, env=env)


def test_an_unwritable_output_type_is_refused_before_any_row_is_labeled(toy_model, tmp_path):
    source = write_csv(tmp_path / "big.csv", [[str(i), TEXTS[i % 4]] for i in range(50)])
    one_line_error(label(toy_model, source, tmp_path / "big.docx"), "big.docx: unsupported file type .docx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]


def test_the_checks_run_before_the_model_loads(tmp_path):
    source = write_csv(tmp_path / "in.csv", [["1", TEXTS[0]]], header=("id", "body"))
    result = runner.invoke(app, ["label", str(source), "-o", str(tmp_path / "o.csv"), "-m", str(tmp_path / "none")])
    one_line_error(result, "no text column 'text'")


def test_a_file_without_an_id_column_is_refused_saying_how_and_labeled_with_an_empty_id(toy_model, tmp_path):
    source = write_csv(tmp_path / "in.csv", [[TEXTS[0], "app"], [TEXTS[1], "web"]], header=("text", "渠道"))
    one_line_error(label(toy_model, source, tmp_path / "o.csv"), "pass --id-column '' to tell rows apart")
    result = label(toy_model, source, tmp_path / "o.csv", "--id-column", "")
    assert result.exit_code == 0, result.output
    rows = read_csv(tmp_path / "o.csv")
    assert [(r["row"], r["id"], r["渠道"], r["error_code"]) for r in rows] == [
        ("1", "", "app", ""),
        ("2", "", "web", ""),
    ]
    assert all(r["cause"] for r in rows)


def test_an_output_folder_that_cannot_be_made_is_one_line(toy_model, tmp_path):
    source = write_csv(tmp_path / "in.csv", [["1", TEXTS[0]]])
    (tmp_path / "taken").write_text("a file, not a folder", encoding="utf-8")
    one_line_error(
        label(toy_model, source, tmp_path / "taken" / "out.csv"),
        f"cannot write the output there ({tmp_path / 'taken'} is a file, not a folder)",
    )
    one_line_error(label(toy_model, source, tmp_path), "is a folder")
    one_line_error(label(toy_model, tmp_path, tmp_path / "o.csv"), f"{tmp_path}: is a folder; name the file to label")


def test_a_second_job_on_the_same_output_is_refused_while_the_first_runs(toy_model, tmp_path):
    source = write_csv(tmp_path / "in.csv", [[str(i), TEXTS[i % 4]] for i in range(6)])
    output = tmp_path / "out.csv"
    with FileLock(tmp_path / "out.csv.lock"):  # what a running job holds
        one_line_error(label(toy_model, source, output), "another `needlens label` job is writing it")
    assert not output.exists() and not (tmp_path / "out.csv.partial.jsonl").exists()
    result = label(toy_model, source, output)
    assert result.exit_code == 0, result.output
    assert len(read_csv(output)) == 6


def test_a_refused_second_job_loads_no_model(toy_model, tmp_path, monkeypatch):
    source = write_csv(tmp_path / "in.csv", [["1", TEXTS[0]]])

    def loaded(*args, **kwargs):
        pytest.fail("the model loaded for a job that could not run")

    monkeypatch.setattr(Predictor, "load", loaded)
    with FileLock(tmp_path / "out.csv.lock"):
        one_line_error(label(toy_model, source, tmp_path / "out.csv"), "another `needlens label` job")


@pytest.mark.parametrize("store", ["in.csv", "out.csv", "out.csv.partial.jsonl", "out.csv.lock", "out.csv.tmp"])
def test_the_store_cannot_be_the_input_the_output_or_the_jobs_own_files(toy_model, tmp_path, store):
    source = write_csv(tmp_path / "in.csv", [["1", TEXTS[0]]])
    result = label(toy_model, source, tmp_path / "out.csv", "--store", str(tmp_path / store))
    one_line_error(result, f"--store: {tmp_path / store} is the", "name a separate database file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_store_named_after_the_output_is_only_a_name(toy_model, tmp_path):
    source = write_csv(tmp_path / "in.csv", [["1", TEXTS[0]]])
    result = label(toy_model, source, tmp_path / "out.csv", "--store", str(tmp_path / "out.csv.labels.db"))
    assert result.exit_code == 0, result.output


def test_a_store_under_a_file_is_one_line(toy_model, tmp_path):
    source = write_csv(tmp_path / "in.csv", [["1", TEXTS[0]]])
    result = label(toy_model, source, tmp_path / "out.csv", "--store", str(tmp_path / "in.csv" / "x.db"))
    one_line_error(result, f"label store {tmp_path / 'in.csv' / 'x.db'}: cannot make its folder")


def test_unknown_columns_and_encodings_are_refused_by_name(toy_model, tmp_path):
    source = write_csv(tmp_path / "in.csv", [["1", TEXTS[0], "上海"]], header=("id", "text", "门店"))
    one_line_error(label(toy_model, source, tmp_path / "o.csv", "--columns", "门店,店名"), "no column '店名'")
    one_line_error(label(toy_model, source, tmp_path / "o.csv", "--encoding", "klingon"), "unknown encoding")
    assert not (tmp_path / "o.csv").exists()


def test_lone_surrogates_are_error_rows_not_a_traceback(toy_model, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"id": "1", "text": "\\ud800abc"}\n{"id": "\\ud800", "text": "屏幕坏了要求换货"}\n{"id": "3", "text": "想参与新功能共创"}\n',
        encoding="utf-8",
    )
    result = label(toy_model, source, tmp_path / "out.csv")
    assert result.exit_code == 0, result.output
    rows = read_csv(tmp_path / "out.csv")
    assert [(r["row"], r["error_code"]) for r in rows] == [("1", "invalid_unicode"), ("2", ""), ("3", "")]


def test_a_gb18030_file_from_excel_is_read_and_the_encoding_said(toy_model, tmp_path):
    source = write_csv(
        tmp_path / "excel.csv", [[str(i), TEXTS[i % 4], "上海"] for i in range(8)], ("编号", "反馈", "门店"), "gb18030"
    )
    result = label(toy_model, source, tmp_path / "out.csv", "--text-column", "反馈", "--id-column", "编号")
    assert result.exit_code == 0, result.output
    assert "as gb18030" in result.stderr and "8 labeled" in " ".join(result.stdout.split())
    assert [r["反馈"] for r in read_csv(tmp_path / "out.csv")] == [TEXTS[i % 4] for i in range(8)]


def write_table_with_chinese_headers(path):
    columns = {
        "编号": ["a1", "a2", "a3"],
        "反馈": TEXTS[:3],
        "门店": ["上海", "北京", "深圳"],
        "needs": ["x", "y", "z"],
    }
    if path.suffix == ".csv":
        write_csv(path, list(zip(*columns.values(), strict=True)), header=list(columns))
    elif path.suffix == ".jsonl":
        records = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    elif path.suffix == ".xlsx":
        book = Workbook()
        book.active.append(list(columns))
        for values in zip(*columns.values(), strict=True):
            book.active.append(list(values))
        book.save(path)
    else:
        pq.write_table(pa.table(columns), path)


def read_output(path):
    if path.suffix == ".csv":
        return read_csv(path)
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if path.suffix == ".xlsx":
        values = list(load_workbook(path).active.iter_rows(values_only=True))
        return [dict(zip(values[0], row, strict=True)) for row in values[1:]]
    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".xlsx", ".parquet"])
def test_input_columns_with_chinese_names_are_kept_and_clashes_renamed(toy_model, tmp_path, suffix):
    source = tmp_path / f"in{suffix}"
    write_table_with_chinese_headers(source)
    output = tmp_path / f"out{suffix}"
    result = label(toy_model, source, output, "--text-column", "反馈", "--id-column", "编号")
    assert result.exit_code == 0, result.output
    assert "needs → input_needs" in result.stderr
    rows = read_output(output)
    assert list(rows[0])[:6] == ["row", "id", "编号", "反馈", "门店", "input_needs"]
    assert [(r["id"], r["门店"], r["input_needs"]) for r in rows] == [
        ("a1", "上海", "x"),
        ("a2", "北京", "y"),
        ("a3", "深圳", "z"),
    ]
    assert all(r["needs"] for r in rows)


def test_columns_chooses_which_input_columns_to_keep(toy_model, tmp_path):
    source = tmp_path / "in.csv"
    write_table_with_chinese_headers(source)
    options = ["--text-column", "反馈", "--id-column", "编号"]
    assert label(toy_model, source, tmp_path / "one.csv", *options, "--columns", "门店").exit_code == 0
    assert list(read_csv(tmp_path / "one.csv")[0])[:4] == ["row", "id", "门店", "needs"]
    assert label(toy_model, source, tmp_path / "none.csv", *options, "--columns", "").exit_code == 0
    assert list(read_csv(tmp_path / "none.csv")[0])[:3] == ["row", "id", "needs"]


def test_a_stale_partial_output_says_how_to_start_over_and_restart_does(toy_model, tmp_path):
    source = write_csv(tmp_path / "in.csv", [[str(i), TEXTS[i % 4]] for i in range(6)])
    output = tmp_path / "out.csv"
    journal = tmp_path / "out.csv.partial.jsonl"
    journal.write_text('{"_meta": {"input": "the file before it was fixed"}}\n{"row": 1}\n', encoding="utf-8")
    one_line_error(label(toy_model, source, output), "different job", "the input file", "--restart")
    result = label(toy_model, source, output, "--restart")
    assert result.exit_code == 0, result.output
    assert len(read_csv(output)) == 6 and not journal.exists()


def test_a_model_that_fails_on_everything_stops_in_one_line_keeping_the_journal(toy_model, tmp_path, monkeypatch):
    source = write_csv(tmp_path / "in.csv", [[str(i), TEXTS[i % 4]] for i in range(3)])

    def broken(self, texts, explain=False):
        raise RuntimeError("weights went missing\nin the middle")

    monkeypatch.setattr(Predictor, "predict", broken)
    result = label(toy_model, source, tmp_path / "out.csv")
    assert result.exit_code == 1, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the model fails even on a plain text (RuntimeError: weights went missing in the")
    assert "Traceback" not in result.output and result.stderr.count("error:") == 1
    assert (tmp_path / "out.csv.partial.jsonl").exists() and not (tmp_path / "out.csv").exists()


def test_the_ray_engine_without_ray_installed_says_how_to_get_it(toy_model, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if `pip install needlens` left the extra out
    source = write_csv(tmp_path / "in.csv", [["1", TEXTS[0]]])
    result = label(toy_model, source, tmp_path / "out.parquet", "--engine", "ray")
    one_line_error(result, "--engine ray needs Ray: pip install 'needlens[ray]'")
    assert not (tmp_path / "out.parquet").exists()


def test_ray_engine_options_are_refused_with_the_local_engine(toy_model, tmp_path):
    source = write_csv(tmp_path / "in.csv", [["1", TEXTS[0]]])
    result = label(toy_model, source, tmp_path / "out.csv", "--actors", "4")
    assert result.exit_code == 2 and "only with --engine ray" in result.output
    assert not (tmp_path / "out.csv").exists()


def test_a_jsonl_file_whose_lines_each_bring_a_key_must_pick_its_columns(toy_model, tmp_path):
    # 1,500 rows × 1,500 mostly empty columns would be 2.25 million cells of output
    lines = [json.dumps({"id": str(i), "text": TEXTS[i % 4], f"字段{i}": i}, ensure_ascii=False) for i in range(1500)]
    source = tmp_path / "keys.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused = label(toy_model, source, tmp_path / "out.csv")
    one_line_error(
        refused, "the input has 1,501 columns to keep, more than 1,000: name the ones to keep with --columns"
    )
    assert not (tmp_path / "out.csv").exists()
    wrong = label(toy_model, source, tmp_path / "out.csv", "--text-column", "内容")
    one_line_error(wrong, "no text column '内容' (columns: id, text, 字段0, 字段1")
    assert "… and 1,482 more)" in wrong.output
    picked = label(toy_model, source, tmp_path / "out.csv", "--columns", "字段7")
    assert picked.exit_code == 0, picked.output
    rows = read_csv(tmp_path / "out.csv")
    assert len(rows) == 1500 and "字段7" in rows[0] and "字段8" not in rows[0]
