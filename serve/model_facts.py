"""What /v1/model says about the served model: read once, when the model is opened.

Version, base model, label schema, thresholds and temperatures come from the loaded model;
the training data and the held-out scores from the files training wrote beside it, so a
client can tell which model answered and how well it did on the evaluation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from classifier.inference import Predictor
from classifier.labels import CAUSES, CHINESE_NAMES, NEEDS, SCHEMA_VERSION
from classifier.model_dir import TRAINING_FACTS, read_json_file


def model_facts(predictor: Predictor) -> dict[str, Any]:
    config = predictor.config
    model_dir = predictor.model_dir or Path()
    training = read_json_file(model_dir / TRAINING_FACTS)
    metrics = read_json_file(model_dir / "metrics.json")
    summary_keys = ("n", "needs_macro_f1", "cause_accuracy", "cause_macro_f1", "needs_ece", "cause_ece")
    return {
        "version": predictor.version,
        "base_model": config.base_model,
        "base": config.base_facts,
        "label_schema": {
            "version": SCHEMA_VERSION,
            "needs": {str(n): CHINESE_NAMES[n] for n in NEEDS},
            "causes": {str(c): CHINESE_NAMES[c] for c in CAUSES},
        },
        "thresholds": dict(zip(config.needs, config.need_thresholds, strict=True)),
        "temperatures": {
            "needs": dict(zip(config.needs, config.need_temperatures, strict=True)),
            "cause": config.cause_temperature,
        },
        "training_data": training.get("data"),
        "evaluation": {
            "data": metrics.get("data", {}).get("path"),
            "model": {k: metrics.get("model", {}).get(k) for k in summary_keys} if metrics else None,
            "baseline": {k: (metrics.get("baseline") or {}).get(k) for k in summary_keys} if metrics else None,
        },
    }
