"""`needlens train` end to end: data → split → fine-tune → calibrate → evaluate → model directory.

The directory is written under a temporary name and renamed into place, so an interrupted
run never leaves a half-written model where inference would load it.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset, concatenate_datasets

from classifier.errors import OutputPathError
from classifier.inference import Predictor, calibrated_probabilities, compute_logits
from classifier.labels import LabeledRecord, text_key
from classifier.lexical import TfidfBaseline, mix_probabilities
from classifier.model_dir import TRAINING_FACTS, is_registered_version, is_trained_model
from classifier.modeling import NeedlensModel
from classifier.output_paths import check_replaceable_folder, write_failure
from classifier.runtime import float32_runner
from classifier.settings import TrainingSettings
from training.calibration import (
    fit_cause_review_floor,
    fit_cause_temperature,
    fit_lexical_weight,
    fit_need_temperatures,
    fit_review_bands,
    tune_thresholds,
)
from training.data import (
    Split,
    conflict_notes,
    describe_paths,
    fingerprint,
    label_arrays,
    read_held_out,
    read_records,
    split_dataset,
    to_dataset,
)
from training.distill import read_soft_labels, soft_label_meta
from training.evaluate import evaluation_report
from training.model_card import render_model_card
from training.report import write_report
from training.trainer import EpochRecord, TrainResult, fine_tune


def train_model(
    data_path: Path | Sequence[Path],
    out_dir: Path,
    settings: TrainingSettings,
    log: Callable[[str], None] = print,
    max_chars: int | None = None,
) -> dict[str, Any]:
    """Train on a JSONL file or directory; returns the validation report. ``max_chars`` as ``read_records`` takes it."""
    return train_on_records(read_records(data_path, max_chars), describe_paths(data_path), out_dir, settings, log)


def train_on_records(
    records: list[LabeledRecord],
    data_description: str,
    out_dir: Path,
    settings: TrainingSettings,
    log: Callable[[str], None] = print,
    judged_texts: Iterable[str] = (),
) -> dict[str, Any]:
    """Train, calibrate and save a model; returns its validation report. ``judged_texts``: texts
    the model will be judged on elsewhere (the retraining gate's sets), kept out of the soft labels."""
    if is_registered_version(out_dir):
        raise OutputPathError(
            f"{out_dir} is a version in a model registry; name a new folder (`needlens retrain` adds versions)"
        )
    check_replaceable_folder(out_dir, is_trained_model, "a needlens model")
    started = time.monotonic()
    split = split_dataset(to_dataset(records), settings.validation_fraction, settings.seed)
    log(
        f"data: {len(records)} records from {data_description} → {len(split.train)} train / {len(split.validation)} validation"
    )
    for note in conflict_notes(records):
        log(note)
    fit_on, soft_facts = training_set(records, split, settings, log, judged_texts)
    model, result = fit(fit_on, split.validation, settings, log)
    lexical = fit_lexical(fit_on, settings.seed, settings.cause_weight_power)
    calibrate(model, split.validation, settings, lexical)
    training_facts = describe_training(
        records, data_description, split, settings, result, soft_facts, time.monotonic() - started
    )
    data_fp = training_facts["data"]["fingerprint"]
    model.config.model_version = new_model_version(data_fp)
    validation_facts = {
        "path": f"{data_description} (validation split)",
        "fingerprint": data_fp,
        "note": "Validation split: it also set thresholds, temperatures and the TF-IDF weight.",
    }
    report = write_model_dir(model, lexical, split, training_facts, validation_facts, out_dir)
    log(f"saved {model.config.model_version} to {out_dir} in {time.monotonic() - started:.0f} s")
    return report


def describe_training(
    records: list[LabeledRecord],
    data_description: str,
    split: Split,
    settings: TrainingSettings,
    result: TrainResult,
    soft_facts: dict[str, Any] | None,
    seconds: float,
) -> dict[str, Any]:
    """What ``training.json`` says of a run: its data, split, recipe, epochs and where it ran."""
    return {
        "data": {"path": data_description, "records": len(records), "fingerprint": fingerprint(records)},
        "soft_labels": soft_facts,
        "split": {
            "train": len(split.train),
            "validation": len(split.validation),
            "validation_ids": split.validation["id"][:],
        },
        "settings": settings.model_dump(mode="json"),
        "best_epoch": result.best_epoch,
        "device": result.device,
        "bfloat16": result.bfloat16,
        "history": [asdict(h) for h in result.history],
        "seconds": seconds,
        "torch": torch.__version__,
    }


def new_model_version(data_fingerprint: str) -> str:
    """Time (so versions sort), data fingerprint, and a random tag: two runs on the same data in
    the same second (a quick retrain, a forced one) must still get distinct registry names."""
    return f"needlens-{datetime.now(UTC):%Y%m%d-%H%M%S}-{data_fingerprint[:8]}-{secrets.token_hex(2)}"


def training_set(
    records: list[LabeledRecord],
    split: Split,
    settings: TrainingSettings,
    log: Callable[[str], None],
    judged_texts: Iterable[str] = (),
) -> tuple[Dataset, dict[str, Any] | None]:
    """The training split plus the teacher's soft labels, when the recipe has them, and what soft
    labels it used. A text with a person's label, one the model is judged on, or one of the
    held-out test texts never comes in as a soft label: the teacher's reading of a text the
    candidate is measured on would teach it its yardstick."""
    if settings.soft_labels is None or settings.soft_label_texts == 0:
        return split.train, None
    known = {text_key(r.text) for r in (*records, *read_held_out(settings.held_out_data))} | {
        text_key(t) for t in judged_texts
    }
    soft = read_soft_labels(settings.soft_labels, settings.soft_label_texts, settings.seed, known)
    log(
        f"soft labels: {len(soft)} texts from {settings.soft_labels} (weight {settings.soft_label_weight}; "
        "`needlens train --no-soft-labels` leaves them out)"
    )
    facts = {
        **soft_label_meta(settings.soft_labels),
        "path": str(settings.soft_labels),
        "used": len(soft),
        # which pool texts: a test set drawn from the pool later must leave these out
        "ids": sorted(row_id.removeprefix("soft-") for row_id in soft["id"]),
    }
    return concatenate_datasets([split.train, soft]), facts


def fit(
    train: Dataset, validation: Dataset, settings: TrainingSettings, log: Callable[[str], None]
) -> tuple[NeedlensModel, TrainResult]:
    """Fine-tune a fresh model on ``train`` (a `training_set`); returns the model and its epochs."""
    model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
    if settings.freeze_word_embeddings:
        model.encoder.freeze_word_embeddings()

    def on_epoch(r: EpochRecord) -> None:
        log(f"epoch {r.epoch:2d}  loss {r.train_loss:.4f}  validation score {r.validation_score:.4f}")

    result = fine_tune(model, train, validation, settings, on_epoch)
    model.round_to_storage_precision()
    return model, result


def fit_lexical(train: Dataset, seed: int, cause_weight_power: float) -> TfidfBaseline:
    """The TF-IDF model on exactly what the network trained on: people's labels, and the
    teacher's probabilities where the recipe distils, with the network's cause weighting."""
    return TfidfBaseline(seed).fit(
        train["text"][:],
        np.asarray(train["needs"], dtype=np.float64),
        np.asarray(train["cause_probs"], dtype=np.float64),
        cause_weight_power,
    )


def calibrate(
    model: NeedlensModel, validation: Dataset, settings: TrainingSettings, lexical: TfidfBaseline | None = None
) -> None:
    """Temperatures, the TF-IDF weight (when ``lexical`` is given), thresholds and review bands,
    all fitted on the validation split, into the model's config (after rounding to storage
    precision, so they fit the weights that ship)."""
    config = model.config
    texts = validation["text"][:]
    logits = compute_logits(model, texts, settings.batch_size * 2, float32_runner(model, texts))
    need_true, cause_true = label_arrays(validation)
    config.need_temperatures = fit_need_temperatures(logits.needs, need_true)
    config.cause_temperature = fit_cause_temperature(logits.cause, cause_true)
    need_probs, cause_probs = calibrated_probabilities(logits, config)
    if lexical is not None:
        lexical_probs = lexical.probabilities(texts)
        network = (need_probs, cause_probs)
        config.lexical_weight = fit_lexical_weight(
            network, lexical_probs, need_true, cause_true, settings.lexical_weights
        )
        need_probs, cause_probs = mix_probabilities(network, lexical_probs, config.lexical_weight)
    config.need_thresholds = tune_thresholds(need_probs, need_true)
    target, cap = settings.review_target_accuracy, settings.review_max_fraction
    config.need_review_bands = fit_review_bands(need_probs, need_true, config.need_thresholds, target, cap)
    config.cause_review_below = fit_cause_review_floor(cause_probs, cause_true, target, cap)


def write_model_dir(
    model: NeedlensModel,
    lexical: TfidfBaseline,
    split: Split,
    training_facts: dict[str, Any],
    validation_facts: dict[str, Any],
    out_dir: Path,
) -> dict[str, Any]:
    """Weights, the TF-IDF model fitted on the same split (the reports' baseline, and part of the
    model where calibration gave it weight), training facts, the validation report and the model
    card, staged beside ``out_dir`` and swapped in whole; returns the report."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        model.save_pretrained(staging)
        lexical.save(staging)
        (staging / TRAINING_FACTS).write_text(
            json.dumps(training_facts, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        report = evaluation_report(
            Predictor(model, model_dir=staging, lexical=lexical), staging, split.validation, validation_facts
        )
        (staging / "metrics.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        write_report(report, staging / "reports" / "validation")
        (staging / "README.md").write_text(render_model_card(model.config, training_facts, report), encoding="utf-8")
        _replace_dir(staging, out_dir)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise write_failure(exc, out_dir, staging) from exc
    return report


def _replace_dir(new: Path, target: Path) -> None:
    """Swap ``new`` in for ``target`` with renames only, so readers see the old or the new model."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)
