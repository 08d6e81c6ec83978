"""Label a batch so that a text the model chokes on costs only its own row, and a broken model stops the job.

``validate_text`` refuses what it knows to be unclassifiable, but a batch can still fail for
a reason tied to one text (a tokenizer or encoder bug on some input). Then the batch is
labeled text by text and each failing text becomes an error row. Whether a failure is the
text's or the model's is settled by a canary: a plain text every working model labels. A
model that fails on the canary too, a lost worker process or an I/O error stops the job with
one line; the journal keeps every finished row for the rerun.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from classifier.inference import TextProblem

LabelFields = dict[str, Any]
BatchLabeler = Callable[[list[str]], list[LabelFields]]
CANARY = "屏幕坏了要求换货"
MODEL_ERROR = "model_error"
_SYSTEMIC = (OSError, BrokenProcessPool)
"""Failures of the machine or of a worker process, never of one text."""


class LabelingStopped(RuntimeError):
    """The model cannot label anything now; the message says why in one line."""


def label_isolating_failures(label: BatchLabeler, texts: list[str]) -> list[LabelFields | TextProblem]:
    """Each text's label fields, or the ``TextProblem`` (code ``model_error``) of a text the model failed on."""
    if not texts:
        return []
    try:
        return list(label(texts))
    except _SYSTEMIC as exc:
        raise LabelingStopped(_one_line("labeling failed", exc)) from exc
    except Exception:  # anything else may be one text's fault: find out which
        return _text_by_text(label, texts)


def _text_by_text(label: BatchLabeler, texts: list[str]) -> list[LabelFields | TextProblem]:
    try:
        label([CANARY])
    except Exception as exc:
        raise LabelingStopped(_one_line("the model fails even on a plain text", exc)) from None
    return [_label_one(label, text) for text in texts]


def _label_one(label: BatchLabeler, text: str) -> LabelFields | TextProblem:
    try:
        return label([text])[0]
    except _SYSTEMIC as exc:
        raise LabelingStopped(_one_line("labeling failed", exc)) from exc
    except Exception as exc:
        return TextProblem(MODEL_ERROR, _one_line("the model failed on this text", exc))


def _one_line(what: str, exc: BaseException, limit: int = 300) -> str:
    detail = " ".join(f"{type(exc).__name__}: {exc}".split())
    return f"{what} ({detail[:limit]}{'…' if len(detail) > limit else ''})"
