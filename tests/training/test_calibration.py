import numpy as np

from classifier.decisions import decide_needs
from training.calibration import fit_cause_temperature, fit_need_temperatures, tune_thresholds
from training.metrics import expected_calibration_error


def test_cause_temperature_recovers_an_overconfident_scale():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 3)) * 2
    probs = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(3, p=p) for p in probs])
    fitted = fit_cause_temperature(true_logits * 3.0, labels)  # the model is 3x overconfident
    assert 2.6 < fitted < 3.4


def test_need_temperatures_are_per_label():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4000, 3)) * 2
    labels = (rng.random((4000, 3)) < 1 / (1 + np.exp(-logits))).astype(int)
    fitted = fit_need_temperatures(logits * np.array([1.0, 2.0, 0.5]), labels)
    assert np.allclose(fitted, [1.0, 2.0, 0.5], rtol=0.15)


def test_thresholds_move_to_where_f1_is_best():
    probs = np.array([[0.30], [0.35], [0.32], [0.10], [0.05], [0.08]]).repeat(3, axis=1)
    truth = np.array([[1], [1], [1], [0], [0], [0]]).repeat(3, axis=1)
    assert all(0.10 < t <= 0.30 for t in tune_thresholds(probs, truth))


def test_every_text_gets_at_least_one_need():
    probs = np.array([[0.2, 0.1, 0.05], [0.9, 0.8, 0.05]])
    chosen = decide_needs(probs, [0.5, 0.5, 0.08])
    assert chosen[0].tolist() == [False, False, True]  # growth is nearest its own (low) bar
    assert chosen[1].tolist() == [True, True, False]


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_not():
    confidence = np.full(1000, 0.8)
    correct = np.arange(1000) < 800
    assert expected_calibration_error(confidence, correct) < 1e-9
    assert abs(expected_calibration_error(np.full(1000, 0.99), correct) - 0.19) < 1e-9
