"""The one inference core: text in, calibrated probabilities and decided labels out.

The batch labeler, the HTTP service, evaluation and training's calibration step all call
these functions, so a text gets the same answer on every path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from classifier.decisions import decide_needs
from classifier.encoders.base import length_batches
from classifier.errors import ModelLoadError
from classifier.evidence import Span, occlusion_drops, top_spans
from classifier.labels import CAUSES, LONE_SURROGATE, NEEDS, VISIBLE_CHARACTER, Cause
from classifier.lexical import FILE_NAME as LEXICAL_FILE
from classifier.lexical import TfidfBaseline, mix_probabilities
from classifier.model_dir import resolve_model_dir
from classifier.modeling import NeedlensConfig, NeedlensModel
from classifier.runtime import LogitsRunner, TorchRunner, make_runner
from classifier.segments import split_long_span, split_segments
from classifier.settings import Settings


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
    if len(value) > max_chars:
        raise TextProblem("too_long", f"text has {len(value)} characters, over the limit of {max_chars}")
    surrogate = LONE_SURROGATE.search(value)
    if surrogate:
        raise TextProblem(
            "invalid_unicode",
            f"text has a lone surrogate (U+{ord(surrogate.group()):04X}) at character {surrogate.start()}: not valid Unicode",
        )
    if not VISIBLE_CHARACTER.search(value):
        raise TextProblem("empty", "text is empty (only white space, NUL or other control characters)")
    return value


@dataclass(frozen=True)
class Logits:
    """Raw model outputs for a list of texts, in input order."""

    needs: np.ndarray  # (n, len(NEEDS))
    cause: np.ndarray  # (n, len(CAUSES))
    truncated: list[bool]


@dataclass(frozen=True)
class Segment:
    """One sentence-level part of a long text, with its own labels."""

    start: int
    end: int
    needs: list[str]
    need_probs: dict[str, float]
    cause: str
    cause_probs: dict[str, float]


@dataclass(frozen=True)
class Prediction:
    needs: list[str]
    need_probs: dict[str, float]
    cause: str
    cause_probs: dict[str, float]
    truncated: bool
    needs_review: list[str] = field(default_factory=list)
    """Labels whose probability sits inside the review band (``"cause"`` for the cause)."""
    evidence: dict[str, list[Span]] | None = None
    segments: list[Segment] | None = None


@dataclass
class DocumentScores:
    """Document-level arrays for a list of texts: what ``predict`` and evaluation both read."""

    need_probs: np.ndarray  # (n, 3)
    cause_probs: np.ndarray  # (n, 3)
    needs: np.ndarray  # (n, 3) bool
    cause: np.ndarray  # (n,) index into CAUSES
    review: np.ndarray  # (n, 4) bool: each need, then the cause
    truncated: list[bool]
    units: list[list[tuple[int, int]]]  # per text, the (start, end) of each classified unit
    unit_rows: list[list[int]]  # per text, its rows in the unit arrays below
    unit_need_probs: np.ndarray
    unit_cause_probs: np.ndarray


def compute_logits(
    model: NeedlensModel,
    texts: Sequence[str],
    batch_size: int,
    runner: LogitsRunner | None = None,
    batch_tokens: int | None = None,
) -> Logits:
    """Run the model (through ``runner``, PyTorch by default) over texts in length-sorted batches,
    so padding stays small."""
    n = len(texts)
    need_out = np.zeros((n, len(NEEDS)), dtype=np.float32)
    cause_out = np.zeros((n, len(CAUSES)), dtype=np.float32)
    truncated = [False] * n
    if n == 0:
        return Logits(need_out, cause_out, truncated)
    run = runner or TorchRunner(model)
    was_training = model.training
    model.eval()
    for idx, batch in length_batches(model.encoder, texts, batch_size, batch_tokens):
        need_out[idx], cause_out[idx] = run(batch)
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


def pick_cause_unit(cause_probs: np.ndarray) -> int:
    """The unit a document's cause comes from: the most confident complaint, else the most
    confident non-complaint (a text is a complaint when any of its parts is)."""
    none = CAUSES.index(Cause.NONE)
    complaints = np.flatnonzero(cause_probs.argmax(axis=1) != none)
    if complaints.size:
        return int(complaints[np.argmax(1 - cause_probs[complaints, none])])
    return int(np.argmax(cause_probs[:, none]))


class Predictor:
    """A loaded model directory with its thresholds, temperatures and review bands, ready to label texts.

    Long texts (over ``segment_over_chars``, or over an encoder's window) are split into
    sentence segments; needs take the max over segments, the cause comes from the most
    confident complaint segment (``pick_cause_unit``). A model calibrated with a TF-IDF weight
    mixes the TF-IDF model's probabilities of the whole text into the document's; segments and
    evidence stay the network's own (a segment's needs are still cut at the document thresholds,
    which for such a model were fitted on the mix).
    """

    def __init__(
        self,
        model: NeedlensModel,
        settings: Settings | None = None,
        model_dir: Path | None = None,
        lexical: TfidfBaseline | None = None,
    ) -> None:
        self.model = model.eval()
        self.config = model.config
        self.settings = settings or Settings()
        self.model_dir = model_dir
        """The directory the model came from (a registry's active version, resolved)."""
        self.runner = make_runner(model, self.settings)
        if self.config.lexical_weight > 0 and lexical is None:
            raise ModelLoadError(
                f"{model_dir or 'this model'} mixes a TF-IDF model into its probabilities "
                f"(weight {self.config.lexical_weight}) but was given none ({LEXICAL_FILE} missing?)"
            )
        self.lexical = lexical
        """The TF-IDF model: mixed in when the config gives it weight, else only the reports' baseline."""

    @classmethod
    def load(cls, path: Path, settings: Settings | None = None) -> Predictor:
        """Load a model directory, or the active version of a registry."""
        model_dir = resolve_model_dir(path)
        model = NeedlensModel.from_pretrained(model_dir)
        lexical = TfidfBaseline.load(model_dir) if model.config.lexical_weight > 0 else None
        return cls(model, settings, model_dir, lexical)

    @property
    def version(self) -> str:
        return str(self.config.model_version)

    def probabilities(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[bool]]:
        """Calibrated probabilities of each text taken whole (no segmentation)."""
        logits = compute_logits(self.model, texts, self.settings.batch_size, self.runner, self.settings.batch_tokens)
        need_probs, cause_probs = calibrated_probabilities(logits, self.config)
        return need_probs, cause_probs, logits.truncated

    def _all_probabilities(self, texts: Sequence[str]) -> np.ndarray:
        need_probs, cause_probs, _ = self.probabilities(texts)
        return np.concatenate([need_probs, cause_probs], axis=1)

    def _units(self, text: str) -> list[tuple[int, int]]:
        window = self.model.encoder.window
        long = len(text) > self.settings.segment_over_chars or (
            window is not None and self.model.encoder.token_counts([text])[0] > window
        )
        return split_segments(text, self.settings.segment_min_chars) if long else [(0, len(text))]

    def score(self, texts: Sequence[str]) -> DocumentScores:
        units = [self._units(t) for t in texts]
        unit_texts = [t[s:e] for t, spans in zip(texts, units, strict=True) for s, e in spans]
        unit_need, unit_cause, unit_cut = self.probabilities(unit_texts)
        rows, offset = [], 0
        for spans in units:
            rows.append(list(range(offset, offset + len(spans))))
            offset += len(spans)
        need_probs = np.stack([unit_need[r].max(axis=0) for r in rows]) if rows else unit_need
        cause_probs = np.stack([unit_cause[r[pick_cause_unit(unit_cause[r])]] for r in rows]) if rows else unit_cause
        if self.lexical is not None and self.config.lexical_weight > 0 and rows:
            need_probs, cause_probs = mix_probabilities(
                (need_probs, cause_probs), self.lexical.probabilities(texts), self.config.lexical_weight
            )
        thresholds = np.asarray(self.config.need_thresholds)
        review = np.concatenate(
            [
                np.abs(need_probs - thresholds) <= np.asarray(self.config.need_review_bands),
                (cause_probs.max(axis=1) < self.config.cause_review_below)[:, None],
            ],
            axis=1,
        )
        return DocumentScores(
            need_probs=need_probs,
            cause_probs=cause_probs,
            needs=decide_needs(need_probs, thresholds),
            cause=cause_probs.argmax(axis=1),
            review=review,
            truncated=[any(unit_cut[i] for i in r) for r in rows],
            units=units,
            unit_rows=rows,
            unit_need_probs=unit_need,
            unit_cause_probs=unit_cause,
        )

    def predict(self, texts: Sequence[str], explain: bool = False) -> list[Prediction]:
        scores = self.score(texts)
        evidence = self._evidence(texts, scores) if explain else [None] * len(texts)
        return [self._prediction(scores, i, evidence[i]) for i in range(len(texts))]

    def _prediction(self, scores: DocumentScores, i: int, evidence: dict[str, list[Span]] | None) -> Prediction:
        review_labels = [*(str(n) for n in NEEDS), "cause"]
        segments = None
        if len(scores.units[i]) > 1:
            segments = [
                Segment(
                    start=s,
                    end=e,
                    needs=_need_names(
                        decide_needs(scores.unit_need_probs[row : row + 1], self.config.need_thresholds)[0]
                    ),
                    need_probs=_by_label(NEEDS, scores.unit_need_probs[row]),
                    cause=str(CAUSES[int(scores.unit_cause_probs[row].argmax())]),
                    cause_probs=_by_label(CAUSES, scores.unit_cause_probs[row]),
                )
                for (s, e), row in zip(scores.units[i], scores.unit_rows[i], strict=True)
            ]
        return Prediction(
            needs=_need_names(scores.needs[i]),
            need_probs=_by_label(NEEDS, scores.need_probs[i]),
            cause=str(CAUSES[scores.cause[i]]),
            cause_probs=_by_label(CAUSES, scores.cause_probs[i]),
            truncated=scores.truncated[i],
            needs_review=[label for label, flag in zip(review_labels, scores.review[i], strict=True) if flag],
            evidence=evidence,
            segments=segments,
        )

    def _evidence(self, texts: Sequence[str], scores: DocumentScores) -> list[dict[str, list[Span]]]:
        """Top spans for each predicted need and the predicted cause, from every unit of the text.

        A unit over ``segment_over_chars`` (one sentence without an end mark) is explained piece
        by piece (``split_long_span``): one word removed from thousands of characters moves the
        pooled vector by almost nothing, while every one-word-removed variant repeats the whole
        unit, so the cost would grow with the square of its length (`bench.explain_long`)."""
        limit = self.settings.segment_over_chars
        pieces: list[tuple[int, int, int | None]] = []  # start, end, the unit's row when the piece is the unit
        piece_texts: list[str] = []
        by_text: list[list[int]] = []
        for i, text in enumerate(texts):
            first = len(pieces)
            for (start, end), row in zip(scores.units[i], scores.unit_rows[i], strict=True):
                cut = (
                    [(start, end, row)]
                    if end - start <= limit
                    else [(start + a, start + b, None) for a, b in split_long_span(text[start:end], limit)]
                )
                pieces.extend(cut)
                piece_texts.extend(text[a:b] for a, b, _ in cut)
            by_text.append(list(range(first, len(pieces))))
        unit_base = np.concatenate([scores.unit_need_probs, scores.unit_cause_probs], axis=1)
        parts = [k for k, (_, _, row) in enumerate(pieces) if row is None]
        part_base = self._all_probabilities([piece_texts[k] for k in parts]) if parts else unit_base[:0]
        base = np.empty((len(pieces), unit_base.shape[1]))
        for k, (_, _, row) in enumerate(pieces):
            if row is not None:
                base[k] = unit_base[row]
        base[parts] = part_base
        drops = occlusion_drops(piece_texts, base, self._all_probabilities)
        k_spans = self.settings.evidence_spans
        out: list[dict[str, list[Span]]] = [{} for _ in texts]
        for i in range(len(texts)):
            columns = {str(NEEDS[j]): j for j in np.flatnonzero(scores.needs[i])}
            columns[str(CAUSES[scores.cause[i]])] = len(NEEDS) + int(scores.cause[i])
            for label, column in columns.items():
                candidates = [
                    span
                    for k in by_text[i]
                    if pieces[k][2] is not None or self._piece_says(base[k], column)
                    for span in top_spans(
                        piece_texts[k], drops[k][0], drops[k][1][:, column], k_spans, shift=pieces[k][0]
                    )
                ]
                out[i][label] = sorted(candidates, key=lambda span: -span.score)[:k_spans]
        return out

    def _piece_says(self, probabilities: np.ndarray, column: int) -> bool:
        """Whether a piece of a long unit says the label itself: a piece that does not can only
        offer words whose removal nudges a probability that was low anyway."""
        if column < len(NEEDS):
            return bool(probabilities[column] >= self.config.need_thresholds[column])
        return int(probabilities[len(NEEDS) :].argmax()) == column - len(NEEDS)


def _by_label(labels: Sequence[str], values: np.ndarray) -> dict[str, float]:
    return {str(label): float(values[j]) for j, label in enumerate(labels)}


def _need_names(chosen: np.ndarray) -> list[str]:
    return [str(NEEDS[j]) for j in np.flatnonzero(chosen)]
