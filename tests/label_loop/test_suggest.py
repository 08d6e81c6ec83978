"""`needlens suggest`: the least certain texts first, without near-duplicates, ready to label and import."""

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from classifier.inference import DocumentScores
from classifier.labels import Labels
from label_loop.store import LabelStore, NewLabel
from label_loop.suggest import char_ngram_vectors, decision_uncertainty, select_uncertain
from needlens.cli import app

runner = CliRunner()


def scores(need_probs, cause_probs) -> DocumentScores:
    need_probs, cause_probs = np.asarray(need_probs, float), np.asarray(cause_probs, float)
    n = len(need_probs)
    return DocumentScores(
        need_probs=need_probs,
        cause_probs=cause_probs,
        needs=need_probs >= 0.5,
        cause=cause_probs.argmax(axis=1),
        review=np.zeros((n, 4), bool),
        truncated=[False] * n,
        units=[[(0, 1)]] * n,
        unit_rows=[[i] for i in range(n)],
        unit_need_probs=need_probs,
        unit_cause_probs=cause_probs,
    )


def test_uncertainty_is_highest_on_the_threshold_and_between_two_causes():
    s = scores(
        [[0.99, 0.01, 0.02], [0.30, 0.01, 0.02], [0.99, 0.01, 0.02], [0.99, 0.01, 0.02]],
        [[0.98, 0.01, 0.01], [0.98, 0.01, 0.01], [0.50, 0.48, 0.02], [0.98, 0.01, 0.01]],
    )
    u = decision_uncertainty(s, [0.3, 0.5, 0.5])
    assert u[1, 0] == 1.0  # exactly on its (tuned, not 0.5) threshold
    assert u[2, 3] > 0.95  # two causes nearly tied
    assert u[0].max() < 0.1 and u[3].max() < 0.1  # confident texts
    picked = select_uncertain(u, char_ngram_vectors(["甲方案", "乙文本", "丙内容", "丁说明"]), 2, 0.6)
    assert [(p.index, p.label) for p in picked] == [(1, "surface"), (2, "cause")]


def test_about_one_decision_ranks_by_that_decision_alone():
    u = np.array([[0.9, 0.1, 0, 0.2], [0.2, 0.6, 0, 0.95], [0.1, 0.8, 0, 0.1]])
    vectors = char_ngram_vectors(["甲方案", "乙文本", "丙内容"])
    assert [p.index for p in select_uncertain(u, vectors, 2, 0.6)] == [1, 0]
    picked = select_uncertain(u, vectors, 2, 0.6, about="emotional")
    assert [(p.index, p.label, p.uncertainty) for p in picked] == [(2, "emotional", 0.8), (1, "emotional", 0.6)]


def test_near_duplicates_are_passed_over_for_the_next_distinct_text():
    texts = ["快递三天了还没到，什么时候能送到", "快递三天了还没到，什么时候能送到？", "会员积分怎么兑换升级"]
    u = np.array([[0.9, 0, 0, 0], [0.89, 0, 0, 0], [0.5, 0, 0, 0]])
    picked = select_uncertain(u, char_ngram_vectors(texts), 2, 0.6)
    assert [p.index for p in picked] == [0, 2]
    assert [p.index for p in select_uncertain(u, char_ngram_vectors(texts), 2, 1.0)] == [0, 1]


