"""Plain-request latency while explain requests of the largest allowed size run.

    python -m bench.explain_isolation [--model models/default] [--seconds 20]

Starts `needlens serve`, then sends single-text plain requests from one client for
``--seconds``, first alone and then while a second client sends explain requests of the
full budget (``NEEDLENS_EXPLAIN_MAX_TEXTS`` texts, ``NEEDLENS_EXPLAIN_MAX_CHARS`` characters
together) back to back. Prints the plain latencies of both phases and the explain requests'
own times. Nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import Server, benchmark_texts
from bench.http_load import Connection
from classifier.settings import Settings


def explain_body(texts: list[str], max_texts: int, max_chars: int) -> bytes:
    """``max_texts`` texts of the pool cut to share ``max_chars`` characters evenly."""
    share = max_chars // max_texts
    pool = "".join(texts)
    return json.dumps(
        {"texts": [pool[i * share : (i + 1) * share] for i in range(max_texts)], "explain": True}, ensure_ascii=False
    ).encode()


def summary(latencies_ms: list[float]) -> str:
    lat = sorted(latencies_ms)
    if not lat:
        return "none"
    pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))]  # noqa: E731
    return f"n={len(lat)} p50 {statistics.median(lat):.1f} ms  p95 {pct(95):.1f}  p99 {pct(99):.1f}  max {lat[-1]:.1f}"


async def timed_posts(url: str, bodies: list[bytes], until: float) -> tuple[list[float], int]:
    """Send the bodies in turn on one keep-alive connection until ``until``: (latencies of 200s, errors)."""
    host, port = url.removeprefix("http://").split(":")
    connection = Connection(host, int(port))
    latencies, errors, i = [], 0, 0
    while time.perf_counter() < until:
        started = time.perf_counter()
        status = await connection.post("/v1/classify", bodies[i % len(bodies)])
        i += 1
        if status == 200:
            latencies.append((time.perf_counter() - started) * 1000)
        else:
            errors += 1
    connection.close()
    return latencies, errors


async def run(url: str, seconds: float, explain: bytes) -> None:
    plain = [json.dumps({"texts": [t]}, ensure_ascii=False).encode() for t in benchmark_texts(500)]
    alone, errors = await timed_posts(url, plain, time.perf_counter() + seconds)
    print(f"plain alone:                 {summary(alone)}  errors {errors}", flush=True)
    until = time.perf_counter() + seconds
    (beside, errors), (explained, explain_errors) = await asyncio.gather(
        timed_posts(url, plain, until), timed_posts(url, [explain], until)
    )
    print(f"plain beside explain:        {summary(beside)}  errors {errors}")
    print(f"explain requests themselves: {summary(explained)}  errors {explain_errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    args = parser.parse_args()
    settings = Settings()
    body = explain_body(benchmark_texts(500), settings.explain_max_texts, settings.explain_max_chars)
    print(f"explain requests: {settings.explain_max_texts} texts, {settings.explain_max_chars} characters")
    with tempfile.TemporaryDirectory() as tmp, Server(args.model, Path(tmp) / "labels.db") as server:
        asyncio.run(run(server.url, args.seconds, body))


if __name__ == "__main__":
    main()
