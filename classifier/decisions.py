"""Need probabilities to need decisions, the one way every model and baseline makes them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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
