"""Reading CSV/TSV strictly and JSONL columns whole: one broken row is one error row, never a lost
or altered neighbour, and resuming numbers rows as the first pass did."""

import json

import pytest

from labeling.tables import (
    MAX_CSV_RESTARTS,
    PROBLEM,
    TableError,
    count_rows,
    iter_rows,
    read_columns,
    table_encoding,
)


def texts_and_problems(path, skip=0):
    return [row[PROBLEM].code if PROBLEM in row else row["text"] for row in iter_rows(path, skip=skip)]


@pytest.mark.parametrize(
    ("encoding", "bom", "end"),
    [("utf-8", False, "\n"), ("utf-8", True, "\r\n"), ("gb18030", False, "\r"), ("gb18030", False, "\r\n")],
)
def test_an_unclosed_quote_costs_its_row_and_resume_numbers_rows_the_same(tmp_path, encoding, bom, end):
    lines = ["id,text", "1,快递太慢", '2,"他说不错', "3,客服态度很差", '4,"多行', '文本"', "5,师傅很耐心"]
    path = tmp_path / "in.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + end.join(lines).encode(encoding) + end.encode())
    expected = ["快递太慢", "unparseable", "客服态度很差", f"多行{end}文本", "师傅很耐心"]
    assert texts_and_problems(path) == expected
    assert count_rows(path) == 5
    for skip in range(6):
        assert texts_and_problems(path, skip) == expected[skip:]


def test_bytes_after_a_restart_are_still_reported_at_their_offset(tmp_path):
    path = tmp_path / "in.csv"
    before_bad = 'id,text\n1,"开了没关\n2,ok\n3,'.encode()
    path.write_bytes(before_bad + "坏".encode("gbk") + b"\n")
    rows = list(iter_rows(path, encoding=table_encoding(path, "utf-8")))
    assert [r.get(PROBLEM) and r[PROBLEM].code for r in rows] == ["unparseable", None, "invalid_encoding"]
    assert f"at byte {len(before_bad)}" in rows[2][PROBLEM].message


def test_a_multi_line_field_with_stray_text_says_which_lines_are_read_again(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text('id,text\n1,"第一行\n第二行,很好"，谢谢\n2,好\n', encoding="utf-8")
    rows = list(iter_rows(path))
    assert "the next 1 line(s) are read again" in rows[0][PROBLEM].message
    assert [r.get("text") for r in rows[1:]] == ['很好"，谢谢', "好"]


def test_text_after_a_closing_quote_is_an_error_not_a_changed_text(tmp_path):
    path = tmp_path / "in.tsv"
    path.write_text('id\ttext\n1\t"好评"，快递很快\n2\t好\n', encoding="utf-8")
    assert texts_and_problems(path) == ["unparseable", "好"]


def test_a_file_full_of_unclosed_quotes_is_refused_not_read_again_and_again(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,text\n" + "".join(f'{i}","备注\n' for i in range(MAX_CSV_RESTARTS + 5)), encoding="utf-8")
    with pytest.raises(TableError, match="not quoted as CSV"):
        list(iter_rows(path))


def test_a_header_that_breaks_quoting_is_refused_when_columns_are_read(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text('id,"text" \n1,好\n', encoding="utf-8")
    with pytest.raises(TableError, match="header row is not valid CSV"):
        read_columns(path)


def test_jsonl_columns_are_every_readable_objects_keys_and_a_bad_key_is_one_error_row(tmp_path):
    path = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"id": 1}),
        json.dumps({"id": 2, "text": "好", "渠道": "app"}, ensure_ascii=False),
        json.dumps({"id": 3, "text": "好", "\ud800": "x"}),
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode() + '{"id": 4, "字段": 1}\n'.encode("gbk"))
    utf8 = table_encoding(path, "utf-8")
    assert read_columns(path, utf8) == ["id", "text", "渠道"]
    codes = [row[PROBLEM].code if PROBLEM in row else None for row in iter_rows(path, encoding=utf8)]
    assert codes == [None, None, "invalid_unicode", "invalid_encoding"]