def test_suggest_command_leaves_out_labeled_and_bad_rows_and_its_output_imports(toy_model, tmp_path):
    source = tmp_path / "pool.csv"
    texts = [
        "屏幕坏了要求换货",
        "想了解电池原理",
        "规则从来没讲过，屏幕也坏了，想参与内测",
        "",
        "没人告诉我进度心里很焦虑",
    ]
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ref", "text"])
        writer.writerows([[f"r{i}", t] for i, t in enumerate(texts)])
    store = tmp_path / "labels.db"
    LabelStore(store).add(NewLabel(texts[1], Labels(needs=["growth"], cause="none"), "feedback"))
    out = tmp_path / "to_label.csv"
    args = ["suggest", str(source), "-o", str(out), "-n", "2", "--id-column", "ref", "--model", str(toy_model[0])]
    result = runner.invoke(app, [*args, "--store", str(store)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # rich wraps long lines
    assert "2 of 3 texts suggested" in said and "1 already labeled and 1 unusable" in said
    with out.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["rank"] for r in rows] == ["1", "2"]
    assert texts[1] not in {r["text"] for r in rows}
    assert float(rows[0]["uncertainty"]) >= float(rows[1]["uncertainty"])
    assert all(r["needs"] == "" and r["cause"] == "" and r["model_cause"] for r in rows)

    for row in rows:  # the analyst fills in the two columns …
        row["needs"], row["cause"] = "表层需求", "系统误差"
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    imported = runner.invoke(app, ["labels", "import", str(out), "--store", str(store)])
    assert imported.exit_code == 0 and "2 labels added" in imported.output  # … and imports the file as it is


@pytest.mark.parametrize(
    ("header", "flag", "expected"),
    [
        ("id", [], {"a7", "b9", ""}),  # an empty id stays empty: a row number could be another row's id
        ("ref", [], {"1", "2", "3"}),
        ("id", ["--id-column", ""], {"1", "2", "3"}),
        ("ref", ["--id-column", "ref"], {"a7", "b9", ""}),
    ],
)
def test_suggest_keeps_an_id_column_by_default_and_numbers_rows_without_one(
    toy_model, tmp_path, header, flag, expected
):
    """It numbered the rows even when the file had an `id` column, so the suggestions no longer
    joined back to their source; `label` and `review add` read `id` by default."""
    source = tmp_path / "pool.csv"
    source.write_text(
        f"{header},text\na7,屏幕坏了要求换货\nb9,没人告诉我进度心里很焦虑\n,想了解电池原理\n", encoding="utf-8"
    )
    out = tmp_path / "to_label.csv"
    result = runner.invoke(app, ["suggest", str(source), "-o", str(out), "--model", str(toy_model[0]), *flag])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8-sig") as handle:
        assert {row["id"] for row in csv.DictReader(handle)} == expected


def test_suggest_about_one_label_ranks_by_it_and_an_unknown_label_is_named(toy_model, tmp_path):
    source = tmp_path / "pool.jsonl"
    texts = ["屏幕坏了要求换货", "想了解电池原理", "没人告诉我进度心里很焦虑", "客服态度很差，说清楚怎么算的"]
    source.write_text("".join(f'{{"text": "{t}"}}\n' for t in texts), encoding="utf-8")
    out = tmp_path / "to_label.jsonl"
    args = ["suggest", str(source), "-o", str(out), "-n", "3", "--model", str(toy_model[0])]
    result = runner.invoke(app, [*args, "--about", "emotional"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 3 and {r["uncertain_about"] for r in rows} == {"emotional"}
    assert [r["uncertainty"] for r in rows] == sorted((r["uncertainty"] for r in rows), reverse=True)

    wrong = runner.invoke(app, [*args, "--about", "情感"])
    assert wrong.exit_code == 2 and "--about" in wrong.output


@pytest.mark.parametrize("target", ["input", "store"])
def test_suggest_refuses_to_write_over_its_input_or_the_store_before_any_work(toy_model, tmp_path, target):
    """`suggest pool.csv -o pool.csv` replaced the pool with its suggestions, exit 0."""
    source = tmp_path / "pool.csv"
    source.write_text("text\n屏幕坏了要求换货\n没人告诉我进度心里很焦虑\n", encoding="utf-8")
    store = tmp_path / "labels.csv"  # a store whose name a table format could take
    LabelStore(store)
    out = {"input": source, "store": store}[target]
    before = out.read_bytes()
    args = ["suggest", str(source), "-o", str(out), "--store", str(store), "--model", str(toy_model[0])]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "writing it would overwrite the" in " ".join(result.output.split())
    assert out.read_bytes() == before


def test_suggest_leaves_out_the_rows_label_refuses_and_names_them(toy_model, tmp_path):
    """A row with more fields than the header was ranked as its first field's text; `label`
    writes it as an unparseable error row."""
    source = tmp_path / "pool.csv"
    source.write_text("id,text\n1,屏幕坏了要求换货\n2,多,余,字段\n3,\n", encoding="utf-8")
    out = tmp_path / "to_label.csv"
    result = runner.invoke(app, ["suggest", str(source), "-o", str(out), "--model", str(toy_model[0])])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8-sig") as handle:
        assert [row["text"] for row in csv.DictReader(handle)] == ["屏幕坏了要求换货"]
    said = " ".join(result.output.split())
    assert "2 unusable rows left out" in said
    assert "row 2: unparseable: row has 4 fields, the header has 2" in said and "row 3: empty" in said
