"""Evidence for a tag by occlusion: remove one word, see how far that label's probability falls.

It measures the model itself rather than matching keywords. Every one-word-removed variant of
every text in a batch goes through a single batched forward pass, so explaining costs one
extra pass per text, not one per word per label.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jieba
import numpy as np

jieba.setLogLevel(logging.WARNING)

ProbabilityFn = Callable[[Sequence[str]], np.ndarray]
"""Texts → (n, n_labels) probabilities; the caller decides which labels the columns are."""


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str
    score: float  # how much removing this span lowers the label's probability


def word_spans(text: str) -> list[tuple[int, int]]:
    """jieba words with offsets, skipping whitespace and punctuation (removing them says nothing)."""
    spans = []
    for word, start, end in jieba.tokenize(text):
        if any(not unicodedata.category(ch).startswith(("P", "Z", "C")) for ch in word):
            spans.append((start, end))
    return spans


def occlusion_drops(
    texts: Sequence[str], base: np.ndarray, probabilities: ProbabilityFn
) -> list[tuple[list[tuple[int, int]], np.ndarray]]:
    """Per text: its word spans and the (n_spans, n_labels) drop in probability when each is removed."""
    spans = [word_spans(t) for t in texts]
    variants = [t[:s] + t[e:] for t, text_spans in zip(texts, spans, strict=True) for s, e in text_spans]
    occluded = probabilities(variants) if variants else np.zeros((0, base.shape[1]))
    out, offset = [], 0
    for i, text_spans in enumerate(spans):
        n = len(text_spans)
        out.append((text_spans, base[i] - occluded[offset : offset + n]))
        offset += n
    return out


def top_spans(text: str, spans: list[tuple[int, int]], drops: np.ndarray, k: int, shift: int = 0) -> list[Span]:
    """The ``k`` spans whose removal lowers the probability most (only those that lower it at all)."""
    order = np.argsort(-drops, kind="stable")[:k]
    return [
        Span(shift + spans[j][0], shift + spans[j][1], text[spans[j][0] : spans[j][1]], round(float(drops[j]), 6))
        for j in order
        if drops[j] > 0
    ]
