"""The label store and `needlens labels import|export|stats`."""

import json

import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from classifier.labels import Labels
from label_loop.importer import LabelColumns, import_labels
from label_loop.store import LabelStore, NewLabel, text_hash
from needlens.cli import app
from tests.conftest import write_csv

runner = CliRunner()


LABEL_HEADER = ("text", "needs", "cause")
GOOD = [
    ("屏幕用了两天就坏了", "表层需求", "系统误差"),
    ("理赔少了也没人解释", "表层需求|情感需求", "认知错位"),
    ("想学电池保养知识", "growth", "none"),
]


def test_text_hash_ignores_unicode_form_and_outer_whitespace():
    assert text_hash(" ＡＢＣ退款 ") == text_hash("ABC退款")


def test_corrections_supersede_and_history_is_kept(tmp_path):
    store = LabelStore(tmp_path / "l.db")
    first = store.add(NewLabel("空调不制冷", Labels(needs=["surface"], cause="system_error"), "seed"))
    second = store.add(NewLabel("空调不制冷", Labels(needs=["surface", "emotional"], cause="system_error"), "review"))
    assert [e.id for e in store.history("空调不制冷")] == [first.id, second.id]
    (current,) = store.current()
    assert current.id == second.id and current.label.labels.needs == ["surface", "emotional"]
    assert [e.id for e in store.recent_corrections(5)] == [second.id]


def test_import_reports_bad_rows_and_is_idempotent(tmp_path):
    source = write_csv(
        tmp_path / "labels.csv",
        [*GOOD, ("", "surface", "none"), ("好", "", "none"), ("好的", "surface", "angry")],
        header=LABEL_HEADER,
    )
    store = LabelStore(tmp_path / "l.db")
    report = import_labels(store, source)
    assert (report.added, report.skipped) == (3, 0)
    assert [row for row, _ in report.invalid] == [4, 5, 6]
    assert (
        "text is empty" in report.invalid[0][1] and "needs" in report.invalid[1][1] and "cause" in report.invalid[2][1]
    )
    assert "'angry' is not a label name" in report.invalid[2][1] and "认知错位" in report.invalid[2][1]
    again = import_labels(store, source)
    assert (again.added, again.skipped) == (0, 3)
    assert store.count_events() == 3
    labels = {e.label.text: e.label for e in store.current()}
    assert labels["理赔少了也没人解释"].labels.needs == ["surface", "emotional"]
    assert labels["理赔少了也没人解释"].source == "import:labels.csv"


def test_import_reads_jsonl_lists_and_xlsx_with_named_columns(tmp_path):
    store = LabelStore(tmp_path / "l.db")
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text(
        json.dumps({"text": "退款太慢", "needs": ["surface"], "cause": "system_error"}, ensure_ascii=False) + "\n"
    )
    assert import_labels(store, jsonl).added == 1
    book = Workbook()
    book.active.append(["内容", "需求", "原因", "标注人"])
    book.active.append(["客服态度很敷衍", '["emotional"]', "系统误差", "王"])
    book.save(tmp_path / "b.xlsx")
    report = import_labels(store, tmp_path / "b.xlsx", LabelColumns("内容", "需求", "原因", annotator="标注人"))
    assert report.added == 1 and not report.invalid
    assert {e.label.annotator for e in store.current()} == {None, "王"}


def test_an_annotator_cell_that_names_nobody_is_an_invalid_row(tmp_path):
    """The import stored a zero-width space or a control character as an annotator's name."""
    store = LabelStore(tmp_path / "l.db")
    rows = [(f"第{i}台坏了", "surface", "system_error", name) for i, name in enumerate(("王", "\u200b", "a\x01b", " "))]
    source = write_csv(tmp_path / "a.csv", rows, header=(*LABEL_HEADER, "by"))
    report = import_labels(store, source, LabelColumns("text", "needs", "cause", annotator="by"))
    assert report.invalid == [
        (2, "by: has an invisible or control character (U+200B) at character 1"),
        (3, "by: has an invisible or control character (U+0001) at character 2"),
    ]
    assert sorted(str(e.label.annotator) for e in store.current()) == ["None", "王"]  # a blank cell: no annotator


def test_import_with_a_missing_column_fails_before_touching_the_store(tmp_path):
    from labeling.tables import TableError

    store = LabelStore(tmp_path / "l.db")
    with pytest.raises(TableError, match="no cause column 'cause'"):
        import_labels(store, write_csv(tmp_path / "x.csv", [("好", "surface")], header=("text", "needs")))
    assert store.count_events() == 0


@pytest.mark.parametrize(("store_name", "output_name"), [("weird.jsonl", "weird.jsonl"), ("s.csv.tmp", "s.csv")])
def test_export_refuses_to_write_over_the_store(tmp_path, store_name, output_name):
    """A store named weird.jsonl was replaced by its own export, and was no database after; one
    named s.csv.tmp was the staging file of `-o s.csv`, renamed away."""
    store = tmp_path / store_name
    assert (
        runner.invoke(
            app,
            ["labels", "import", str(write_csv(tmp_path / "l.csv", GOOD, header=LABEL_HEADER)), "--store", str(store)],
        ).exit_code
        == 0
    )
    before = store.read_bytes()
    result = runner.invoke(app, ["labels", "export", "-o", str(tmp_path / output_name), "--store", str(store)])
    assert result.exit_code == 2 and "writing it would overwrite the label store" in " ".join(result.output.split())
    assert store.read_bytes() == before and LabelStore(store).count_events() == len(GOOD)


