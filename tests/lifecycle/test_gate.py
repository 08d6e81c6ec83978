"""The promotion gate's rule, and what it does with a poisoned and an honest label import."""

import csv
import random

import pytest

from classifier.inference import Predictor
from classifier.settings import Settings
from label_loop.admission import build_arrival_check
from label_loop.importer import LabelColumns, import_labels
from label_loop.store import LabelStore
from lifecycle.gate import MetricDelta, promotion_gate, worse_beyond_tolerance
from lifecycle.registry import ModelRegistry
from lifecycle.retrain import retrain
from tests.conftest import TOY_PHRASES, quick_settings, toy_records
from tests.lifecycle.test_retrain import registered_copy


def delta(candidate: float, interval: tuple[float, float] | None, set_name: str = "gold") -> MetricDelta:
    return MetricDelta(set_name, "needs_macro_f1", 0.80, candidate, interval)


def test_a_candidate_is_refused_only_when_its_interval_lies_wholly_below_minus_the_tolerance():
    assert worse_beyond_tolerance(delta(0.75, (-0.07, -0.025)), 0.02)
    assert not worse_beyond_tolerance(delta(0.77, (-0.05, -0.01)), 0.02)  # like a retrain with another seed
    assert not worse_beyond_tolerance(delta(0.785, (-0.035, +0.005)), 0.02)
    assert worse_beyond_tolerance(delta(0.75, None), 0.02)  # no bootstrap: the delta itself decides
    assert not worse_beyond_tolerance(delta(0.79, None), 0.02)
    assert not worse_beyond_tolerance(delta(0.85, (+0.02, +0.08)), 0.02)


def test_a_gold_refusal_stands_whatever_the_new_labels_say():
    decision = promotion_gate([delta(0.60, (-0.26, -0.14)), delta(0.95, (+0.10, +0.20), "new-labels")], tolerance=0.01)
    assert not decision.passed and decision.refused_by == ["gold needs_macro_f1"]
    assert "gold needs_macro_f1: 0.6000 vs active 0.8000 (-0.2000" in decision.reasons[0]
    assert decision.reasons[0].endswith("worse beyond tolerance")
    assert decision.reasons[1].endswith("not worse")


def test_the_new_labels_can_refuse_too_and_a_first_model_passes():
    assert promotion_gate([delta(0.81, (-0.01, 0.03)), delta(0.70, (-0.15, -0.05), "new-labels")], 0.01).refused_by == [
        "new-labels needs_macro_f1"
    ]
    assert promotion_gate(None, 0.01).passed


def new_toy_rows(per_class: int, seed: int) -> list[tuple[str, str, str]]:
    """Toy texts drawn like the seed's (same phrases, endings and numbers) but not in it, so
    nothing but their labels tells them apart."""
    rng = random.Random(seed)
    taken = {r["text"] for r in toy_records()}
    rows = []
    for (need, cause), phrases in TOY_PHRASES.items():
        texts = [f"{p}{end}{i}" for p in phrases for end in ("。", "！", "～", "，谢谢") for i in range(60)]
        rows += [(text, need, cause) for text in rng.sample(sorted(set(texts) - taken), per_class)]
    return rows


def write_rows(path, rows, header=("text", "needs", "cause")):
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def loop(toy_model, toy_data, tmp_path):
    """A registry whose active model is the toy model, an empty store, and checks against both."""
    registry = ModelRegistry(tmp_path / "registry")
    registry.promote(registered_copy(registry, toy_model[0], "v1"), "first")
    settings = Settings(training=quick_settings(), bootstrap_samples=200)
    store = LabelStore(tmp_path / "labels.db")

    def make_check():
        return build_arrival_check(settings, toy_data, store, Predictor.load(registry.root, settings))

    return registry, settings, store, make_check


POISON = [(text, "growth", "none") for text, need, _ in new_toy_rows(60, 1) if need != "growth"]
"""A broken export: every text "growth", cause "none" (120 rows of surface and emotional texts)."""


def test_a_poisoned_import_is_held_in_quarantine_with_a_reason_and_not_trained_on(loop, tmp_path):
    _, _, store, make_check = loop
    report = import_labels(store, write_rows(tmp_path / "poison.csv", POISON), make_check=make_check)
    assert report.added == 0 and store.current() == []
    (held,) = report.admission.held
    assert held.labels == len(POISON)
    assert held.reason.startswith("100% growth against 33% in the reference")
    assert "the active model (v1) disagrees with 100% at ≥ 0.9 confidence" in held.reason
    assert "audit disagrees with" in held.reason
    (batch,) = store.quarantine_batches()
    assert (batch.id, batch.reason, batch.source) == (held.batch_id, held.reason, "import:poison.csv")


def test_accepted_poison_trains_a_candidate_the_gold_set_refuses(loop, tmp_path, toy_data):
    registry, settings, store, make_check = loop
    report = import_labels(store, write_rows(tmp_path / "poison.csv", POISON), make_check=make_check)
    store.decide(report.admission.held[0].batch_id, accept=True, by="careless admin")
    outcome = retrain(registry, toy_data, store, settings, log=lambda _: None)
    assert not outcome.promoted and registry.active() == "v1"
    assert "gold needs_macro_f1" in outcome.decision.refused_by
    gold_reason = next(r for r in outcome.decision.reasons if r.startswith("gold needs_macro_f1"))
    assert gold_reason.endswith("worse beyond tolerance")
    sources = {row["group"] for row in outcome.comparison["by_source"] if row["set"] == "new-labels"}
    assert sources == {"import:poison.csv"}
    assert "NOT PROMOTED: worse than the active model beyond the tolerance on gold needs_macro_f1" in (
        outcome.report_dir / "report.md"
    ).read_text(encoding="utf-8")


def test_an_honest_import_is_admitted_and_its_candidate_promoted(loop, tmp_path, toy_data):
    registry, settings, store, make_check = loop
    rows = [(*row, f"annotator-{i % 3}") for i, row in enumerate(new_toy_rows(20, 2))]
    path = write_rows(tmp_path / "honest.csv", rows, ("text", "needs", "cause", "who"))
    report = import_labels(store, path, LabelColumns(annotator="who"), make_check=make_check)
    assert report.added == 60 and not report.admission.held
    assert set(report.admission.checks) == {"batch", *(f"annotator annotator-{i}" for i in range(3))}
    outcome = retrain(registry, toy_data, store, settings, log=lambda _: None)
    assert outcome.promoted and registry.active() == outcome.candidate
    assert set(outcome.comparison["sets"]) == {"gold", "new-labels"}


def test_the_bootstraps_weighted_f1s_equal_sklearns_on_the_resampled_texts():
    import numpy as np

    from training.metrics import macro_f1s, weighted_macro_f1s

    rng = np.random.default_rng(1)
    need_true = (rng.random((200, 3)) < [0.9, 0.3, 0.0]).astype(np.int64)  # growth never true: F1 0 by convention
    need_pred = (rng.random((200, 3)) < [0.9, 0.3, 0.02]).astype(np.int64)
    cause_true = rng.integers(0, 3, 200)
    cause_pred = np.where(rng.random(200) < 0.7, cause_true, rng.integers(0, 3, 200))
    draws = rng.integers(0, 200, (5, 200))
    weights = np.stack([np.bincount(d, minlength=200) for d in draws]).astype(np.float64)
    fast = weighted_macro_f1s(weights, need_true, need_pred, cause_true, cause_pred)
    slow = [macro_f1s(need_true[d], need_pred[d], cause_true[d], cause_pred[d]) for d in draws]
    np.testing.assert_allclose(fast, np.stack(slow))
