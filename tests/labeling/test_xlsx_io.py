"""XLSX files as analysts make them and open them: text stays text, header rows may sit
below blank rows, numbers in the text column are texts, and errors name the sheet read."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from labeling.job import LabelJob
from labeling.plan import plan_label_job
from labeling.tables import TableError, count_rows, iter_rows, read_columns, readable_table, write_table

HOSTILE = ['=HYPERLINK("http://evil","点我")', "=1+1", "#N/A", "#DIV/0!", "=", "+cmd", "-1"]


def write_xlsx(path: Path, rows: list[list], start_row: int = 1, title: str = "Sheet") -> Path:
    """A workbook whose active sheet holds ``rows`` from ``start_row`` down (rows above it blank)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    for r, values in enumerate(rows, start=start_row):
        for c, value in enumerate(values, start=1):
            sheet.cell(row=r, column=c, value=value)
    workbook.save(path)
    return path


def stored_cells(path: Path) -> list[list]:
    """Every cell of the active sheet as (value, data_type), as Excel would load it."""
    sheet = load_workbook(path).active
    return [[(cell.value, cell.data_type) for cell in row] for row in sheet.iter_rows()]


def test_text_that_looks_like_a_formula_or_an_error_value_is_written_as_text(tmp_path):
    output = tmp_path / "out.xlsx"
    rows = [{"text": text, "note": text, "n": 3} for text in HOSTILE]
    write_table(rows, output, {"text": "string", "=sum": "value", "note": "value", "n": "value"})

    header, *body = stored_cells(output)
    assert header[1] == ("=sum", "s")
    for text, cells in zip(HOSTILE, body, strict=True):
        assert cells[0] == (text, "s") and cells[2] == (text, "s")
        assert cells[3] == (3, "n")  # numbers stay numbers
    assert [row["text"] for row in iter_rows(output)] == HOSTILE


def test_a_formula_looking_jsonl_text_is_labeled_and_kept_as_text_in_xlsx(predictor, tmp_path):
    source = tmp_path / "mix.jsonl"
    records = [{"id": 1, "text": '=HYPERLINK("http://evil","点我")', "memo": "=A1"}, {"id": 2, "text": "屏幕坏了"}]
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    output = tmp_path / "mix.xlsx"
    LabelJob(predictor, 4, 1000).run(plan_label_job(source, output), progress=False)

    out = list(iter_rows(output))
    assert [r.get("error_code") for r in out] == [None, None] and out[0]["needs"]
    assert out[0]["text"] == records[0]["text"] and out[0]["memo"] == "=A1"
    assert all(data_type != "f" for row in stored_cells(output) for _, data_type in row)
    relabeled = tmp_path / "again.csv"  # the written file reads back with its text, not as missing
    LabelJob(predictor, 4, 1000).run(plan_label_job(output, relabeled, id_column=""), progress=False)
    assert [r["error_code"] for r in iter_rows(relabeled)] == ["", ""]


@pytest.mark.parametrize("blank_rows", [1, 3])
def test_blank_rows_above_the_header_are_skipped(tmp_path, blank_rows):
    source = write_xlsx(tmp_path / "in.xlsx", [["id", "text"], [1, "屏幕坏了"], [], [2, "退款太慢"]], 1 + blank_rows)

    assert read_columns(source) == ["id", "text"]
    assert readable_table(source, {"text": "text"})[0] == ["id", "text"]
    assert list(iter_rows(source)) == [{"id": 1, "text": "屏幕坏了"}, {"id": 2, "text": "退款太慢"}]
    assert list(iter_rows(source, skip=1)) == [{"id": 2, "text": "退款太慢"}]  # resuming counts data rows alike
    assert count_rows(source) == 2


def test_blank_styled_rows_above_the_header_are_skipped(tmp_path):
    source = tmp_path / "in.xlsx"
    workbook = Workbook()
    sheet = workbook.active
    sheet["A1"].number_format = "0.00"  # a row Excel stores, with no value in it
    sheet.append(["id", "text"])
    sheet.append([1, "屏幕坏了"])
    workbook.save(source)

    assert read_columns(source) == ["id", "text"]
    assert list(iter_rows(source)) == [{"id": 1, "text": "屏幕坏了"}]


def test_a_sheet_with_only_blank_rows_has_no_columns_and_no_rows(tmp_path):
    source = write_xlsx(tmp_path / "in.xlsx", [[None, None]], 3)
    assert read_columns(source) == []
    assert list(iter_rows(source)) == []


