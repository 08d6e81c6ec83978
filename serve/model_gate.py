"""One model call at a time, plain requests first.

The service runs the model from two places: the micro-batcher's thread (plain requests,
milliseconds per pass) and the explain pool (occlusion passes, seconds per request). Two
forward passes at once would only split the cores between them (each uses torch's
intra-op threads; the token-feature cache serialises them anyway, through an unfair lock),
so every call to the model's runner takes this gate. A waiting plain pass goes next; an
explain pass goes only when no plain pass waits. A plain request therefore waits at most for
the one explain pass in progress (bounded by ``explain_batch_tokens``), never for a
whole explain request.

An explain request whose caller has gone stops at its next pass (``Abandoned``).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from classifier.encoders.base import TokenBatch
from classifier.inference import Predictor
from classifier.runtime import LogitsRunner


class Abandoned(Exception):
    """The request this work was for has gone; its remaining passes are skipped."""


class ModelGate:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._busy = False
        self.urgent_waiting = 0

    @contextmanager
    def hold(self, urgent: bool) -> Iterator[None]:
        with self._changed:
            if urgent:
                self.urgent_waiting += 1
                try:
                    self._changed.wait_for(lambda: not self._busy)
                finally:
                    self.urgent_waiting -= 1
            else:
                self._changed.wait_for(lambda: not self._busy and not self.urgent_waiting)
            self._busy = True
        try:
            yield
        finally:
            with self._changed:
                self._busy = False
                self._changed.notify_all()


class GatedRunner:
    """A runner that takes the gate for each token batch (and gives up if its request has gone)."""

    def __init__(
        self, runner: LogitsRunner, gate: ModelGate, urgent: bool, abandoned: threading.Event | None = None
    ) -> None:
        self.runner, self.gate, self.urgent, self.abandoned = runner, gate, urgent, abandoned

    def __call__(self, batch: TokenBatch) -> tuple[np.ndarray, np.ndarray]:
        with self.gate.hold(self.urgent):
            if self.abandoned is not None and self.abandoned.is_set():
                raise Abandoned
            return self.runner(batch)


def gated(
    predictor: Predictor,
    gate: ModelGate,
    urgent: bool,
    abandoned: threading.Event | None = None,
    batch_tokens: int | None = None,
) -> Predictor:
    """The same predictor (model and cache shared) whose model calls go through ``gate``, in
    passes of at most ``batch_tokens`` padded tokens when given."""
    view = copy.copy(predictor)
    view.runner = GatedRunner(predictor.runner, gate, urgent, abandoned)
    if batch_tokens is not None:
        view.settings = predictor.settings.model_copy(update={"batch_tokens": batch_tokens})
    return view
