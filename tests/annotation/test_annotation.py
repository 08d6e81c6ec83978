"""Annotation plumbing: choosing texts, checking an annotator's file, merging readings by the protocol."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from annotation import merge as merge_module
from annotation import recheck
from annotation.chunks import read_chunk, write_chunks
from annotation.double import write_reading_records
from annotation.merge import MergeError, merge
from annotation.sampling import PoolText, StratifiedRound, select
from annotation.select import excluded_from, suggested_texts
from annotation.validate import problems
from annotation.written import merge_written, split_for_blind_reading
from labeling.tables import write_table
from tests.conftest import write_jsonl


def pool(n: int = 400) -> list[PoolText]:
    texts = []
    for i in range(n):
        domain = ("hotel", "books")[i % 2]
        texts.append(PoolText(f"p{i:06d}", "好" * (5 + i % 40), domain, "corpus", i, sentiment=int(i % 4 < 2)))
    return texts


def test_selection_meets_quotas_prefers_negatives_and_repeats():
    chosen = select(pool(), {"hotel": 40, "books": 30}, seed=1, negative_weight=3.0)
    assert Counter(t.domain for t in chosen) == {"hotel": 40, "books": 30}
    unweighted = select(pool(), {"hotel": 40, "books": 30}, seed=1, negative_weight=1.0)
    negative_share = sum(t.sentiment == 0 for t in chosen) / len(chosen)
    assert negative_share > 0.65  # the pool is half negative; weight 3 draws about three in four
    assert negative_share > sum(t.sentiment == 0 for t in unweighted) / len(unweighted)
    assert [t.pool_id for t in chosen] == [t.pool_id for t in select(pool(), {"hotel": 40, "books": 30}, seed=1)]
    excluded = select(pool(), {"hotel": 40}, seed=1, exclude={t.pool_id for t in chosen})
    assert not {t.pool_id for t in excluded} & {t.pool_id for t in chosen}


def test_a_round_drawn_for_a_model_leaves_out_what_it_learned_and_what_was_chosen_before(tmp_path):
    (tmp_path / "chunks").mkdir()
    first = pool()[:5]
    write_jsonl(
        tmp_path / "chunks" / "c01.jsonl", [{"id": t.pool_id, "domain": t.domain, "text": t.text} for t in first]
    )
    learned = [t.pool_id for t in pool()[5:9]]
    (tmp_path / "learned.txt").write_text("\n".join(learned) + "\n", encoding="utf-8")
    plain = StratifiedRound({"hotel": 40}, seed=1, first_chunk=2)
    for_model = StratifiedRound({"hotel": 40}, seed=1, first_chunk=2, learned_ids="learned.txt")
    assert excluded_from(plain, tmp_path) == {t.pool_id for t in first}
    assert excluded_from(for_model, tmp_path) == {t.pool_id for t in first} | set(learned)


def test_a_suggest_round_is_shuffled_into_its_chunks_reproducibly(tmp_path):
    ids_file = tmp_path / "suggested_ids.round9.txt"
    ranked = [f"p{i:06d}" for i in range(0, 300, 3)]
    ids_file.write_text("\n".join(ranked) + "\n", encoding="utf-8")
    chunked = suggested_texts(pool(), ids_file)
    assert sorted(t.pool_id for t in chunked) == sorted(ranked)  # every suggested text, once
    assert [t.pool_id for t in chunked] != ranked  # mixed, so no chunk holds only the most uncertain
    assert chunked == suggested_texts(pool(), ids_file)
    ids_file.write_text("p999999\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="not in the pool"):
        suggested_texts(pool(), ids_file)


def test_chunks_carry_no_hint_of_a_label(tmp_path):
    paths = write_chunks(pool(25), tmp_path, size=10, prefix="c")
    assert [p.name for p in paths] == ["c01.jsonl", "c02.jsonl", "c03.jsonl"]
    rows = read_chunk(paths[0])
    assert len(rows) == 10 and set(rows[0]) == {"id", "domain", "text"}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"id": "a", "needs": ["surface"], "cause": "none", "hard": false', "not JSON"),
        ('{"id": "a", "needs": ["surface"], "cause": "none"}', "fields must be exactly"),
        ('{"id": "zzz", "needs": ["surface"], "cause": "none", "hard": false}', "not in the chunk"),
        ('{"id": "a", "needs": [], "cause": "none", "hard": false}', "non-empty list"),
        ('{"id": "a", "needs": ["emotional", "surface"], "cause": "none", "hard": false}', "order"),
        ('{"id": "a", "needs": ["surface"], "cause": "系统误差", "hard": false}', "cause must be one of"),
        ('{"id": "a", "needs": ["surface"], "cause": "none", "hard": "no"}', "hard must be"),
        ('["a"]', "fields must be exactly"),
    ],
)
def test_bad_annotation_lines_are_named(line, expected):
    found = problems(["a"], [line])
    assert any(expected in problem and "line 1" in problem for problem in found), found


def test_a_complete_legal_file_passes_and_duplicates_or_gaps_do_not():
    good = '{"id": "a", "needs": ["surface", "growth"], "cause": "none", "hard": false}'
    assert problems(["a"], [good]) == []
    assert any("twice" in p for p in problems(["a"], [good, good]))
    assert any("no line yet" in p for p in problems(["a", "b"], [good]))


def write_lines(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def workspace(tmp_path) -> tuple[Path, dict[str, PoolText]]:
    texts = pool(4)
    (tmp_path / "chunks").mkdir()
    (tmp_path / "raw").mkdir()
    write_chunks(texts[:2], tmp_path / "chunks", size=2, prefix="c")
    write_chunks(texts[2:], tmp_path / "chunks", size=2, prefix="c", start=2)
    (tmp_path / "suggested_ids.txt").write_text(f"{texts[2].pool_id}\n{texts[3].pool_id}\n")

    def reading(pool_id: str, cause: str) -> dict:
        return {"id": pool_id, "needs": ["surface"], "cause": cause, "hard": False}

    ids = [t.pool_id for t in texts]
    write_lines(tmp_path / "raw" / "c01.A.jsonl", [reading(ids[0], "none"), reading(ids[1], "system_error")])
    write_lines(tmp_path / "raw" / "c01.B.jsonl", [reading(ids[0], "none"), reading(ids[1], "perception_mismatch")])
    write_lines(tmp_path / "raw" / "c02.A.jsonl", [reading(ids[2], "none"), reading(ids[3], "none")])
    return tmp_path, {t.pool_id: t for t in texts}


def test_an_unadjudicated_disagreement_stops_the_merge(workspace):
    directory, texts = workspace
    with pytest.raises(MergeError, match="nobody adjudicated"):
        merge(directory, texts)


def test_a_folder_without_chunks_stops_the_merge_before_the_corpus_is_touched(tmp_path, monkeypatch):
    corpus = tmp_path / "reviews.jsonl"
    corpus.write_text('{"id": "real-p1"}\n', encoding="utf-8")
    monkeypatch.setattr(merge_module, "CORPUS_FILE", corpus)
    monkeypatch.setattr(merge_module, "read_pool", lambda path: [])
    assert merge_module.main([str(tmp_path / "mistyped")]) == 1
    assert corpus.read_text(encoding="utf-8") == '{"id": "real-p1"}\n'
    with pytest.raises(SystemExit):
        merge_module.main(["--help"])
    assert corpus.read_text(encoding="utf-8") == '{"id": "real-p1"}\n'


def test_a_broken_reading_stops_the_merge_in_one_line_before_the_corpus_is_touched(workspace, monkeypatch, capsys):
    directory, texts = workspace
    ids = list(texts)
    write_lines(directory / "adjudication.jsonl", [{"id": ids[1], "needs": ["surface"], "cause": "none", "rule": "r"}])
    corpus = directory / "reviews.jsonl"
    corpus.write_text('{"id": "real-p1"}\n', encoding="utf-8")
    monkeypatch.setattr(merge_module, "CORPUS_FILE", corpus)
    monkeypatch.setattr(merge_module, "read_pool", lambda path: list(texts.values()))
    (directory / "raw" / "c02.A.jsonl").write_bytes(b'{"id": "p000002", "needs": \n')
    assert merge_module.main([str(directory)]) == 1
    assert "c02.A.jsonl: line 1: not JSON" in capsys.readouterr().err
    assert corpus.read_text(encoding="utf-8") == '{"id": "real-p1"}\n'


def test_merge_keeps_agreement_adjudication_and_rereads_with_provenance(workspace):
    directory, texts = workspace
    ids = list(texts)
    decision = {"id": ids[1], "needs": ["surface", "emotional"], "cause": "system_error", "rule": "fault wins"}
    write_lines(directory / "adjudication.jsonl", [decision])
    (directory / "audit").mkdir()
    write_lines(
        directory / "audit" / "reread1.jsonl", [{"id": ids[3], "needs": ["surface"], "cause": "perception_mismatch"}]
    )
    records = {r["pool_id"]: r for r in merge(directory, texts).training}
    assert records[ids[0]]["annotator"] == "assistant:c01.A+B"
    assert (records[ids[1]]["needs"], records[ids[1]]["cause"]) == (["surface", "emotional"], "system_error")
    assert records[ids[1]]["annotator"] == "adjudicated:c01"
    assert records[ids[3]]["cause"] == "perception_mismatch" and records[ids[3]]["annotator"].endswith("+reread")
    assert records[ids[2]]["selection"] == "suggest" and records[ids[0]]["selection"] == "stratified"
    for record in records.values():
        assert record["text"] == texts[record["pool_id"]].text
        assert {"source", "source_row", "pool_id", "annotator", "domain"} <= set(record)


def test_a_later_reread_sheet_wins_by_number_not_by_name(workspace):
    directory, texts = workspace
    ids = list(texts)
    write_lines(directory / "adjudication.jsonl", [{"id": ids[1], "needs": ["surface"], "cause": "none", "rule": "r"}])
    (directory / "audit").mkdir()
    earlier = {"id": ids[3], "needs": ["surface"], "cause": "perception_mismatch"}
    later = {"id": ids[3], "needs": ["surface", "emotional"], "cause": "none"}
    write_lines(directory / "audit" / "reread3.jsonl", [earlier])
    write_lines(directory / "audit" / "reread29.jsonl", [later])
    record = next(r for r in merge(directory, texts).training if r["pool_id"] == ids[3])
    assert (record["needs"], record["cause"]) == (["surface", "emotional"], "none")


def test_a_reread_undone_by_a_later_one_still_marks_the_text_hard(workspace):
    directory, texts = workspace
    ids = list(texts)
    write_lines(directory / "adjudication.jsonl", [{"id": ids[1], "needs": ["surface"], "cause": "none", "rule": "r"}])
    (directory / "audit").mkdir()
    write_lines(directory / "audit" / "reread3.jsonl", [{"id": ids[3], "needs": ["surface"], "cause": "system_error"}])
    write_lines(directory / "audit" / "reread29.jsonl", [{"id": ids[3], "needs": ["surface"], "cause": "none"}])
    record = next(r for r in merge(directory, texts).training if r["pool_id"] == ids[3])
    assert (record["needs"], record["cause"]) == (["surface"], "none")
    assert record["hard"] is True and record["annotator"] == "assistant:c02.A+reread"


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["reread.jsonl"], "rereadN"),
        (["reread2.bak.jsonl"], "rereadN"),
        (["reread3.jsonl", "reread03.jsonl"], "numbered 3"),
    ],
)
def test_reread_sheets_without_a_unique_number_stop_the_merge(workspace, names, expected):
    directory, texts = workspace
    (directory / "audit").mkdir()
    for name in names:
        write_lines(directory / "audit" / name, [])
    with pytest.raises(MergeError, match=expected):
        merge(directory, texts)


def test_held_out_chunks_go_to_their_own_file_and_never_into_the_training_corpus(workspace, monkeypatch):
    directory, texts = workspace
    ids = list(texts)
    write_lines(directory / "adjudication.jsonl", [{"id": ids[1], "needs": ["surface"], "cause": "none", "rule": "r"}])
    (directory / "held_out.txt").write_text("# kept out of training\nc02  # round two\n\n", encoding="utf-8")
    assert merge_module.held_out_chunks(directory) == {"c02"}
    corpus, held = directory / "real" / "reviews.jsonl", directory / "heldout" / "reviews.jsonl"
    monkeypatch.setattr(merge_module, "CORPUS_FILE", corpus)
    monkeypatch.setattr(merge_module, "HELD_OUT_FILE", held)
    monkeypatch.setattr(merge_module, "read_pool", lambda path: list(texts.values()))
    assert merge_module.main([str(directory)]) == 0
    trained = [json.loads(line)["pool_id"] for line in corpus.read_text(encoding="utf-8").splitlines()]
    kept_out = [json.loads(line)["pool_id"] for line in held.read_text(encoding="utf-8").splitlines()]
    assert (sorted(trained), sorted(kept_out)) == (sorted(ids[:2]), sorted(ids[2:]))

    (directory / "held_out.txt").write_text("# none any more\n", encoding="utf-8")
    assert merge_module.main([str(directory)]) == 0
    assert not held.exists() and len(corpus.read_text(encoding="utf-8").splitlines()) == len(ids)

    (directory / "held_out.txt").write_text("c02\nc2\n", encoding="utf-8")
    with pytest.raises(MergeError, match="no such chunk: c2"):
        merge(directory, texts, merge_module.held_out_chunks(directory))


def test_a_later_suggest_round_marks_its_chunks_as_suggested(workspace):
    directory, texts = workspace
    ids = list(texts)
    write_lines(directory / "adjudication.jsonl", [{"id": ids[1], "needs": ["surface"], "cause": "none", "rule": "r"}])
    write_chunks([PoolText("p900000", "好" * 9, "hotel", "corpus", 900, 0)], directory / "chunks", 1, "c", start=3)
    write_lines(
        directory / "raw" / "c03.A.jsonl", [{"id": "p900000", "needs": ["surface"], "cause": "none", "hard": False}]
    )
    (directory / "suggested_ids.round2.txt").write_text("p900000\n")
    texts["p900000"] = PoolText("p900000", "好" * 9, "hotel", "corpus", 900, 0)
    records = {r["pool_id"]: r for r in merge(directory, texts).training}
    assert records["p900000"]["selection"] == "suggest"
    assert records[ids[0]]["selection"] == "stratified"


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_double_sheet_of_one_round_leaves_the_other_chunks_out(workspace, tmp_path_factory):
    directory, _ = workspace
    write_chunks(pool(2), directory / "chunks", 2, "c", start=9)
    first, second = pool(2)[0].pool_id, pool(2)[1].pool_id
    write_lines(
        directory / "raw" / "c09.A.jsonl",
        [
            {"id": first, "needs": ["surface"], "cause": "none", "hard": False},
            {"id": second, "needs": ["surface"], "cause": "none", "hard": False},
        ],
    )
    write_lines(
        directory / "raw" / "c09.B.jsonl",
        [
            {"id": first, "needs": ["surface"], "cause": "none", "hard": False},
            {"id": second, "needs": ["surface", "emotional"], "cause": "none", "hard": False},
        ],
    )
    everything = tmp_path_factory.mktemp("all")
    one_round = tmp_path_factory.mktemp("round")
    write_reading_records(directory, everything)
    write_reading_records(directory, one_round, only=["c09"])
    assert line_count(everything / "A.jsonl") == 4 and line_count(one_round / "A.jsonl") == 2
    assert line_count(everything / "disagreements.jsonl") == 2
    assert [json.loads(line)["id"] for line in (one_round / "disagreements.jsonl").read_text().splitlines()] == [second]


def written_round(tmp_path: Path) -> Path:
    """Two written hotel texts: the second reader agrees on the first and not on the second."""
    written = [
        {
            "id": "ht-0001",
            "text": "房间很干净",
            "needs": ["surface"],
            "cause": "none",
            "source": "needlens-team",
            "domain": "hotel",
            "genre": "review",
        },
        {
            "id": "ht-0002",
            "text": "空调坏了也没人来修，说好的回电呢",
            "needs": ["surface"],
            "cause": "system_error",
            "source": "needlens-team",
            "domain": "hotel",
            "genre": "complaint",
        },
    ]
    (tmp_path / "written").mkdir()
    (tmp_path / "raw").mkdir()
    write_lines(tmp_path / "written" / "hotel.jsonl", written)
    write_lines(
        tmp_path / "raw" / "hotel.B.jsonl",
        [
            {"id": "ht-0001", "needs": ["surface"], "cause": "none", "hard": False},
            {"id": "ht-0002", "needs": ["surface", "emotional"], "cause": "system_error", "hard": False},
        ],
    )
    return tmp_path


def test_a_written_text_keeps_agreed_labels_and_takes_the_adjudicators_otherwise(tmp_path):
    round_dir = written_round(tmp_path)
    with pytest.raises(MergeError, match="ht-0002"):
        merge_written(round_dir)
    decision = {"id": "ht-0002", "needs": ["surface", "emotional"], "cause": "system_error", "rule": "回电 promised"}
    write_lines(round_dir / "adjudication.jsonl", [decision])
    agreed, adjudicated = merge_written(round_dir)["hotel"]
    assert (agreed["needs"], agreed["cause"], agreed.get("hard")) == (["surface"], "none", None)
    assert (adjudicated["needs"], adjudicated["hard"]) == (["surface", "emotional"], True)
    assert adjudicated["text"] == "空调坏了也没人来修，说好的回电呢" and adjudicated["genre"] == "complaint"


def test_a_written_text_the_second_reader_skipped_stops_the_merge(tmp_path):
    round_dir = written_round(tmp_path)
    write_lines(round_dir / "raw" / "hotel.B.jsonl", [{"id": "ht-0001", "needs": ["surface"], "cause": "none"}])
    with pytest.raises(MergeError, match="no reading of ht-0002"):
        merge_written(round_dir)


def test_a_written_round_splits_into_a_label_free_chunk_and_the_writers_reading(tmp_path):
    round_dir = written_round(tmp_path)
    (chunk,) = split_for_blind_reading(round_dir)
    assert [set(row) for row in read_chunk(chunk)] == [{"id", "domain", "text"}] * 2
    first = (round_dir / "raw" / "hotel.A.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(first[1]) == {"id": "ht-0002", "needs": ["surface"], "cause": "system_error", "hard": False}


@pytest.fixture
def merged(workspace, monkeypatch) -> tuple[Path, list[str]]:
    """The workspace with its one disagreement adjudicated, so it merges; c01 was read twice, c02 once."""
    directory, texts = workspace
    ids = list(texts)
    write_lines(directory / "adjudication.jsonl", [{"id": ids[1], "needs": ["surface"], "cause": "none", "rule": "r"}])
    monkeypatch.setattr(recheck, "read_pool", lambda path: list(texts.values()))
    return directory, ids


def audit_args(directory: Path, audit_file: Path) -> list[str]:
    return [
        "--annotation-dir",
        str(directory),
        "audit",
        str(audit_file),
        "--chunks",
        "c02",
        "--sheet",
        "7",
        "--round",
        "2",
    ]


def test_the_audit_sheet_holds_the_rounds_flagged_texts_with_their_current_labels(merged, tmp_path_factory, capsys):
    directory, ids = merged
    (directory / "audit").mkdir()
    write_lines(directory / "audit" / "reread1.jsonl", [{"id": ids[3], "needs": ["surface"], "cause": "system_error"}])
    audit_file = tmp_path_factory.mktemp("audit") / "audit.csv"
    flagged = [f"real-{ids[3]}", f"real-{ids[0]}", "seed-hotel-001"]  # this round's, another round's, a seed record
    write_table([{"id": i, "文本": "好"} for i in flagged], audit_file, {"id": "string", "文本": "string"})
    assert recheck.main(audit_args(directory, audit_file)) == 0
    assert (directory / "audit" / "flagged_ids.round2.txt").read_text(encoding="utf-8") == f"{ids[3]}\n"
    assert read_chunk(directory / "audit" / "sheet7.jsonl") == [
        {"id": ids[3], "domain": "books", "text": "好" * 8, "current": {"needs": ["surface"], "cause": "system_error"}}
    ]
    sheet = (directory / "audit" / "sheet7.jsonl").read_bytes()
    assert recheck.main(audit_args(directory, audit_file)) == 1  # a sheet handed to a re-reader is never rewritten
    assert "flagged_ids.round2.txt exists" in capsys.readouterr().err
    assert (directory / "audit" / "sheet7.jsonl").read_bytes() == sheet


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"id": "real-p000003"}\n{"id": \n', "row 2: not valid JSON"),
        (b'{"id": "real-p000003"}\n{"text": "\\u0000"}\n', "row 2: no id"),
        (b'{"text": "no id column"}\n', "no id column"),
    ],
)
def test_an_audit_file_the_sheet_cannot_trust_stops_it_naming_the_row(
    merged, tmp_path_factory, capsys, content, expected
):
    directory, _ = merged
    audit_file = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    audit_file.write_bytes(content)
    assert recheck.main(audit_args(directory, audit_file)) == 1
    assert expected in capsys.readouterr().err
    assert not (directory / "audit" / "sheet7.jsonl").exists()


def test_an_audit_file_saved_as_gbk_with_a_chinese_header_is_read(merged, tmp_path_factory):
    directory, ids = merged
    audit_file = tmp_path_factory.mktemp("audit") / "audit.csv"
    audit_file.write_bytes(f"文本,id\n差评,real-{ids[2]}\n".encode("gbk"))
    assert recheck.main(audit_args(directory, audit_file)) == 0
    assert (directory / "audit" / "flagged_ids.round2.txt").read_text(encoding="utf-8") == f"{ids[2]}\n"


@pytest.mark.parametrize(("name", "expected"), [("c2", "no such chunk"), ("w01", "not a chunk name")])
def test_a_mistyped_chunk_stops_the_fresh_sample_rather_than_shrinking_the_round(merged, capsys, name, expected):
    directory, _ = merged
    (directory / "chunks" / "w01.jsonl").write_text("", encoding="utf-8")  # not a chunk the merge reads
    args = ["--annotation-dir", str(directory), "fresh", "--chunks", "c02", name, "--round", "2"]
    assert recheck.main(args) == 1
    assert expected in capsys.readouterr().err and not (directory / "fresh").exists()


@pytest.mark.parametrize(
    ("line", "expected"), [("{", "line 2: not JSON"), ('{"text": "no id"}', "line 2: not a JSON object with an id")]
)
def test_a_broken_line_in_a_trail_file_is_named_by_file_and_line(merged, capsys, line, expected):
    directory, _ = merged
    chunk = directory / "chunks" / "c02.jsonl"
    chunk.write_text(chunk.read_text(encoding="utf-8").splitlines()[0] + "\n" + line + "\n", encoding="utf-8")
    assert recheck.main(["--annotation-dir", str(directory), "fresh", "--chunks", "c02", "--round", "2"]) == 1
    assert f"c02.jsonl: {expected}" in capsys.readouterr().err


def test_the_fresh_sample_is_seeded_by_the_round_and_drawn_from_texts_read_once(merged):
    directory, ids = merged
    write_chunks(pool(30)[10:], directory / "chunks", 20, "c", start=3)
    write_lines(
        directory / "raw" / "c03.A.jsonl",
        [{"id": t.pool_id, "needs": ["surface"], "cause": "none", "hard": False} for t in pool(30)[10:]],
    )
    chunks = recheck.round_chunks(directory, ["c01", "c02", "c03"])
    sample = recheck.fresh_sample(directory, chunks, seed=3, size=8)
    assert [row["id"] for row in sample] == sorted(row["id"] for row in sample)
    assert not {ids[0], ids[1]} & {row["id"] for row in sample}  # c01 has a second reading
    assert sample == recheck.fresh_sample(directory, chunks, seed=3, size=8)
    assert sample != recheck.fresh_sample(directory, chunks, seed=4, size=8)
    assert all(set(row) == {"id", "domain", "text"} for row in sample)  # nothing that hints at a label
    with pytest.raises(MergeError, match="hold 22 texts, fewer than the 23"):
        recheck.fresh_sample(directory, chunks, seed=3, size=23)


def test_the_fresh_reading_is_measured_against_the_labels_after_the_audit(merged, capsys):
    directory, ids = merged
    (directory / "audit").mkdir()
    write_lines(
        directory / "audit" / "reread1.jsonl", [{"id": ids[3], "needs": ["surface", "emotional"], "cause": "none"}]
    )
    files = recheck.FreshFiles.of(directory, 2)
    files.sample.parent.mkdir()
    write_lines(files.sample, read_chunk(directory / "chunks" / "c02.jsonl"))
    reading = [
        {"id": ids[2], "needs": ["surface"], "cause": "system_error", "hard": False},
        {"id": ids[3], "needs": ["surface", "emotional"], "cause": "none", "hard": True},
    ]
    args = ["--annotation-dir", str(directory), "records", "--round", "2"]
    files.reading.write_bytes(b'{"id": "' + ids[2].encode() + b'", "needs": ["surface"]}\n\xd6\xd0\n')
    assert recheck.main(args) == 1
    assert "not UTF-8" in capsys.readouterr().err and not files.final.exists()
    write_lines(files.reading, [reading[0], {**reading[1], "cause": "unsure"}])
    assert recheck.main(args) == 1
    assert "line 2: cause must be one of" in capsys.readouterr().err and not files.final.exists()
    write_lines(files.reading, reading)
    assert recheck.main(args) == 0
    text = "好" * 7, "好" * 8
    assert read_chunk(files.final) == [
        {"id": ids[2], "text": text[0], "needs": ["surface"], "cause": "none"},
        {"id": ids[3], "text": text[1], "needs": ["surface", "emotional"], "cause": "none"},
    ]
    assert read_chunk(files.reading_records) == [
        {"id": ids[2], "text": text[0], "needs": ["surface"], "cause": "system_error"},
        {"id": ids[3], "text": text[1], "needs": ["surface", "emotional"], "cause": "none"},
    ]
    assert files.sample.name == "f02.jsonl" and files.final.name == "final2.jsonl"
    final = files.final.read_bytes()
    assert recheck.main(args) == 1  # what the check measured stays as measured, whatever later re-reads change
    assert "final2.jsonl exists" in capsys.readouterr().err and files.final.read_bytes() == final
