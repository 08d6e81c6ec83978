"""What keeps the service's resident memory from climbing with the variety of its traffic.

Under mixed load the server's memory rose by several MB a second and kept rising, while
the memory in use stayed flat (glibc's ``mallinfo2``: ~216 MB in use, the heap's free part
growing). glibc gives an allocation above ``M_MMAP_THRESHOLD`` a memory map of its own,
returned to the system when freed; the threshold starts at 128 KB but rises (up to 32 MB)
each time such a block is freed, so tensors of ever-new shapes (texts × tokens, occlusion
variants) soon all come from the heap, whose free space fragments and is never given back.

What bounds it, measured with ``bench/soak.py`` (README, Benchmarks):

- by default, ``malloc_trim`` every 5 s (``NEEDLENS_HEAP_TRIM_S``): the free pages go back to
  the system, so memory levels off (around 1 GB under the soak's mix) at no cost in speed.
- ``NEEDLENS_MMAP_THRESHOLD_KIB`` (e.g. 1024) pins glibc's threshold as well: large tensors get
  maps of their own and give them back, and memory levels off lower (~680 MB), but 64-text
  requests run at half the speed (every large tensor pays for a fresh map). Opt-in.
- jemalloc preloaded (``LD_PRELOAD=libjemalloc.so.2``): flat (~600 MB) and no slower; the
  service then leaves the allocator alone and says so at start-up.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import sys
from pathlib import Path

log = logging.getLogger("needlens.serve")
M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)


def fix_mmap_threshold(kib: int) -> bool:
    """Pin glibc's mmap threshold at ``kib`` KiB; 0, or a C library other than glibc: leave it."""
    libc = _glibc()
    return bool(kib and libc is not None and libc.mallopt(M_MMAP_THRESHOLD, kib * 1024))


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018  (musl and others have neither this nor mallopt)
    except (OSError, AttributeError):
        return None
    return libc


async def trim_heap_every(interval_s: float) -> None:
    """Hand the heap's free pages back to the system every ``interval_s`` seconds (glibc's
    ``malloc_trim``, which also releases free pages inside the heap, not only at its top): the
    growth above is free memory glibc keeps, so giving it back bounds resident memory without
    pinning the threshold. Runs until cancelled; does nothing where there is no glibc."""
    libc = _glibc()
    if libc is None or jemalloc_loaded():
        return
    while True:
        await asyncio.sleep(interval_s)
        await asyncio.to_thread(libc.malloc_trim, 0)


def jemalloc_loaded() -> bool:
    maps = Path("/proc/self/maps")
    return maps.is_file() and "libjemalloc" in maps.read_text(errors="replace")


def configure_allocator(mmap_threshold_kib: int) -> None:
    """Apply the threshold setting and say which allocator the service runs on, once, at start-up."""
    if jemalloc_loaded():
        log.info("memory allocator: jemalloc")
    elif fix_mmap_threshold(mmap_threshold_kib):
        log.info("memory allocator: glibc, mmap threshold pinned at %d KiB", mmap_threshold_kib)
    elif sys.platform.startswith("linux"):
        log.info(
            "memory allocator: glibc, free heap pages trimmed every NEEDLENS_HEAP_TRIM_S; for the lowest "
            "memory at full speed preload jemalloc (LD_PRELOAD=libjemalloc.so.2; README, HTTP API)"
        )
