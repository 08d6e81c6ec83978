"""`label` on hostile files: every bad row is an error row naming its row, and every other row is labeled."""

import csv
import json
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook, load_workbook

from labeling.job import LabelJob
from labeling.plan import plan_label_job
from labeling.tables import TableError

GOOD = ["屏幕坏了要求换货", "没人告诉我进度", "想参与新功能共创"]


def label_file(predictor, source, output, max_chars=1000, chunk_rows=4, **options):
    plan = plan_label_job(source, output, **options)
    return LabelJob(predictor, chunk_rows, max_chars).run(plan, progress=False)


def read_rows(path):
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle))
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    values = list(load_workbook(path).active.iter_rows(values_only=True))
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


def errors_by_row(rows):
    return {int(r["row"]): r["error_code"] or None for r in rows}


def test_lone_surrogates_in_jsonl_text_id_and_other_columns_cost_no_other_row(predictor, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"id": 1, "text": "\\ud800abc", "note": "a"}\n'
        '{"id": "\\udfff", "text": "屏幕坏了要求换货", "note": "x\\ud83d"}\n'
        '{"id": 3, "text": "想参与新功能共创", "note": "c"}\n',
        encoding="utf-8",
    )
    summary = label_file(predictor, source, tmp_path / "out.jsonl")
    rows = read_rows(tmp_path / "out.jsonl")
    assert [r["error_code"] for r in rows] == ["invalid_unicode", None, None]
    assert "U+D800" in rows[0]["error"] and rows[0]["row"] == 1
    assert rows[1]["id"] == "\ufffd" and rows[1]["note"] == "x\ufffd" and rows[1]["needs"]
    assert summary.labeled == 2 and summary.error_counts == {"invalid_unicode": 1}


def test_nul_bytes_and_a_gbk_row_in_a_utf8_csv_are_error_rows_naming_row_and_byte(predictor, tmp_path):
    source = tmp_path / "in.csv"
    body = "id,text,门店\n1,屏幕坏了要求换货,上海\n2,\x00\x00,北京\n3,退款\x00太慢了,杭州\n".encode()
    bad_row = b"4," + "重复扣款请退回".encode("gbk") + ",广州\n".encode()
    source.write_bytes(body + bad_row + "5,想参与新功能共创,深圳\n".encode())
    summary = label_file(predictor, source, tmp_path / "out.csv")
    rows = read_rows(tmp_path / "out.csv")
    assert errors_by_row(rows) == {1: None, 2: "empty", 3: None, 4: "invalid_encoding", 5: None}
    assert f"at byte {len(body) + 2}" in rows[3]["error"] and "--encoding gb18030" in rows[3]["error"]
    assert rows[3]["门店"] == "广州" and "\ufffd" in rows[3]["text"]
    assert summary.labeled == 3


def test_a_whole_gb18030_file_with_chinese_headers_is_detected_and_read(predictor, tmp_path):
    source = tmp_path / "excel.csv"
    lines = ["编号,反馈,门店", *(f"{i},{text},上海" for i, text in enumerate(GOOD * 4))]
    source.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    plan = plan_label_job(source, tmp_path / "out.csv", text_column="反馈", id_column="编号")
    assert plan.encoding is not None and plan.encoding.name == "gb18030"
    assert any("gb18030" in note for note in plan.notes())
    summary = LabelJob(predictor, 5, 1000).run(plan, progress=False)
    rows = read_rows(tmp_path / "out.csv")
    assert summary.labeled == 12 and [r["反馈"] for r in rows] == GOOD * 4 and rows[0]["门店"] == "上海"


