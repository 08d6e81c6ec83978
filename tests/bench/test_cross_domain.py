"""`bench.cross_domain`'s draws: every N is scored on the same texts, and self-training reads only
unlabeled texts of the domain."""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path

import pytest

from bench.active_learning import pick_uncertain
from bench.cross_domain import SoftLabelFile, _draw_domain_labels, _teacher_soft_labels_plus_domain
from classifier.inference import Predictor
from classifier.labels import LabeledRecord
from classifier.settings import Settings
from tests.conftest import claim_soft_labels, quick_settings, toy_records, write_jsonl
from training.data import fingerprint, read_records
from training.distill import meta_path, read_soft_labels


def held_records(n: int = 60) -> list[LabeledRecord]:
    return [LabeledRecord.model_validate(r) for r in toy_records(n_per_class=n // 3)]


def draw_args(
    n: int | None, pool: int = 20, seed: int = 0, pick: str = "random", picker: Path | None = None
) -> argparse.Namespace:
    return argparse.Namespace(
        domain_labels=n, draw_pool=pool, draw_seed=seed, pick=pick, picker=picker, max_similarity=0.6
    )


def test_every_n_is_scored_on_the_same_texts_outside_the_pool() -> None:
    held = held_records()
    draws = {n: _draw_domain_labels(held, draw_args(n), Settings()) for n in (0, 5, 20)}
    scored_ids = {n: [r.id for r in scored] for n, (_, scored) in draws.items()}
    assert scored_ids[0] == scored_ids[5] == scored_ids[20] and len(scored_ids[0]) == 40
    labeled = {n: [r.id for r in chosen] for n, (chosen, _) in draws.items()}
    assert [len(v) for v in labeled.values()] == [0, 5, 20]
    assert labeled[5] == labeled[20][:5]  # a larger N adds texts, it does not draw others
    assert not set(labeled[20]) & set(scored_ids[20])


def test_the_draw_seed_changes_the_pool() -> None:
    held = held_records()
    first = _draw_domain_labels(held, draw_args(10, seed=0), Settings())[0]
    other = _draw_domain_labels(held, draw_args(10, seed=1), Settings())[0]
    assert [r.id for r in first] != [r.id for r in other]


@pytest.mark.parametrize(("n", "pool"), [(-1, 20), (21, 20), (5, 60), (5, 61)])
def test_impossible_draws_are_refused(n: int, pool: int) -> None:
    with pytest.raises(SystemExit, match="--domain-labels"):
        _draw_domain_labels(held_records(), draw_args(n, pool=pool), Settings())


def test_suggest_needs_a_picker() -> None:
    with pytest.raises(SystemExit, match="--picker"):
        _draw_domain_labels(held_records(), draw_args(5, pick="suggest"), Settings())


def test_suggest_takes_what_needlens_suggest_ranks_first_in_the_pool(toy_model: tuple[Path, dict]) -> None:
    held = held_records()
    chosen, scored = _draw_domain_labels(held, draw_args(6, pick="suggest", picker=toy_model[0]), Settings())
    pool = random.Random(0).sample(held, len(held))[:20]
    expected = pick_uncertain(Predictor.load(toy_model[0], Settings()), pool, 6, 0.6)
    assert [r.id for r in chosen] == [pool[i].id for i in expected]
    assert [r.id for r in chosen] != [r.id for r in pool[:6]]  # not the random draw under another name
    assert [r.id for r in scored] == [r.id for r in _draw_domain_labels(held, draw_args(0), Settings())[1]]


def test_suggest_refuses_to_report_fewer_picks_than_asked(toy_model: tuple[Path, dict]) -> None:
    args = draw_args(20, pick="suggest", picker=toy_model[0])
    args.max_similarity = 0.0  # every toy text shares characters with the first pick
    with pytest.raises(SystemExit, match="found only"):
        _draw_domain_labels(held_records(), args, Settings())


def self_train_setup(
    tmp_path: Path, toy_model: tuple[Path, dict]
) -> tuple[argparse.Namespace, list[LabeledRecord], list[LabeledRecord]]:
    """A teacher kept from a plain run (its records' fingerprint, two soft labels it listed and one it
    did not), and a pool: two of the domain's scored texts, one training text, one held-out text,
    five unlabeled texts of the domain and one of another domain."""
    held, rest = held_records(12), [LabeledRecord.model_validate(r) for r in toy_records(4, seed=1)]
    teacher = tmp_path / "teacher"
    shutil.copytree(toy_model[0], teacher)
    soft_file = tmp_path / "teacher.soft-labels.jsonl"
    claim_soft_labels(teacher, ["老师学过的一条", "老师学过的另一条"], soft_file)
    with soft_file.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "unlisted", "text": "没学过", "needs": [1, 0, 0], "cause": [0, 1, 0]}) + "\n")
    facts = json.loads((teacher / "training.json").read_text(encoding="utf-8"))
    facts["data"] = {**facts.get("data", {}), "fingerprint": fingerprint(rest)}
    (teacher / "training.json").write_text(json.dumps(facts, ensure_ascii=False), encoding="utf-8")
    held_out_text = read_records(Settings().training.held_out_data[0])[0].text
    pool = [
        {"pool_id": "a0", "text": held[0].text, "domain": "toy"},
        {"pool_id": "a1", "text": held[1].text, "domain": "toy"},
        {"pool_id": "r0", "text": rest[0].text, "domain": "toy"},
        {"pool_id": "h0", "text": held_out_text, "domain": "toy"},
        *({"pool_id": f"u{i}", "text": f"酒店的房间第{i}次没打扫", "domain": "toy"} for i in range(5)),
        {"pool_id": "x0", "text": "别的领域的一条", "domain": "other"},
    ]
    args = argparse.Namespace(
        domain="toy", self_train=3, teacher=teacher, pool=write_jsonl(tmp_path / "pool.jsonl", pool), draw_seed=0
    )
    return args, held, rest


