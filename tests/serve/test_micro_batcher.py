"""Micro-batching semantics, with a fake model so timing is under the test's control."""

import asyncio
import time

import pytest

from classifier.inference import Prediction
from serve.batcher import MicroBatcher, Overloaded


def fake_predict(calls):
    def predict(texts, explain=False):
        calls.append(list(texts))
        time.sleep(0.02)
        return [Prediction([t], {}, "none", {}, False) for t in texts]

    return predict


def run(coro):
    return asyncio.run(coro)


def test_concurrent_requests_share_forward_passes_and_get_their_own_answers():
    calls: list[list[str]] = []

    async def scenario():
        batcher = MicroBatcher(fake_predict(calls), max_texts=64, max_wait_s=0.01, max_queue_texts=100)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit([f"t{i}a", f"t{i}b"]) for i in range(10)))
        await batcher.stop()
        return results

    results = run(scenario())
    assert [[p.needs[0] for p in r] for r in results] == [[f"t{i}a", f"t{i}b"] for i in range(10)]
    assert len(calls) < 10  # shared passes
    assert sum(len(c) for c in calls) == 20


def test_without_micro_batching_each_request_runs_alone():
    calls: list[list[str]] = []

    async def scenario():
        batcher = MicroBatcher(fake_predict(calls), 64, 0.01, 100, enabled=False)
        batcher.start()
        await asyncio.gather(*(batcher.submit([f"t{i}"]) for i in range(5)))
        await batcher.stop()

    run(scenario())
    assert [len(c) for c in calls] == [1] * 5


def test_batches_respect_the_size_bound():
    calls: list[list[str]] = []

    async def scenario():
        batcher = MicroBatcher(fake_predict(calls), max_texts=4, max_wait_s=0.01, max_queue_texts=100)
        batcher.start()
        await asyncio.gather(*(batcher.submit(["x"]) for i in range(12)))
        await batcher.stop()

    run(scenario())
    assert max(len(c) for c in calls) <= 4


def test_full_queue_is_refused_not_buffered():
    async def scenario():
        batcher = MicroBatcher(fake_predict([]), max_texts=2, max_wait_s=0.0, max_queue_texts=3)
        batcher.start()
        waiting = [asyncio.create_task(batcher.submit(["a", "b"]))]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):
            await batcher.submit(["c", "d"])
        await asyncio.gather(*waiting)
        await batcher.stop()

    run(scenario())


def test_stop_drains_what_is_queued():
    calls: list[list[str]] = []

    async def scenario():
        batcher = MicroBatcher(fake_predict(calls), max_texts=1, max_wait_s=0.0, max_queue_texts=100)
        batcher.start()
        pending = [asyncio.create_task(batcher.submit([f"t{i}"])) for i in range(5)]
        await asyncio.sleep(0)
        await batcher.stop()
        return [task.result()[0].needs[0] for task in pending]

    assert run(scenario()) == [f"t{i}" for i in range(5)]


def test_a_model_failure_reaches_every_waiting_request():
    def broken(texts, explain=False):
        raise RuntimeError("boom")

    async def scenario():
        batcher = MicroBatcher(broken, 8, 0.01, 100)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit(["x"]) for _ in range(3)), return_exceptions=True)
        await batcher.stop()
        return results

    assert all(isinstance(r, RuntimeError) for r in run(scenario()))


def test_a_failing_shared_pass_is_retried_per_request_so_only_the_bad_request_fails():
    calls: list[list[str]] = []
    predict = fake_predict(calls)

    def choking(texts, explain=False):
        if "poison" in texts:
            calls.append(list(texts))
            raise RuntimeError("the tokenizer choked")
        return predict(texts)

    async def scenario():
        batcher = MicroBatcher(choking, max_texts=64, max_wait_s=0.05, max_queue_texts=100)
        batcher.start()
        requests = [["a", "b"], ["c"], ["d", "poison"], ["e"]]
        results = await asyncio.gather(*(batcher.submit(r) for r in requests), return_exceptions=True)
        await batcher.stop()
        return results

    results = run(scenario())
    assert len(calls[0]) == 6  # they did share a pass
    assert [[p.needs[0] for p in r] for r in (results[0], results[1], results[3])] == [["a", "b"], ["c"], ["e"]]
    assert isinstance(results[2], RuntimeError)


def test_a_request_whose_caller_has_gone_is_dropped_before_its_pass():
    calls: list[list[str]] = []

    async def scenario():
        batcher = MicroBatcher(fake_predict(calls), max_texts=64, max_wait_s=0.05, max_queue_texts=100)
        batcher.start()
        kept = asyncio.create_task(batcher.submit(["kept"]))
        gone = asyncio.create_task(batcher.submit(["gone"]))
        await asyncio.sleep(0)
        gone.cancel()  # its deadline passed while it waited for company
        await kept
        await batcher.stop()

    run(scenario())
    assert calls == [["kept"]]
