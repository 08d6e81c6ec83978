"""Micro-batching: requests that arrive together share one forward pass.

Requests queue their texts; one worker takes everything waiting (up to ``max_texts``,
waiting at most ``max_wait`` for company), runs the model in a thread so the event loop
stays free, and hands each request its own predictions. The queue is bounded in texts:
past it, callers get ``Overloaded`` (the API answers 503 with Retry-After) instead of
memory growing without limit.

A request whose caller has gone (past its deadline) is dropped before its pass. When a
merged pass fails, each request is retried alone, so only the one that caused the failure
learns of it. Explaining is not done here (``serve.explainer``): its passes are hundreds of
times longer and would hold up every request queued behind them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from classifier.inference import Prediction


class Overloaded(RuntimeError):
    """The queue is full; retry later."""


@dataclass
class _Job:
    texts: Sequence[str]
    future: asyncio.Future[list[Prediction]] = field(repr=False)


class MicroBatcher:
    def __init__(
        self,
        predict: Callable[[list[str]], list[Prediction]],
        max_texts: int,
        max_wait_s: float,
        max_queue_texts: int,
        enabled: bool = True,
    ) -> None:
        self.predict = predict
        self.max_texts = max_texts
        self.max_wait_s = max_wait_s
        self.max_queue_texts = max_queue_texts
        self.enabled = enabled
        self.queued_texts = 0
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="needlens-model")
        self._worker: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Finish every queued request, then stop (graceful shutdown drains, it does not drop)."""
        self._closing = True
        if self._worker is not None:
            self._queue.put_nowait(None)
            await self._worker
            self._worker = None
        self._executor.shutdown(wait=True)

    async def submit(self, texts: Sequence[str]) -> list[Prediction]:
        if self._worker is None or self._closing:
            raise Overloaded("the model is not serving")
        if self.queued_texts + len(texts) > self.max_queue_texts:
            raise Overloaded(f"{self.queued_texts} texts already queued (limit {self.max_queue_texts})")
        job = _Job(texts, asyncio.get_running_loop().create_future())
        self.queued_texts += len(texts)
        self._queue.put_nowait(job)
        return await job.future

    async def _gather(self, first: _Job) -> tuple[list[_Job], bool]:
        """Jobs for one forward pass, and whether the stop sentinel was met while gathering."""
        jobs, n = [first], len(first.texts)
        if not self.enabled:
            return jobs, False
        deadline = asyncio.get_running_loop().time() + self.max_wait_s
        while n < self.max_texts:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if job is None:
                return jobs, True
            jobs.append(job)
            n += len(job.texts)
        return jobs, False

    async def _run(self) -> None:
        stopping = False
        while not stopping or not self._queue.empty():
            first = await self._queue.get()
            if first is None:
                stopping = True
                continue
            jobs, met_stop = await self._gather(first)
            stopping = stopping or met_stop
            self.queued_texts -= sum(len(job.texts) for job in jobs)
            await self._forward([job for job in jobs if not job.future.done()])

    async def _forward(self, jobs: list[_Job]) -> None:
        if not jobs:
            return
        texts = [t for job in jobs for t in job.texts]
        try:
            predictions = await asyncio.get_running_loop().run_in_executor(self._executor, self.predict, texts)
        except Exception as exc:
            if len(jobs) == 1:
                if not jobs[0].future.done():
                    jobs[0].future.set_exception(exc)
                return
            for job in jobs:  # one request's bad input must not fail the others that shared its pass
                await self._forward([job])
            return
        start = 0
        for job in jobs:
            if not job.future.done():  # the client may have gone away
                job.future.set_result(predictions[start : start + len(job.texts)])
            start += len(job.texts)