def self_train(args: argparse.Namespace, held: list, rest: list, tmp_path: Path, **recipe: object) -> SoftLabelFile:
    return _teacher_soft_labels_plus_domain(args, held, rest, quick_settings(**recipe), Settings(), tmp_path)


def test_self_training_adds_the_teachers_readings_of_unlabeled_domain_texts_only(
    tmp_path: Path, toy_model: tuple[Path, dict]
) -> None:
    args, held, rest = self_train_setup(tmp_path, toy_model)
    soft = self_train(args, held, rest, tmp_path)
    rows = [json.loads(line) for line in soft.path.read_text(encoding="utf-8").splitlines()]
    assert soft.texts == len(rows) == 5
    assert [r["id"] for r in rows[:2]] == ["p0", "p1"]  # what the teacher trained on, nothing it did not list
    assert {r["id"] for r in rows[2:]} < {f"u{i}" for i in range(5)}  # unlabeled, of the domain, never scored
    assert all(len(r["cause"]) == 3 and abs(sum(r["cause"]) - 1) < 1e-3 for r in rows[2:])
    assert len(read_soft_labels(soft.path, soft.texts, 13, set())) == soft.texts  # what training reads: all of it


def test_self_training_refuses_a_short_pool(tmp_path: Path, toy_model: tuple[Path, dict]) -> None:
    args, held, rest = self_train_setup(tmp_path, toy_model)
    args.self_train = 6
    with pytest.raises(SystemExit, match="only 5 unlabeled toy texts"):
        self_train(args, held, rest, tmp_path)


def test_self_training_refuses_a_teacher_that_is_not_the_plain_runs_model(
    tmp_path: Path, toy_model: tuple[Path, dict]
) -> None:
    args, held, rest = self_train_setup(tmp_path, toy_model)
    with pytest.raises(SystemExit, match="not trained on the records"):
        self_train(args, held, rest[1:], tmp_path)
    with pytest.raises(SystemExit, match="other settings than this run's: epochs"):
        self_train(args, held, rest, tmp_path, epochs=4)
    self_train(args, held, rest, tmp_path, soft_label_texts=99)  # its soft labels are what may differ


def test_self_training_refuses_soft_labels_that_changed_under_the_teacher(
    tmp_path: Path, toy_model: tuple[Path, dict]
) -> None:
    args, held, rest = self_train_setup(tmp_path, toy_model)
    soft_file = tmp_path / "teacher.soft-labels.jsonl"
    rows = soft_file.read_text(encoding="utf-8").splitlines()
    soft_file.write_text(rows[1] + "\n", encoding="utf-8")  # p0 lost
    with pytest.raises(SystemExit, match="holds 1 of the 2 soft labels"):
        self_train(args, held, rest, tmp_path)
    meta_path(soft_file).write_text(json.dumps({"teacher_version": "another", "complete": True}), encoding="utf-8")
    with pytest.raises(SystemExit, match="holds another teacher's"):
        self_train(args, held, rest, tmp_path)
