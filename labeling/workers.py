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
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # imported where used: a spawned worker watches its parent before torch loads
    from classifier.inference import Predictor
    from classifier.settings import Settings

PARENT_POLL_S = 1.0
"""How often a worker checks that the process that started it is alive."""

_predictor: Predictor | None = None


def exit_with_parent(parent_pid: int, poll_s: float = PARENT_POLL_S) -> threading.Thread:
    """Exit this process soon after ``parent_pid`` dies. A killed parent (SIGTERM, SIGKILL, the
    OOM killer) cannot shut its pool down, and an orphaned worker would sit on its model's
    memory forever, re-parented to PID 1. Polling ``os.getppid`` works on every POSIX system,
    unlike PR_SET_PDEATHSIG, which also fires when the parent thread that spawned the worker ends."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(1)  # no cleanup: nobody is left to hand results to

    watcher = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    watcher.start()
    return watcher


def _start_worker(parent_pid: int, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    """A worker's first step: tie its life to the parent's, then run the pool's own initializer
    (watching first, so a parent killed while the model loads does not leave it loading).

    Ctrl-C reaches the whole process group; the parent alone handles it (it keeps the finished
    rows and shuts the pool), so a worker ignores it instead of printing a traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


def spawn_pool(
    workers: int, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()
) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes that exit when this process dies, however it dies."""
    return ProcessPoolExecutor(
        workers,
        # spawn, not fork: a forked copy of an OpenMP runtime that already ran threads can hang
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(), initializer, initargs),
    )


def _start(model_dir: Path, settings: Settings) -> None:
    import torch

    from classifier.inference import Predictor

    torch.set_num_threads(settings.threads)
    global _predictor
    _predictor = Predictor.load(model_dir, settings)


def _label(texts: list[str], explain: bool) -> list[dict[str, Any]]:
    from labeling.rows import predicted_fields

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
        self.pool = spawn_pool(workers, _start, (model_dir, settings.model_copy(update={"threads": 1})))

    def label(self, texts: list[str], explain: bool) -> list[dict[str, Any]]:
        """The output-row label fields of each text, in input order."""
        parts = balanced_parts(texts, self.workers)
        return [row for part in self.pool.map(_label, parts, [explain] * len(parts)) for row in part]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
