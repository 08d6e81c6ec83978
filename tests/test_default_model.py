"""Slow: the default model, trained from the bundled data exactly as `make demo` does."""

from pathlib import Path

import pytest

from classifier.settings import TrainingSettings
from training.pipeline import train_model

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_default_model_beats_its_baseline_on_validation(tmp_path):
    report = train_model(ROOT / "data" / "seed", tmp_path / "model", TrainingSettings(), log=print)
    model, baseline = report["model"], report["baseline"]
    assert model["needs_macro_f1"] > baseline["needs_macro_f1"]
    assert model["cause_macro_f1"] > baseline["cause_macro_f1"]
    assert model["cause_ece"] < 0.1
