"""Slow: the default model, trained from the bundled data exactly as `make demo` does."""

import pytest

from classifier.settings import Settings, profile_training
from training.pipeline import train_model


@pytest.mark.slow
def test_default_model_beats_its_baseline_on_real_validation_text(tmp_path):
    settings = Settings()
    training = profile_training(settings.training, "fast")
    report = train_model(settings.default_data, tmp_path / "model", training, log=print)
    model, baseline = report["model"], report["baseline"]
    assert model["needs_macro_f1"] > baseline["needs_macro_f1"]
    assert model["cause_macro_f1"] > baseline["cause_macro_f1"]
    assert model["cause_ece"] < 0.08
