"""The bootstrap intervals of an evaluation report: the F1s' and the model's lead over its baseline."""

import numpy as np
from sklearn.metrics import f1_score

from training.metrics import f1_intervals, paired_bootstrap_delta, resample_weights, weighted_label_f1s


def _labels(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.random((n, 3)) < [0.9, 0.3, 0.05]).astype(np.int64), rng.integers(0, 3, n)


def _noisy(need_true: np.ndarray, cause_true: np.ndarray, wrong: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    flips = rng.random(need_true.shape) < wrong
    causes = np.where(rng.random(len(cause_true)) < wrong, rng.integers(0, 3, len(cause_true)), cause_true)
    return np.where(flips, 1 - need_true, need_true), causes


def test_each_labels_f1_over_resamples_is_sklearns_on_the_drawn_texts():
    need_true, cause_true = _labels(150)
    need_pred, cause_pred = _noisy(need_true, cause_true, 0.2, seed=4)
    rng = np.random.default_rng(0)
    draws = rng.integers(0, 150, (4, 150))
    weights = np.stack([np.bincount(d, minlength=150) for d in draws]).astype(np.float64)
    fast = weighted_label_f1s(weights, need_true, need_pred, cause_true, cause_pred)
    for row, d in zip(fast, draws, strict=True):
        needs = f1_score(need_true[d], need_pred[d], average=None, zero_division=0)
        causes = f1_score(cause_true[d], cause_pred[d], labels=[0, 1, 2], average=None, zero_division=0)
        np.testing.assert_allclose(row, np.concatenate([needs, causes]))


def test_resamples_are_the_seeds_and_count_every_text_drawn():
    first = np.concatenate(list(resample_weights(40, 300, seed=7)))
    again = np.concatenate(list(resample_weights(40, 300, seed=7)))
    assert first.shape == (300, 40) and np.array_equal(first, again)
    assert (first.sum(axis=1) == 40).all()
    assert not np.array_equal(first, np.concatenate(list(resample_weights(40, 300, seed=8))))


def test_intervals_hold_the_figure_and_narrow_as_texts_grow():
    widths = {}
    for n in (100, 2000):
        need_true, cause_true = _labels(n)
        preds = _noisy(need_true, cause_true, 0.2, seed=5)
        out = f1_intervals(need_true, cause_true, preds, None, samples=400)
        low, high = out["model"]["cause_macro_f1"]
        point = f1_score(cause_true, preds[1], average="macro")
        assert low < point < high
        assert "model_minus_baseline" not in out
        widths[n] = high - low
    assert widths[2000] < widths[100] / 2


def test_the_lead_over_the_baseline_is_paired_and_says_when_the_texts_cannot_tell():
    need_true, cause_true = _labels(400)
    good, bad = _noisy(need_true, cause_true, 0.05, seed=1), _noisy(need_true, cause_true, 0.4, seed=2)
    lead = f1_intervals(need_true, cause_true, good, bad, samples=400)["model_minus_baseline"]
    assert lead["cause_macro_f1"][0] > 0 and lead["emotional"][0] > 0  # clearly better: the interval excludes 0
    same = f1_intervals(need_true, cause_true, good, good, samples=400)["model_minus_baseline"]
    assert same["cause_macro_f1"] == [0.0, 0.0]  # paired: one model against itself differs in no resample
    close = _noisy(need_true, cause_true, 0.06, seed=9)
    low, high = f1_intervals(need_true, cause_true, good, close, samples=400)["model_minus_baseline"]["cause_macro_f1"]
    assert low < 0 < high


def test_the_gates_paired_interval_is_what_it_was_before_the_resampling_was_shared():
    # figures of the gate's implementation before `resample_weights` (58419d1), same inputs and seed
    need_true, cause_true = _labels(300)
    older, newer = _noisy(need_true, cause_true, 0.2, seed=1), _noisy(need_true, cause_true, 0.15, seed=2)
    interval = paired_bootstrap_delta(need_true, cause_true, older, newer, 500, seed=3)
    np.testing.assert_allclose(interval, [[0.0097633, 0.0988789], [-0.00941919, 0.06795265]], rtol=1e-6)
