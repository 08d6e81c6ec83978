import json

import numpy as np
import pytest

from classifier.labels import text_key
from tests.conftest import toy_records, write_jsonl
from training.data import (
    DataError,
    conflict_notes,
    fingerprint,
    label_arrays,
    read_records,
    split_dataset,
    to_dataset,
)

GOOD = {"id": "a", "text": "好", "needs": ["surface"], "cause": "none"}


def assert_reported(path, count: int, *fragments: str) -> None:
    with pytest.raises(DataError) as info:
        read_records(path)
    message = str(info.value)
    assert f"{count} problem(s) in the labeled data" in message
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
                json.dumps({**GOOD, "id": "c", "text": "又一条"})[:-1] + ', "cause": "none"}',
            ]
        ),
        encoding="utf-8",
    )
    assert_reported(
        path,
        4,
        f"{path}:2: not valid JSON",
        f"{path}:3: cause",
        f"{path}:4: id 'a' already used at {path}:1",
        f'{path}:5: the key "cause" appears twice in one object',
    )


def test_json_python_cannot_hold_is_a_line_of_the_report_not_a_traceback(tmp_path):
    """A 5,000-digit id and 50,000 nested arrays made check-data and evaluate crash."""
    path = tmp_path / "huge.jsonl"
    huge = json.dumps({**GOOD, "id": "b"})[:-1] + ', "n": ' + "9" * 5000 + "}"
    path.write_text("\n".join([json.dumps(GOOD), huge, "[" * 50_000 + "]" * 50_000]), encoding="utf-8")
    assert_reported(
        path,
        2,
        f"{path}:2: not usable JSON: a number has more than 4,300 digits",
        f"{path}:3: not usable JSON: arrays or objects nested too deeply to read",
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
        f"{path}:3: text: text is blank",
        f"{path}:4: text: Input should be a valid string, unable to parse raw data as a unicode string",
    )


def test_a_file_saved_in_gbk_is_one_error_saying_how_to_fix_it_not_one_per_record(tmp_path):
    path = tmp_path / "from_excel.jsonl"
    lines = [json.dumps({**GOOD, "id": f"r{i}", "text": "坏了"}, ensure_ascii=False) for i in range(40)]
    path.write_bytes("\n".join(lines).encode("gbk") + b"\n")
    with pytest.raises(DataError) as info:
        read_records(path)
    message = str(info.value)
    assert message.startswith("1 problem(s) in the labeled data:") and f"{path}: not UTF-8 text" in message
    assert "iconv -f GB18030 -t UTF-8" in message and ":1:" not in message


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


def test_a_text_the_model_trains_on_never_sits_in_validation(tmp_path):
    records = toy_records(40)
    twins = [{**r, "id": r["id"] + "-twin", "text": f" {r['text']} "} for r in records[:40]]
    dataset = to_dataset(read_records(write_jsonl(tmp_path / "t.jsonl", records + twins)))
    split = split_dataset(dataset, 0.25, seed=3)
    trained = set(map(text_key, split.train["text"]))
    assert not [text for text in split.validation["text"] if text_key(text) in trained]
    assert len(split.train) + len(split.validation) == len(records) + len(twins)
    assert len(split.validation) < 0.25 * len(dataset)  # some twins were drawn into validation and moved


def test_a_lone_surrogate_in_any_field_is_refused_with_its_line(tmp_path):
    path = tmp_path / "odd.jsonl"
    lines = [
        json.dumps({**GOOD, "domain": "hotel\ud800"}),
        json.dumps({**GOOD, "id": "b", "genre": ["review", "\udfff"]}),
        json.dumps({**GOOD, "id": "c", "extra": {"k\ud801": 1}}),
        json.dumps({**GOOD, "id": "d", "domain": "酒店"}, ensure_ascii=False),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert_reported(
        path,
        3,
        f"{path}:1: domain has a lone surrogate (U+D800): not valid Unicode",
        f"{path}:2: genre has a lone surrogate (U+DFFF)",
        f"{path}:3: extra has a lone surrogate (U+D801)",
    )


def test_a_text_over_the_length_limit_is_refused_with_its_line(tmp_path):
    path = write_jsonl(tmp_path / "long.jsonl", [GOOD, {**GOOD, "id": "b", "text": "长" * 11}])
    assert [r.id for r in read_records(path, max_chars=11)] == ["a", "b"]
    with pytest.raises(
        DataError, match=rf"{path}:2: text has 11 characters, over the limit of 10 \(NEEDLENS_MAX_CHARS\)"
    ):
        read_records(path, max_chars=10)


def test_one_text_under_two_readings_is_named_by_its_ids(tmp_path):
    records = [
        GOOD,
        {**GOOD, "id": "b", "text": " 好 ", "needs": ["emotional"], "cause": "perception_mismatch"},
        {**GOOD, "id": "c", "text": "好"},  # the same reading again is no conflict
        {**GOOD, "id": "d", "text": "另一条"},
    ]
    notes = conflict_notes(read_records(write_jsonl(tmp_path / "t.jsonl", records)))
    assert notes[0].startswith("warning: 1 text(s) appear more than once with different labels")
    assert notes[1:] == ["  '好': a surface/none, b emotional/perception_mismatch, c surface/none"]
    assert conflict_notes(read_records(write_jsonl(tmp_path / "ok.jsonl", [GOOD, records[3]]))) == []


def test_a_cause_whose_validation_texts_all_repeat_training_texts_is_a_refusal(tmp_path):
    records = toy_records(10)
    growth = [r for r in records if r["cause"] == "none"]
    twins = [{**r, "id": r["id"] + "-twin"} for r in growth]  # every "none" text twice
    dataset = to_dataset(read_records(write_jsonl(tmp_path / "t.jsonl", records + twins)))
    with pytest.raises(DataError, match="every validation text of cause none is also a training text"):
        split_dataset(dataset, 0.25, seed=3)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (
            "text,needs,cause\n屏幕坏了,surface,system_error\n".encode(),
            "no line is a JSON record; labeled data is JSONL",
        ),
        ('{"id": "a", "text": "好", "needs": ["surface"], "cause": "none"}\n'.encode("utf-16"), "UTF-16 text"),
    ],
)
def test_a_file_with_no_json_line_is_one_problem_not_one_per_line(tmp_path, content, said):
    """A CSV given to evaluate listed "not valid JSON" line by line; a UTF-16 file, 64 lines of it."""
    path = tmp_path / "labels.jsonl"
    path.write_bytes(content * 30)
    assert_reported(path, 1, f"{path}: {said}")


def test_a_jsonl_file_whose_one_record_is_broken_keeps_its_line_error(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(GOOD)[:-1] + ",}\n", encoding="utf-8")
    assert_reported(path, 1, f"{path}:1: not valid JSON")
