"""`needlens review`: filling the browser review queue, and account entries with password hashes."""

import json

from typer.testing import CliRunner

from classifier.labels import Labels
from label_loop.review_queue import QueueFilter, ReviewQueue
from label_loop.store import LabelStore, NewLabel
from needlens.cli import app
from serve.settings import UiUser
from serve.ui.passwords import verify_password
from tests.conftest import read_csv, write_csv

runner = CliRunner()


def test_review_add_queues_new_texts_once_and_lists_unusable_rows(tmp_path):
    store_path = tmp_path / "labels.db"
    LabelStore(store_path).add(NewLabel("标过了", Labels(needs=["surface"], cause="none"), "seed"))
    rows = [["1", "新的一条", "0.9"], ["2", "标过了", "0.8"], ["3", "\x00", "0.7"], ["4", "又一条", "0.6"]]
    source = write_csv(tmp_path / "to_label.csv", rows, header=("id", "text", "uncertainty"))
    first = runner.invoke(app, ["review", "add", str(source), "--store", str(store_path)])
    assert first.exit_code == 1  # a row was unusable; the others are queued all the same
    assert "2 texts queued for review, 0 already queued, 1 already labeled, 1 unusable" in first.output
    assert "row 3" in first.output
    waiting, _ = ReviewQueue(LabelStore(store_path)).waiting(QueueFilter(), 10)
    assert [(i.text, i.origin, i.external_id) for i in waiting] == [
        ("新的一条", "suggest:to_label.csv", "1"),
        ("又一条", "suggest:to_label.csv", "4"),
    ]
    again = runner.invoke(app, ["review", "add", str(source), "--store", str(store_path)])
    assert "0 texts queued for review, 2 already queued" in again.output


def test_review_add_names_a_missing_text_column(tmp_path):
    source = write_csv(tmp_path / "a.csv", [["1", "x"]], header=("id", "body"))
    result = runner.invoke(app, ["review", "add", str(source), "--store", str(tmp_path / "l.db")])
    assert result.exit_code == 2 and "no text column 'text'" in result.output


def test_hash_password_prints_an_entry_the_settings_accept_and_never_the_password():
    result = runner.invoke(app, ["review", "hash-password", "李雷", "--role", "admin"], input="s3cret\ns3cret\n")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("{"))
    entry = UiUser.model_validate(json.loads(line)["李雷"])
    assert entry.role == "admin" and verify_password("s3cret", entry.password_hash)
    assert "s3cret" not in line
    refused = runner.invoke(app, ["review", "hash-password", "x", "--role", "root"], input="a\na\n")
    assert refused.exit_code == 2


def test_a_blank_name_is_refused_in_one_line_and_a_padded_one_is_stripped(tmp_path):
    for name in ("", "   "):
        refused = runner.invoke(app, ["review", "hash-password", name, "--role", "admin"], input="s3cret\ns3cret\n")
        assert refused.exit_code == 2 and "NAME: blank" in refused.output
        assert "{" not in refused.output and "password" not in refused.output  # refused before asking
    padded = runner.invoke(app, ["review", "hash-password", " ana "], input="s3cret\ns3cret\n")
    line = next(line for line in padded.output.splitlines() if line.startswith("{"))
    assert list(json.loads(line)) == ["ana"]
    gold = write_csv(
        tmp_path / "gold.csv", [["屏幕坏了", "surface", "system_error"]], header=("text", "needs", "cause")
    )
    store_path = tmp_path / "labels.db"
    for by, why in [
        ("", "blank: give a name"),
        ("  ", "blank: give a name"),
        ("\u200b", "has an invisible or control character (U+200B) at character 1"),
        ("a\x00b", "has an invisible or control character (U+0000) at character 2"),
    ]:
        result = runner.invoke(app, ["labels", "gold", "add", str(gold), "--by", by, "--store", str(store_path)])
        assert result.exit_code == 2 and result.output.strip() == f"error: --by: {why}"
    assert not store_path.exists()  # refused before the store is opened


def test_review_add_and_suggest_read_a_big5_file_given_its_encoding(toy_model, tmp_path):
    source = tmp_path / "big5.csv"
    texts = [
        "這個產品的品質很差，希望盡快處理退款",
        "客服也不回覆我的問題，讓人失望",
        "想參加新品體驗活動，學習保養知識",
    ]
    source.write_bytes(("id,text\n" + "".join(f"{i},{t}\n" for i, t in enumerate(texts))).encode("big5"))
    store = str(tmp_path / "l.db")
    refused = runner.invoke(app, ["review", "add", str(source), "--store", store])
    assert refused.exit_code == 2 and "pass --encoding big5" in " ".join(refused.output.split())
    queued = runner.invoke(app, ["review", "add", str(source), "--store", store, "--encoding", "big5"])
    assert queued.exit_code == 0 and "3 texts queued for review" in queued.output, queued.output
    out = tmp_path / "suggested.csv"
    args = ["suggest", str(source), "-o", str(out), "-n", "2", "--model", str(toy_model[0]), "--encoding", "big5"]
    suggested = runner.invoke(app, args)
    assert suggested.exit_code == 0 and "2 of 3 texts suggested" in " ".join(suggested.output.split())
    assert {row["text"] for row in read_csv(out)} <= set(texts)  # read as the characters written


def test_suggest_says_why_it_suggested_fewer_texts_than_asked(toy_model, tmp_path):
    out = tmp_path / "suggested.csv"
    twins = tmp_path / "twins.csv"
    twins.write_text("id,text\n1,屏幕坏了要求换货\n2,屏幕坏了要求换货！\n3,屏幕坏了要求换货。\n", encoding="utf-8")
    result = runner.invoke(app, ["suggest", str(twins), "-o", str(out), "-n", "3", "--model", str(toy_model[0])])
    said = " ".join(result.output.split())
    assert "1 of 3 texts suggested" in said and "fewer than the 3 asked: each other text is a near-duplicate" in said