def test_numbers_in_the_text_column_are_read_as_text_as_a_csv_would_give_them(tmp_path):
    when = datetime(2024, 5, 1, 12, 0)
    values = [666, 3.0, 3.5, 1 / 3, -2, 1e16, 1.5e-7, True, when, "好评"]
    source = write_xlsx(tmp_path / "in.xlsx", [["text", "score"], *([v, v] for v in values)])

    rows = list(iter_rows(source, text_column="text"))
    texts = ["666", "3", "3.5", "0.333333333333333", "-2", "10000000000000000", "1.5e-07", True, when, "好评"]
    assert [r["text"] for r in rows] == texts
    assert [r["score"] for r in rows][:7] == pytest.approx(values[:7])  # other columns keep their numbers
    assert [r["score"] for r in rows][7:] == values[7:]
    assert [r["text"] for r in iter_rows(source)] == [r["score"] for r in rows]  # no text column named: as stored


def test_a_missing_column_in_an_xlsx_names_the_worksheet_read(tmp_path):
    workbook = Workbook()
    workbook.active.title = "Data"
    workbook.active.append(["id", "text"])
    notes = workbook.create_sheet("Notes")
    notes.append(["id", "备注"])
    workbook.active = notes
    source = tmp_path / "in.xlsx"
    workbook.save(source)

    with pytest.raises(TableError, match=r"no text column 'text' \(columns: id, 备注; worksheet 'Notes'\)"):
        readable_table(source, {"text": "text"})
    with pytest.raises(TableError, match="worksheet 'Notes'"):
        plan_label_job(source, tmp_path / "out.csv")


def test_a_missing_column_in_a_csv_names_no_worksheet(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("id,body\n1,x\n", encoding="utf-8")
    with pytest.raises(TableError) as error:
        readable_table(source, {"text": "text"})
    assert str(error.value).endswith("(columns: id, body)")


def test_a_number_in_the_text_column_of_an_xlsx_is_labeled_as_a_csv_would_be(predictor, tmp_path):
    source = write_xlsx(tmp_path / "in.xlsx", [["id", "text"], [1, 666], [2, "屏幕坏了"]], 1)
    output = tmp_path / "out.csv"
    LabelJob(predictor, 4, 1000).run(plan_label_job(source, output), progress=False)
    rows = list(iter_rows(output))
    assert [(r["text"], r["error_code"]) for r in rows] == [("666", ""), ("屏幕坏了", "")]


def test_a_cell_over_excels_limit_is_cut_with_a_note_naming_it(predictor, tmp_path):
    """openpyxl cut a 40,000-character note to 32,767 without a word."""
    source = tmp_path / "notes.csv"
    source.write_text(f"id,text,notes\n1,屏幕坏了,短\n2,没人回复,{'长' * 40_000}\n", encoding="utf-8")
    output, said = tmp_path / "out.xlsx", []
    LabelJob(predictor, 4, 1000).run(plan_label_job(source, output), progress=False, log=said.append)
    assert [len(r["notes"]) for r in iter_rows(output)] == [1, 32_767]
    assert said[-1:] == [
        f"{output}: 1 cell(s) over Excel's limit of 32,767 characters were cut to it (the first: row 2, "
        "column 'notes'); write .csv, .jsonl or .parquet to keep them whole"
    ]
    assert write_table([{"notes": "长" * 40_000}], tmp_path / "again.csv", {"notes": "string"}) == []


@pytest.mark.parametrize("name", ["needs", "text"])
def test_a_header_naming_a_wanted_column_twice_is_refused(tmp_path, name):
    """labels import read the first of two `needs` columns, and label the first of two `text`
    columns, without a word."""
    path = write_xlsx(
        tmp_path / "dup.xlsx", [["text", "needs", "cause", "needs", "text"], ["好", "surface", "none", "x", "差"]]
    )
    with pytest.raises(
        TableError, match=rf"the header names '{name}' more than once \(read as '{name}', '{name}.2', …; worksheet"
    ):
        readable_table(path, {name: name})
    assert readable_table(path, {"cause": "cause"})[0] == ["text", "needs", "cause", "needs.2", "text.2"]
    csv_path = tmp_path / "dup.csv"
    csv_path.write_text(f"{name},{name},other\na,b,c\n", encoding="utf-8")
    with pytest.raises(TableError, match="more than once"):
        readable_table(csv_path, {name: name})


def test_a_column_really_named_like_a_renamed_one_is_no_repeat(tmp_path):
    path = tmp_path / "real.csv"
    path.write_text("id,text,text.2\n1,好,差\n", encoding="utf-8")
    assert readable_table(path, {"text": "text"})[0] == ["id", "text", "text.2"]
