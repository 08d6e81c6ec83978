"""bench.real_accuracy on a set that lacks a label: the target is missed, not met by a NaN."""

import numpy as np

from bench.real_accuracy import print_table
from training.metrics import classification_metrics, f1_intervals

# needs: surface, emotional, growth; causes: system_error, perception_mismatch, none
NEEDS = np.array([[1, 0, 0], [1, 0, 1]] * 10)
CAUSES = np.array([0, 1, 2, 0] * 5)


def test_a_set_without_emotional_texts_misses_the_emotional_target_and_prints_no_interval(capsys):
    report = {
        "model": classification_metrics(NEEDS, NEEDS, CAUSES, CAUSES),
        "baseline": classification_metrics(NEEDS, NEEDS, CAUSES, CAUSES),
        "intervals": f1_intervals(NEEDS, CAUSES, (NEEDS, CAUSES), (NEEDS, CAUSES), 20),
    }
    missed = print_table("twenty texts", report)
    assert any(m.startswith("emotional_f1: undefined") for m in missed)
    assert "emotional –" in capsys.readouterr().out
