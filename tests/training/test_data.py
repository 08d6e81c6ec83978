import json

import numpy as np
import pytest

from tests.conftest import toy_records, write_jsonl
from training.data import DataError, fingerprint, label_arrays, read_records, split_dataset, to_dataset

GOOD = {"id": "a", "text": "好", "needs": ["surface"], "cause": "none"}


def assert_reported(path, count: int, *fragments: str) -> None:
    with pytest.raises(DataError) as info:
        read_records(path)
    message = str(info.value)
    assert f"{count} invalid record(s)" in message
    for fragment in fragments:
        assert fragment in message


def test_all_problems_are_reported_with_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps(GOOD),
                "{not json",
                json.dumps({**GOOD, "id": "b", "cause": "oops"}),
                json.dumps({**GOOD, "text": "另一条"}),
            ]
        ),
        encoding="utf-8",
    )
    assert_reported(
        path, 3, f"{path}:2: not valid JSON", f"{path}:3: cause", f"{path}:4: id 'a' already used at {path}:1"
    )


def test_undecodable_lines_and_unreadable_texts_are_reported_with_the_rest(tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps(GOOD).encode(),
        json.dumps({**GOOD, "id": "b", "text": "坏了"}, ensure_ascii=False).encode("gbk"),
        json.dumps({**GOOD, "id": "c", "text": "\x00\x00"}).encode(),
        json.dumps({**GOOD, "id": "d", "text": "好\ud800"}).encode(),
        json.dumps({**GOOD, "id": "e", "needs": "emotional|surface"}).encode(),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert_reported(
        path,
        3,
        f"{path}:2: not UTF-8 text",
        f"{path}:3: text: Value error, text is blank",
        f"{path}:4: text: Input should be a valid string, unable to parse raw data as a unicode string",
    )


def test_a_utf8_bom_is_read_past_as_notepad_writes_it(tmp_path):
    path = tmp_path / "notepad.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n")
    assert [r.id for r in read_records(path)] == ["a"]


def test_directory_reads_every_jsonl_file(tmp_path):
    records = toy_records(5)
    write_jsonl(tmp_path / "a.jsonl", records[:7])
    write_jsonl(tmp_path / "b.jsonl", records[7:])
    assert len(read_records(tmp_path)) == len(records)


def test_missing_path_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_records(tmp_path / "nope.jsonl")


def test_fingerprint_ignores_order_but_not_labels(tmp_path):
    records = read_records(write_jsonl(tmp_path / "t.jsonl", toy_records(5)))
    assert fingerprint(records) == fingerprint(list(reversed(records)))
    changed = [records[0].model_copy(update={"cause": "none" if records[0].cause != "none" else "system_error"})]
    assert fingerprint(changed + records[1:]) != fingerprint(records)


def test_a_cause_held_by_one_text_is_a_refusal_naming_it_not_a_traceback(tmp_path):
    records = [r for r in toy_records(10) if r["cause"] != "none"]
    records.append(next(r for r in toy_records(10) if r["cause"] == "none"))
    dataset = to_dataset(read_records(write_jsonl(tmp_path / "t.jsonl", records)))
    with pytest.raises(DataError, match="hold only one text of cause none: a validation split by cause needs"):
        split_dataset(dataset, 0.25, seed=3)
    two_each = [
        next(r for r in toy_records(10) if r["cause"] == c) for c in ("system_error", "perception_mismatch", "none")
    ]
    small = to_dataset(
        read_records(
            write_jsonl(
                tmp_path / "s.jsonl",
                [*two_each, *[{**r, "id": r["id"] + "b", "text": r["text"] + "。"} for r in two_each]],
            )
        )
    )
    with pytest.raises(DataError, match=r"\(6\) are too few to hold 15% out for validation with every cause"):
        split_dataset(small, 0.15, seed=3)


def test_split_is_deterministic_and_stratified(tmp_path):
    dataset = to_dataset(read_records(write_jsonl(tmp_path / "t.jsonl", toy_records(40))))
    first = split_dataset(dataset, 0.25, seed=3)
    again = split_dataset(dataset, 0.25, seed=3)
    other = split_dataset(dataset, 0.25, seed=4)
    assert first.validation["id"][:] == again.validation["id"][:]
    assert first.validation["id"][:] != other.validation["id"][:]
    _, causes = label_arrays(first.validation)
    assert np.bincount(causes, minlength=3).tolist() == [10, 10, 10]
    assert not set(first.validation["id"][:]) & set(first.train["id"][:])