def test_a_utf8_bom_is_not_part_of_the_first_column_name(predictor, tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(b"\xef\xbb\xbf" + "id,text\n1,屏幕坏了要求换货\n".encode())
    label_file(predictor, source, tmp_path / "out.csv")
    assert read_rows(tmp_path / "out.csv")[0]["id"] == "1"


def test_a_huge_cell_is_a_too_long_row_and_its_neighbours_are_labeled(predictor, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(f"id,text\n1,{GOOD[0]}\n2,{'长' * 200_000}\n3,{GOOD[1]}\n", encoding="utf-8")
    label_file(predictor, source, tmp_path / "out.csv", max_chars=5000)
    rows = read_rows(tmp_path / "out.csv")
    assert errors_by_row(rows) == {1: None, 2: "too_long", 3: None}
    assert "200000 characters" in rows[1]["error"]


def test_extra_fields_and_extra_jsonl_keys_do_not_disturb_other_rows(predictor, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"id": 1, "text": GOOD[0]}, ensure_ascii=False)
        + "\n"
        + json.dumps({"id": 2, "text": GOOD[1], "surprise": {"deep": [1, 2]}}, ensure_ascii=False)
        + "\n[1, 2]\n",
        encoding="utf-8",
    )
    label_file(predictor, source, tmp_path / "out.jsonl")
    rows = read_rows(tmp_path / "out.jsonl")
    assert [r["error_code"] for r in rows] == [None, None, "unparseable"]
    assert rows[1]["surprise"] == {"deep": [1, 2]}  # a key the first object lacks is still a column
    assert rows[0]["surprise"] is None


def test_an_empty_jsonl_key_becomes_a_named_column(predictor, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": 1, "text": GOOD[0], "": "空键"}, ensure_ascii=False) + "\n", encoding="utf-8")
    label_file(predictor, source, tmp_path / "out.csv")
    (row,) = read_rows(tmp_path / "out.csv")
    assert row["column_3"] == "空键" and "" not in row


def test_a_first_jsonl_object_without_text_is_one_error_row_not_a_refusal(predictor, tmp_path):
    source = tmp_path / "in.jsonl"
    lines = [{"id": "g1"}, {"id": "f1", "text": GOOD[0]}, {"id": "f2", "text": GOOD[1], "渠道": "app"}]
    source.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    label_file(predictor, source, tmp_path / "out.csv")
    rows = read_rows(tmp_path / "out.csv")
    assert errors_by_row(rows) == {1: "missing", 2: None, 3: None}
    assert [r["渠道"] for r in rows] == ["", "", "app"]


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_an_unclosed_quote_costs_its_own_line_and_no_row_after_it(predictor, tmp_path, suffix):
    sep = "," if suffix == ".csv" else "\t"
    source = tmp_path / f"in{suffix}"
    lines = ["id", "text"], ["q1", GOOD[0]], ["q2", '"他说不错'], ["q3", GOOD[1]], ["q4", GOOD[2]]
    source.write_text("".join(sep.join(line) + "\n" for line in lines), encoding="utf-8")
    label_file(predictor, source, tmp_path / "out.csv")
    rows = read_rows(tmp_path / "out.csv")
    assert errors_by_row(rows) == {1: None, 2: "unparseable", 3: None, 4: None}
    assert "read again" in rows[1]["error"]
    assert [r["text"] for r in rows if not r["error_code"]] == [GOOD[0], GOOD[1], GOOD[2]]


def test_text_after_a_closing_quote_is_an_error_row_not_a_quietly_changed_text(predictor, tmp_path):
    source = tmp_path / "in.tsv"
    source.write_text(f'id\ttext\nq1\t"好评"，快递很快\nq2\t{GOOD[0]}\nq3\t"多行\n文本"\n', encoding="utf-8")
    label_file(predictor, source, tmp_path / "out.jsonl")
    rows = read_rows(tmp_path / "out.jsonl")
    assert [r["error_code"] for r in rows] == ["unparseable", None, None]
    assert rows[2]["text"] == "多行\n文本"  # a well-quoted field may still span lines


def test_a_header_only_file_writes_a_header_only_output(predictor, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("id,text,门店\n", encoding="utf-8")
    summary = label_file(predictor, source, tmp_path / "out.csv")
    assert summary.rows == 0
    header = (tmp_path / "out.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(header) == 1 and header[0].startswith("row,id,text,门店,needs")


@pytest.mark.parametrize("content", [b"", b"\n\n", b"   "])
def test_an_empty_file_is_refused_before_any_work(tmp_path, content):
    for name in ("in.csv", "in.jsonl"):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(TableError, match="no header and no rows"):
            plan_label_job(tmp_path / name, tmp_path / "out.csv")


def test_an_empty_workbook_is_refused_naming_the_worksheet_not_json(tmp_path):
    Workbook().save(tmp_path / "in.xlsx")
    with pytest.raises(TableError, match=r"no header and no rows \(the worksheet read, the active one, is empty\)$"):
        plan_label_job(tmp_path / "in.xlsx", tmp_path / "out.csv")


def _xlsx_with_raw_cells(path, cells):
    """An XLSX whose text cells hold Excel's own _xHHHH_ escapes, which openpyxl cannot write."""
    book = Workbook()
    book.active.append(["编号", "反馈"])
    for i in range(len(cells)):
        book.active.append([i + 1, f"PLACEHOLDER{i}"])
    book.save(path)
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    for i, raw in enumerate(cells):
        parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"].replace(
            f"PLACEHOLDER{i}<".encode(), raw.encode() + b"<"
        )
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def test_xlsx_cells_with_escaped_lone_surrogates_or_only_nul_are_error_rows(predictor, tmp_path):
    source = tmp_path / "in.xlsx"
    _xlsx_with_raw_cells(source, [GOOD[0], "_xD800_abc", "_x0000__x0000_", "退款_x000D_太慢", GOOD[2]])
    label_file(predictor, source, tmp_path / "out.jsonl", text_column="反馈", id_column="编号")
    rows = read_rows(tmp_path / "out.jsonl")
    assert errors_by_row(rows) == {1: None, 2: "invalid_unicode", 3: "empty", 4: None, 5: None}
    assert rows[3]["反馈"] == "退款\r太慢"


def test_parquet_cells_with_invalid_utf8_or_only_nul_are_error_rows(predictor, tmp_path):
    source = tmp_path / "in.parquet"
    raw = [GOOD[0].encode(), b"\xed\xa0\x80abc", b"\x00\x00", "重复扣款".encode("gbk"), GOOD[2].encode()]
    texts = pa.array(raw, pa.binary()).view(pa.string())  # pyarrow writes the bytes as they are
    pq.write_table(pa.table({"id": [1, 2, 3, 4, 5], "text": texts, "门店": ["上海"] * 5}), source)
    label_file(predictor, source, tmp_path / "out.parquet")
    rows = read_rows(tmp_path / "out.parquet")
    assert errors_by_row(rows) == {1: None, 2: "invalid_encoding", 3: "empty", 4: "invalid_encoding", 5: None}
    assert rows[0]["门店"] == "上海" and rows[0]["needs"]


def test_an_xlsx_output_never_fails_on_control_characters(predictor, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "a\x01b", "text": "退款\x00太慢了", "备注": "\x07"}) + "\n", encoding="utf-8")
    label_file(predictor, source, tmp_path / "out.xlsx")
    (row,) = read_rows(tmp_path / "out.xlsx")
    assert row["id"] == "a\ufffdb" and row["备注"] == "\ufffd" and row["needs"]


