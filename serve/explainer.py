"""Explain requests: their own bounded pool beside the micro-batcher, never in its queue.

Explaining one text runs the model over every one-word-removed variant of it: hundreds of
times a plain pass. In the micro-batcher such a pass held its single model thread for
seconds and every plain request queued behind it. Here explain requests run on their own
threads (``concurrency`` at once, ``max_waiting`` more may wait; beyond that 503), and their
model calls, in small passes of ``pass_tokens``, yield to plain passes at the ``ModelGate``. A request whose caller gives up
(its deadline) stops at its next model call instead of running to the end for nobody.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from classifier.inference import Prediction, Predictor
from serve.batcher import Overloaded
from serve.model_gate import Abandoned, ModelGate, gated


class ExplainPool:
    def __init__(
        self, predictor: Predictor, gate: ModelGate, concurrency: int, max_waiting: int, pass_tokens: int
    ) -> None:
        self.predictor, self.gate, self.pass_tokens = predictor, gate, pass_tokens
        self.capacity = concurrency + max_waiting
        self.pending = 0
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="needlens-explain")

    async def submit(self, texts: Sequence[str]) -> list[Prediction]:
        if self.pending >= self.capacity:
            raise Overloaded(f"{self.pending} explain requests already running or waiting (limit {self.capacity})")
        abandoned = threading.Event()
        self.pending += 1
        work = asyncio.get_running_loop().run_in_executor(self._executor, self._explain, texts, abandoned)
        work.add_done_callback(self._finished)
        try:
            return await asyncio.shield(work)  # a cancelled caller must not hide the thread still running
        except asyncio.CancelledError:
            abandoned.set()
            raise

    def _explain(self, texts: Sequence[str], abandoned: threading.Event) -> list[Prediction]:
        if abandoned.is_set():  # its caller gave up while it waited for a thread
            raise Abandoned
        explaining = gated(self.predictor, self.gate, urgent=False, abandoned=abandoned, batch_tokens=self.pass_tokens)
        return explaining.predict(texts, explain=True)

    def _finished(self, work: asyncio.Future[list[Prediction]]) -> None:
        self.pending -= 1
        if not work.cancelled():
            work.exception()  # retrieved here: an abandoned request's Abandoned has no one else to read it

    async def stop(self) -> None:
        """Let running explanations finish (a model swap or shutdown drains, it does not drop)."""
        await asyncio.to_thread(self._executor.shutdown, True)
