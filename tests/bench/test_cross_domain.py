"""The domain-labels draw of `bench.cross_domain`: every N is scored on the same texts."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import pytest

from bench.active_learning import pick_uncertain
from bench.cross_domain import _draw_domain_labels
from classifier.inference import Predictor
from classifier.labels import LabeledRecord
from classifier.settings import Settings
from tests.conftest import toy_records


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
