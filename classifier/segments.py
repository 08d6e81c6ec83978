"""Splitting long feedback (interview notes, multi-part complaints) into sentence segments.

A long text mixes several needs and grievances; classifying it whole averages them away.
Segments keep their character offsets so an analyst can see which part said what.
"""

from __future__ import annotations

import re

_SENTENCE = re.compile(r"[^。！？；!?;…\n]+[。！？；!?;…]*|\n+")


def split_segments(text: str, min_chars: int) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` covering the text's content; fragments shorter than
    ``min_chars`` join the segment before them (or after, at the start)."""
    spans: list[tuple[int, int]] = []
    for match in _SENTENCE.finditer(text):
        piece = match.group()
        stripped = piece.strip()
        if not stripped:
            continue
        start = match.start() + piece.index(stripped[0])
        spans.append((start, start + len(stripped)))
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and (end - start < min_chars or merged[-1][1] - merged[-1][0] < min_chars):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged or [(0, len(text))]


_SOFT_BREAK = re.compile(r"[，,、：:\s]")


def split_long_span(text: str, limit: int) -> list[tuple[int, int]]:
    """Pieces ``(start, end)`` of at most ``limit`` characters covering ``text``, each cut after the
    last comma, colon or space of its window when one lies in the window's second half (a clause
    kept whole), else at ``limit``."""
    pieces, start = [], 0
    while len(text) - start > limit:
        window = text[start : start + limit]
        breaks = [m.end() for m in _SOFT_BREAK.finditer(window) if m.end() > limit // 2]
        end = start + (breaks[-1] if breaks else limit)
        pieces.append((start, end))
        start = end
    return [*pieces, (start, len(text))] if start < len(text) else pieces