def test_json_lines_too_deep_or_with_huge_numbers_are_error_rows(predictor, tmp_path):
    source = tmp_path / "in.jsonl"
    deep = '{"id": 2, "text": "好", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    nested = '{"id": 3, "text": "好", "x": ' + "[" * 80 + "]" * 80 + "}"
    huge = '{"id": 4, "text": "好", "n": ' + "9" * 5000 + "}"
    lines = [
        json.dumps({"id": 1, "text": GOOD[0]}, ensure_ascii=False),
        deep,
        nested,
        huge,
        '{"id": 5, "text": "好评"}',
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    label_file(predictor, source, tmp_path / "out.jsonl")
    rows = read_rows(tmp_path / "out.jsonl")
    assert errors_by_row(rows) == {1: None, 2: "unparseable", 3: "unparseable", 4: "unparseable", 5: None}
    assert "deeper than 64" in rows[2]["error"] and "nested too deeply to read" in rows[1]["error"]
    assert rows[3]["error"] == "not usable JSON: a number has more than 4,300 digits"


def test_a_json_line_naming_a_key_twice_is_an_error_row_not_its_last_text(predictor, tmp_path):
    source = tmp_path / "in.jsonl"
    twice = '{"id": 2, "text": "客服态度很好", "text": "退款三周没到账"}'
    surrogate = '{"id": 3, "text": "好", "\\ud800": 1, "\\ud800": 2}'
    lines = [json.dumps({"id": 1, "text": GOOD[0]}, ensure_ascii=False), twice, surrogate, '{"id": 4, "text": "好评"}']
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    label_file(predictor, source, tmp_path / "out.csv")
    rows = read_rows(tmp_path / "out.csv")
    assert errors_by_row(rows) == {1: None, 2: "unparseable", 3: "unparseable", 4: None}
    assert 'the key "text" appears twice in one object' in rows[1]["error"]
    assert 'key "\\ud800" appears twice' in rows[2]["error"]
