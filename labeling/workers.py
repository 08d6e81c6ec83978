"""Label texts in several single-threaded processes, for machines where one process's
threads leave cores idle. On the 2-core machine two one-thread workers beat one two-thread
process by a quarter with eager PyTorch, and break even with the token-feature cache
(README, "Fast inference").

Each worker loads its own predictor (the embedding table is a shared memory map, so the
copies are the few-MB fine-tuned weights, each worker's token-feature cache and its
activations). Work is split by text length so the workers finish together, and results
come back in input order.
"""

from __future__ import annotations

import itertools
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from classifier.inference import Predictor
from classifier.settings import Settings
from labeling.rows import predicted_fields

_predictor: Predictor | None = None


def _start(model_dir: Path, settings: Settings) -> None:
    import torch

    torch.set_num_threads(settings.threads)
    global _predictor
    _predictor = Predictor.load(model_dir, settings)


def _label(texts: list[str], explain: bool) -> list[dict[str, Any]]:
    assert _predictor is not None
    return predicted_fields(_predictor, texts, explain)


def balanced_parts(texts: list[str], parts: int) -> list[list[str]]:
    """Contiguous slices of about equal total length (work grows with length)."""
    bounds = np.cumsum([len(t) for t in texts])
    cuts = np.searchsorted(bounds, [bounds[-1] * k / parts for k in range(1, parts)]) if texts else []
    edges = [0, *(int(c) + 1 for c in cuts), len(texts)]
    return [texts[a:b] for a, b in itertools.pairwise(edges) if b > a]


class WorkerPool:
    def __init__(self, model_dir: Path, settings: Settings, workers: int) -> None:
        self.workers = workers
        self.pool = ProcessPoolExecutor(
            workers,
            # spawn, not fork: a forked copy of an OpenMP runtime that already ran threads can hang
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(model_dir, settings.model_copy(update={"threads": 1})),
        )

    def label(self, texts: list[str], explain: bool) -> list[dict[str, Any]]:
        """The output-row label fields of each text, in input order."""
        parts = balanced_parts(texts, self.workers)
        return [row for part in self.pool.map(_label, parts, [explain] * len(parts)) for row in part]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