def test_cli_import_export_stats(tmp_path):
    store = str(tmp_path / "l.db")
    source = write_csv(tmp_path / "labels.csv", [*GOOD, ("", "surface", "none")], header=LABEL_HEADER)
    result = runner.invoke(app, ["labels", "import", str(source), "--store", store])
    output = " ".join(result.output.split())
    assert result.exit_code == 1 and "3 labels added" in output and "row 4: text is empty" in output

    result = runner.invoke(app, ["labels", "export", "-o", str(tmp_path / "out.jsonl"), "--store", store])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["needs"] for r in records] == [["surface"], ["surface", "emotional"], ["growth"]]

    result = runner.invoke(app, ["labels", "stats", "--store", store])
    assert result.exit_code == 0 and "import:labels.csv" in result.output
    negative = runner.invoke(app, ["labels", "stats", "--store", store, "--recent", "-1"])  # SQLite: LIMIT -1 is all
    assert negative.exit_code == 2 and "--recent" in negative.output
    huge = runner.invoke(app, ["labels", "stats", "--store", store, "--recent", "9" * 20])  # over SQLite's integers
    assert huge.exit_code == 2 and "--recent" in huge.output


def test_a_big5_label_file_is_refused_naming_the_encoding_and_imports_with_it(tmp_path):
    store = str(tmp_path / "l.db")
    rows = "".join(
        f"這個產品的品質很差，客服也不回覆我的問題，希望盡快處理退款{i},surface,system_error\n" for i in range(3)
    )
    source = tmp_path / "big5.csv"
    source.write_bytes(("text,needs,cause\n" + rows).encode("big5"))
    refused = runner.invoke(app, ["labels", "import", str(source), "--store", store, "--no-check"])
    assert refused.exit_code == 2 and "pass --encoding big5" in " ".join(refused.output.split())
    result = runner.invoke(app, ["labels", "import", str(source), "--store", store, "--no-check", "--encoding", "big5"])
    assert result.exit_code == 0 and "3 labels added" in result.output, result.output
    assert all(e.label.text.startswith("這個產品") for e in LabelStore(tmp_path / "l.db").current())
    gold = runner.invoke(
        app, ["labels", "gold", "add", str(source), "--store", store, "--by", "lee", "--encoding", "big5"]
    )
    assert "3 gold labels added" in gold.output, gold.output


@pytest.mark.parametrize(
    "command",
    [
        ["labels", "export", "-o", "out.jsonl"],
        ["labels", "stats"],
        ["labels", "quarantine", "list"],
        ["labels", "quarantine", "accept", "1"],
        ["labels", "annotators"],
        ["labels", "feedback", "flush"],
    ],
)
def test_a_mistyped_store_is_one_line_not_a_new_empty_store(tmp_path, command):
    typo = tmp_path / "lables.db"
    result = runner.invoke(app, [*command, "--store", str(typo)])
    assert result.exit_code == 2, result.output
    assert f"no label store at {typo}" in " ".join(result.output.split())
    assert not typo.exists()


def test_an_import_or_gold_file_that_labels_a_text_differently_twice_says_which_rows(tmp_path):
    rows = [
        GOOD[0],
        ("屏幕用了两天就坏了", "surface", "perception_mismatch"),
        GOOD[2],
        (" 屏幕用了两天就坏了", "surface", "none"),
    ]
    rows.append(GOOD[2])  # the same text with the same labels twice: no disagreement
    source = write_csv(tmp_path / "labels.csv", rows, header=LABEL_HEADER)
    result = runner.invoke(app, ["labels", "import", str(source), "--store", str(tmp_path / "l.db"), "--no-check"])
    said = " ".join(result.output.split())
    assert result.exit_code == 0 and "note: 1 texts are labeled differently on more than one row" in said, said
    assert "(rows 1, 2 and 4); check which reading should stand" in said
    gold = runner.invoke(app, ["labels", "gold", "add", str(source), "--store", str(tmp_path / "l.db"), "--by", "lee"])
    assert "(rows 1, 2 and 4)" in " ".join(gold.output.split())


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (["labels", "gold", "show"], "the gold set is the seed data's alone"),
        (["labels", "feedback", "list"], "no feedback"),
    ],
)
def test_showing_what_a_store_not_yet_created_holds_says_so_and_creates_nothing(tmp_path, command, said):
    missing = tmp_path / "labels.db"
    result = runner.invoke(app, [*command, "--store", str(missing)])
    assert result.exit_code == 0, result.output
    assert f"no label store at {missing} yet" in " ".join(result.output.split()) and said in result.output
    assert not missing.exists()
