"""Distillation: a teacher labels unlabeled texts once, resumably and traceably; a student trains on it."""

from __future__ import annotations

import json
import shutil

import pytest

from bench.real_accuracy import unseen
from classifier.inference import Predictor
from classifier.labels import LabeledRecord, text_key
from classifier.settings import Settings
from tests.conftest import TOY_PHRASES, claim_soft_labels, quick_settings, write_jsonl
from training.data import DataError, read_records, split_dataset, to_dataset
from training.distill import label_pool, meta_path, read_soft_labels
from training.pipeline import train_model, training_set


def pool_file(tmp_path, n: int = 30):
    phrases = [p for group in TOY_PHRASES.values() for p in group]
    rows = [{"pool_id": f"p{i:04d}", "text": f"{phrases[i % len(phrases)]}{i}", "domain": "toy"} for i in range(n)]
    rows += [{"pool_id": "blank", "text": "   "}, {"pool_id": "nul", "text": None}]
    return write_jsonl(tmp_path / "pool.jsonl", rows)


def test_the_teacher_labels_every_usable_text_and_names_itself(toy_model, tmp_path):
    model_dir, _ = toy_model
    out = tmp_path / "soft.jsonl"
    assert label_pool(Predictor.load(model_dir), pool_file(tmp_path), out, Settings(), log=lambda _: None) == 30
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [f"p{i:04d}" for i in range(30)]
    assert all(len(r["needs"]) == 3 and abs(sum(r["cause"]) - 1) < 1e-3 for r in rows)
    meta = json.loads(meta_path(out).read_text())
    assert meta["complete"] and meta["texts"] == 30 and len(meta["pool_sha256"]) == 64
    assert meta["teacher_version"] == json.loads((model_dir / "config.json").read_text())["model_version"]


def test_an_interrupted_run_resumes_without_duplicates_and_another_pool_is_refused(toy_model, tmp_path):
    model_dir, _ = toy_model
    pool, out = pool_file(tmp_path), tmp_path / "soft.jsonl"
    label_pool(Predictor.load(model_dir), pool, out, Settings(), log=lambda _: None)
    lines = out.read_text(encoding="utf-8").splitlines()
    out.write_text("\n".join(lines[:10]) + "\n" + lines[10][:15], encoding="utf-8")  # crash mid-line
    label_pool(Predictor.load(model_dir), pool, out, Settings(), log=lambda _: None)
    assert out.read_text(encoding="utf-8").splitlines() == lines
    other = write_jsonl(tmp_path / "other.jsonl", [{"id": "x", "text": "想了解电池原理"}])
    with pytest.raises(DataError, match="another teacher or pool"):
        label_pool(Predictor.load(model_dir), other, out, Settings(), log=lambda _: None)


