"""The one inference core: text in, calibrated probabilities and decided labels out.

The batch labeler, the HTTP service, evaluation and training's calibration step all call
these functions, so a text gets the same answer on every path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from classifier.labels import CAUSES, NEEDS
from classifier.modeling import NeedlensConfig, NeedlensModel


class TextProblem(ValueError):
    """Why a value cannot be classified: a stable ``code`` to count by and a message to read."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def validate_text(value: Any, max_chars: int) -> str:
    """Return the text to classify, or raise ``TextProblem`` saying what is wrong with it."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise TextProblem("missing", "text is missing")
    if not isinstance(value, str):
        raise TextProblem("not_text", f"text is not a string (got {type(value).__name__})")
    if not value.strip():
        raise TextProblem("empty", "text is empty")
    if len(value) > max_chars:
        raise TextProblem("too_long", f"text has {len(value)} characters, over the limit of {max_chars}")
    return value


@dataclass(frozen=True)
class Logits:
    """Raw model outputs for a list of texts, in input order."""

    needs: np.ndarray  # (n, len(NEEDS))
    cause: np.ndarray  # (n, len(CAUSES))
    truncated: list[bool]


@dataclass(frozen=True)
class Prediction:
    needs: list[str]
    need_probs: dict[str, float]
    cause: str
    cause_probs: dict[str, float]
    truncated: bool


def compute_logits(model: NeedlensModel, texts: Sequence[str], batch_size: int) -> Logits:
    """Run the model over texts in length-sorted batches, so padding stays small."""
    n = len(texts)
    need_out = np.zeros((n, len(NEEDS)), dtype=np.float32)
    cause_out = np.zeros((n, len(CAUSES)), dtype=np.float32)
    truncated = [False] * n
    if n == 0:
        return Logits(need_out, cause_out, truncated)
    order = np.argsort(model.encoder.token_counts(texts), kind="stable")
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            batch = model.encoder.tokenize([texts[i] for i in idx])
            need_logits, cause_logits = model(batch.input_ids, batch.attention_mask)
            need_out[idx] = need_logits.numpy()
            cause_out[idx] = cause_logits.numpy()
            for i, cut in zip(idx, batch.truncated, strict=True):
                truncated[i] = cut
    model.train(was_training)
    return Logits(need_out, cause_out, truncated)


def calibrated_probabilities(logits: Logits, config: NeedlensConfig) -> tuple[np.ndarray, np.ndarray]:
    """Temperature-scaled probabilities: per-label sigmoids for needs, a softmax for the cause."""
    need_t = np.asarray(config.need_temperatures, dtype=np.float64)
    need_probs = 1.0 / (1.0 + np.exp(-logits.needs / need_t))
    scaled = logits.cause / config.cause_temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    cause_probs = np.exp(scaled)
    cause_probs /= cause_probs.sum(axis=1, keepdims=True)
    return need_probs, cause_probs


def decide_needs(need_probs: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Threshold each need; the spec demands at least one, so an empty row takes its strongest need."""
    thresholds_arr = np.asarray(thresholds)
    chosen = need_probs >= thresholds_arr
    empty = ~chosen.any(axis=1)
    if empty.any():
        # "strongest" relative to its own threshold, so a rare label's low bar is respected
        best = np.argmax(need_probs[empty] / thresholds_arr, axis=1)
        chosen[np.flatnonzero(empty), best] = True
    return chosen


class Predictor:
    """A loaded model directory with its thresholds and temperatures, ready to label texts."""

    def __init__(self, model: NeedlensModel, batch_size: int = 64) -> None:
        self.model = model.eval()
        self.config = model.config
        self.batch_size = batch_size

    @classmethod
    def load(cls, model_dir: Path, batch_size: int = 64) -> Predictor:
        return cls(NeedlensModel.from_pretrained(model_dir), batch_size)

    @property
    def version(self) -> str:
        return str(self.config.model_version)

    def probabilities(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[bool]]:
        logits = compute_logits(self.model, texts, self.batch_size)
        need_probs, cause_probs = calibrated_probabilities(logits, self.config)
        return need_probs, cause_probs, logits.truncated

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        need_probs, cause_probs, truncated = self.probabilities(texts)
        chosen = decide_needs(need_probs, self.config.need_thresholds)
        causes = cause_probs.argmax(axis=1)
        return [
            Prediction(
                needs=[str(NEEDS[j]) for j in np.flatnonzero(chosen[i])],
                need_probs={str(label): float(need_probs[i, j]) for j, label in enumerate(NEEDS)},
                cause=str(CAUSES[causes[i]]),
                cause_probs={str(label): float(cause_probs[i, j]) for j, label in enumerate(CAUSES)},
                truncated=truncated[i],
            )
            for i in range(len(texts))
        ]
