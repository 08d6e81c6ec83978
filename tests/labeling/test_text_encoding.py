"""Which encoding a table is read in: UTF-8, UTF-8 with BOM and GB18030 found alone; anything else named."""

import pytest

from labeling.tables import TableError, iter_rows, table_encoding
from labeling.text_encoding import TextLines, resolve_encoding

ROWS = "id,text\n" + "".join(f"{i},屏幕坏了要求换货，客服一直没人理我{i}\n" for i in range(40))


def write(tmp_path, data: bytes, name="in.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "name", "bom"),
    [
        (ROWS.encode("utf-8"), "utf-8", False),
        (b"\xef\xbb\xbf" + ROWS.encode("utf-8"), "utf-8", True),
        (ROWS.encode("gb18030"), "gb18030", False),
        (ROWS.encode("gbk"), "gb18030", False),
        (b"id,text\n1,hello\n", "utf-8", False),
        ("id,text\n1,退款\n".encode("gbk"), "gb18030", False),  # too short for a confident guess
    ],
)
def test_auto_detects_utf8_the_bom_and_gb18030(tmp_path, data, name, bom):
    encoding = resolve_encoding(write(tmp_path, data))
    assert (encoding.name, encoding.bom) == (name, bom)
    assert encoding.how.startswith("detected")


def test_a_few_gbk_rows_in_a_utf8_file_keep_it_utf8(tmp_path):
    data = ROWS.encode("utf-8") + "41,重复扣款请退回\n".encode("gbk") + ROWS.encode("utf-8")[8:]
    assert resolve_encoding(write(tmp_path, data)).name == "utf-8"


def test_big5_utf16_and_unknown_codecs_are_refused_with_what_to_pass(tmp_path):
    big5 = "id,text\n" + "".join(f"{i},螢幕壞了要求換貨，客服一直沒人理我\n" for i in range(40))
    with pytest.raises(TableError, match=r"looks like big5.*--encoding big5"):
        table_encoding(write(tmp_path, big5.encode("big5")))
    with pytest.raises(TableError, match=r"pass --encoding with its Python codec name") as refused:
        table_encoding(write(tmp_path, bytes(range(128, 256)) * 4))  # no detector names these bytes
    assert "--encoding unknown" not in str(refused.value)
    with pytest.raises(TableError, match="UTF-16"):
        table_encoding(write(tmp_path, ROWS.encode("utf-16")))
    with pytest.raises(TableError, match="unknown encoding 'klingon'"):
        table_encoding(write(tmp_path, b"id,text\n"), "klingon")
    with pytest.raises(TableError, match="not supported for tables"):
        table_encoding(write(tmp_path, b"id,text\n"), "utf-16")


def test_a_given_encoding_is_used_and_xlsx_has_none(tmp_path):
    path = write(tmp_path, ROWS.encode("utf-8"))
    assert table_encoding(path, "GBK").name == "gbk"
    assert table_encoding(path, "utf-8-sig").name == "utf-8"
    assert table_encoding(write(tmp_path, b"", "in.xlsx"), "gb18030") is None


def test_lines_track_the_byte_offset_of_the_first_bad_byte_and_old_mac_line_ends(tmp_path):
    path = write(tmp_path, "好\r".encode() + b"ab\xffc\r\nok\n")
    lines = TextLines(path, resolve_encoding(path, "utf-8"))
    seen = []
    for line in lines:
        seen.append((line, lines.bad_offset))
        lines.mark()
    assert [offset for _, offset in seen] == [None, 6, None]
    assert seen[0][0] == "好\r" and seen[2][0] == "ok\n"


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_gb18030_rows_read_the_same_as_their_utf8_twin(tmp_path, suffix):
    rows = {
        ".csv": ROWS,
        ".tsv": ROWS.replace(",", "\t"),
        ".jsonl": "".join(f'{{"id": {i}, "text": "客服一直没人理我{i}"}}\n' for i in range(40)),
    }[suffix]
    utf8 = list(iter_rows(write(tmp_path, rows.encode("utf-8"), "a" + suffix)))
    gb = list(iter_rows(write(tmp_path, rows.encode("gb18030"), "b" + suffix)))
    assert gb == utf8 and len(gb) == 40


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
@pytest.mark.parametrize("lead", ["", "a", "ab"])  # the sample's end falls in each byte of a character
def test_a_first_line_longer_than_the_sample_is_still_its_encoding(tmp_path, encoding, lead):
    first = '{"text": "' + lead + "长" * 400_000 + '"}\n'  # over 1 MiB in either encoding
    data = (first + '{"text": "下一行正常"}\n').encode(encoding)
    assert resolve_encoding(write(tmp_path, data, "in.jsonl")).name == encoding
