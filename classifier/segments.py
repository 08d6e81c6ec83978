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