def test_soft_labels_leave_out_labeled_texts_and_refuse_an_unfinished_file(toy_model, tmp_path):
    model_dir, _ = toy_model
    out = tmp_path / "soft.jsonl"
    label_pool(Predictor.load(model_dir), pool_file(tmp_path), out, Settings(), log=lambda _: None)
    labeled = {text_key(json.loads(line)["text"]) for line in out.read_text(encoding="utf-8").splitlines()[:5]}
    soft = read_soft_labels(out, count=100, seed=1, exclude_texts=labeled)
    assert len(soft) == 25 and not labeled & set(soft["text"])
    assert all(soft["soft"]) and not any(soft["written"])
    assert len(read_soft_labels(out, count=7, seed=1, exclude_texts=set())) == 7
    meta_path(out).write_text(json.dumps({"complete": False}))
    with pytest.raises(DataError, match="incomplete"):
        read_soft_labels(out, count=7, seed=1, exclude_texts=set())
    labeled_file = tmp_path / "labeled.jsonl"  # a labeled file given by mistake: no distill record beside it
    labeled_file.write_text(out.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(DataError, match="not a soft-label file"):
        read_soft_labels(labeled_file, count=7, seed=1, exclude_texts=set())


def test_leaving_out_one_more_text_changes_only_that_text_of_the_soft_label_sample(toy_model, tmp_path):
    model_dir, _ = toy_model
    out = tmp_path / "soft.jsonl"
    label_pool(Predictor.load(model_dir), pool_file(tmp_path), out, Settings(), log=lambda _: None)
    before = read_soft_labels(out, count=10, seed=3, exclude_texts=set())
    after = read_soft_labels(out, count=10, seed=3, exclude_texts={text_key(before["text"][4])})
    assert len(set(before["id"]) & set(after["id"])) == 9 and before["text"][4] not in after["text"]
    assert set(read_soft_labels(out, count=10, seed=4, exclude_texts=set())["id"]) != set(before["id"])


def test_a_student_trains_on_people_and_teacher_labels_and_records_the_teacher(toy_model, toy_data, tmp_path):
    model_dir, _ = toy_model
    out = tmp_path / "soft.jsonl"
    label_pool(Predictor.load(model_dir), pool_file(tmp_path, n=60), out, Settings(), log=lambda _: None)
    student = tmp_path / "student"
    report = train_model(toy_data, student, quick_settings(soft_labels=out, soft_label_texts=40), log=lambda _: None)
    facts = json.loads((student / "training.json").read_text())
    assert facts["soft_labels"]["used"] == 40
    pooled = {json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()}
    assert len(set(facts["soft_labels"]["ids"])) == 40 and set(facts["soft_labels"]["ids"]) <= pooled
    learned = [
        row
        for row in map(json.loads, out.read_text(encoding="utf-8").splitlines())
        if row["id"] in facts["soft_labels"]["ids"]
    ]
    test_set = [
        LabeledRecord(id=f"t{i}", text=f" {row['text']}", needs=["surface"], cause="none")
        for i, row in enumerate(learned[:3])
    ]
    test_set.append(LabeledRecord(id="new", text="从没见过的一句话", needs=["surface"], cause="none"))
    assert [r.id for r in unseen(test_set, [student], tmp_path / "heldout.jsonl")] == ["new"]
    assert facts["soft_labels"]["teacher_version"] == json.loads(meta_path(out).read_text())["teacher_version"]
    assert report["model"]["cause_macro_f1"] >= 0.9


def test_held_out_figures_need_the_soft_label_list_and_the_file_it_points_into(toy_model, tmp_path, capsys):
    model_dir, _ = toy_model
    soft = tmp_path / "soft.jsonl"
    label_pool(Predictor.load(model_dir), pool_file(tmp_path), soft, Settings(), log=lambda _: None)
    meta = json.loads(meta_path(soft).read_text())
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    recorded = {"path": str(soft), "teacher_version": meta["teacher_version"], "pool_sha256": meta["pool_sha256"]}
    (old / "training.json").write_text(json.dumps({"soft_labels": recorded}))
    (new / "training.json").write_text(json.dumps({"soft_labels": {**recorded, "ids": ["p0001"]}}))
    texts = {row["id"]: row["text"] for row in map(json.loads, soft.read_text(encoding="utf-8").splitlines())}
    records = [LabeledRecord(id=f"t{i}", text=texts[f"p000{i}"], needs=["surface"], cause="none") for i in range(3)]
    assert [r.id for r in unseen(records, [old, new], tmp_path / "set.jsonl")] == ["t0", "t2"]
    assert f"{old}: its training.json does not list" in capsys.readouterr().out
    meta_path(soft).write_text(json.dumps({**meta, "teacher_version": "another"}))
    with pytest.raises(SystemExit, match="another teacher"):
        unseen(records, [new], tmp_path / "set.jsonl")


def test_held_out_test_texts_never_come_in_as_soft_labels(toy_model, toy_data, tmp_path):
    model_dir, _ = toy_model
    out = tmp_path / "soft.jsonl"
    label_pool(Predictor.load(model_dir), pool_file(tmp_path), out, Settings(), log=lambda _: None)
    pooled = [json.loads(line)["text"] for line in out.read_text(encoding="utf-8").splitlines()]
    (tmp_path / "heldout").mkdir()
    rows = [{"id": f"h{i}", "text": text, "needs": ["surface"], "cause": "none"} for i, text in enumerate(pooled[:10])]
    write_jsonl(tmp_path / "heldout" / "reviews.jsonl", rows)
    records = read_records(toy_data)
    split = split_dataset(to_dataset(records), 0.15, 13)

    def soft_texts(held_out: tuple) -> set[str]:
        settings = quick_settings(soft_labels=out, soft_label_texts=100, held_out_data=held_out)
        train, _ = training_set(records, split, settings, log=lambda _: None)
        return {row["text"] for row in train if row["soft"]}

    assert set(pooled[:10]) <= soft_texts((tmp_path / "absent",))  # a missing test set is skipped
    assert not set(pooled[:10]) & soft_texts((tmp_path / "heldout",))


def test_a_relative_soft_label_path_is_found_under_the_needlens_home(toy_model, tmp_path, monkeypatch):
    from training.distill import learned_soft_texts

    home = tmp_path / "checkout"
    (home / "data").mkdir(parents=True)
    model = home / "model"
    shutil.copytree(toy_model[0], model)
    claim_soft_labels(model, ["一句学过的话"], home / "data" / "soft.jsonl")
    facts = json.loads((model / "training.json").read_text(encoding="utf-8"))
    facts["soft_labels"]["path"] = "data/soft.jsonl"  # as `make demo` records it
    (model / "training.json").write_text(json.dumps(facts), encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("NEEDLENS_HOME", str(home))
    assert learned_soft_texts(model) == {"一句学过的话"}
    monkeypatch.setenv("NEEDLENS_HOME", str(elsewhere))
    with pytest.raises(DataError, match="missing here"):
        learned_soft_texts(model)


def test_a_labeled_text_in_another_unicode_form_is_not_drawn_as_a_soft_label(tmp_path):
    soft = tmp_path / "soft.jsonl"
    rows = [
        {"id": "p1", "text": "送餐慢了，等了９０分钟", "needs": [0.9, 0.2, 0.1], "cause": [0.1, 0.8, 0.1]},
        {"id": "p2", "text": "很好吃", "needs": [0.9, 0.1, 0.1], "cause": [0.1, 0.1, 0.8]},
    ]
    write_jsonl(soft, rows)
    meta_path(soft).write_text(json.dumps({"complete": True}), encoding="utf-8")
    labeled = {text_key(" 送餐慢了,等了90分钟")}  # the same text as a label import might carry it
    assert list(read_soft_labels(soft, count=10, seed=1, exclude_texts=labeled)["id"]) == ["soft-p2"]


def test_a_soft_label_file_missing_some_of_a_models_texts_is_unreadable(toy_model, tmp_path):
    from training.distill import learned_soft_texts

    model = tmp_path / "model"
    shutil.copytree(toy_model[0], model)
    claim_soft_labels(model, ["一", "二", "三"], tmp_path / "soft.jsonl")
    lines = (tmp_path / "soft.jsonl").read_text(encoding="utf-8").splitlines()
    (tmp_path / "soft.jsonl").write_text(lines[0] + "\n", encoding="utf-8")  # cut short, same meta
    with pytest.raises(DataError, match="holds 1 of the 3"):
        learned_soft_texts(model)
    (model / "training.json").write_text("[]", encoding="utf-8")  # not an object
    with pytest.raises(DataError, match="cannot tell which texts"):
        learned_soft_texts(model)
