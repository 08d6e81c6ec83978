"""The service pins glibc's mmap threshold, so large freed tensors go back to the system instead of
fragmenting a heap that only grows (bench/soak.py measures the effect over minutes)."""

import subprocess
import sys

import pytest

# In a child process: glibc state is per process, and pytest's own must not change.
PROBE = """
import ctypes, sys, tempfile
from pathlib import Path
from fastapi.testclient import TestClient
from classifier.settings import Settings
from serve.app import create_app

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
with tempfile.TemporaryDirectory() as tmp:
    settings = Settings(model_dir=Path(tmp) / "none", label_store=Path(tmp) / "l.db", mmap_threshold_kib=int(sys.argv[1]))
    with TestClient(create_app(settings)):
        libc.free(libc.malloc(8 << 20))  # freeing an 8 MB mapped block raises a floating threshold to 8 MB
        before = libc.mallinfo2().hblks
        block = libc.malloc(1 << 20)
        print(libc.mallinfo2().hblks - before)  # 1: the 1 MB block got its own map; 0: it came from the heap
        libc.free(block)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc")
@pytest.mark.parametrize(("threshold_kib", "mapped"), [(128, "1"), (0, "0")])
def test_the_service_keeps_large_allocations_out_of_the_heap(threshold_kib, mapped):
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(threshold_kib)], capture_output=True, text=True, timeout=120, check=True
    )
    assert probe.stdout.strip() == mapped, probe.stderr


def test_the_heap_trimmer_hands_free_pages_back_until_cancelled(monkeypatch):
    import asyncio

    from serve import memory

    calls: list[int] = []

    class FakeGlibc:
        def malloc_trim(self, pad: int) -> int:
            calls.append(pad)
            return 1

    monkeypatch.setattr(memory, "_glibc", FakeGlibc)
    monkeypatch.setattr(memory, "jemalloc_loaded", lambda: False)

    async def run_briefly() -> None:
        task = asyncio.create_task(memory.trim_heap_every(0.01))
        await asyncio.sleep(0.2)
        task.cancel()

    asyncio.run(run_briefly())
    assert len(calls) >= 3 and set(calls) == {0}


def test_the_heap_trimmer_leaves_jemalloc_alone(monkeypatch):
    import asyncio

    from serve import memory

    monkeypatch.setattr(memory, "jemalloc_loaded", lambda: True)
    asyncio.run(asyncio.wait_for(memory.trim_heap_every(0.01), timeout=1))  # returns at once instead of looping
