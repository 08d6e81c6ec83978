"""Soak: minutes of mixed traffic against `needlens serve`, watching the server's resident memory.

    python -m bench.soak [--model models/default] [--minutes 10] [--concurrency 16] [--env KEY=VALUE ...]

Starts the server itself, then keeps ``--concurrency`` keep-alive clients busy with a mix
of plain single texts, batches of items with ids, long texts, explain requests and bad
requests (lone surrogates, NUL-only texts, over-long texts, unknown fields, malformed JSON).
Samples the server's resident memory (psutil) every ``--sample-s`` seconds and prints the
curve, the answers by kind and status, and the growth over the second half (target < 5%).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil

from bench.common import BenchParser, Server, benchmark_texts, one_line_errors, positive_float, positive_int, refuse
from bench.http_load import Connection
from classifier.model_dir import resolve_model_dir

MIN_INTERVALS = 3
"""Memory sample intervals a soak must span: it then has a sample at the start, one at half time
and a later one at the end; with fewer the second half has no growth to measure, and its
+0.0% would read like a pass."""


def request_mix(texts: list[str], seed: int = 0) -> list[tuple[str, bytes]]:
    """(kind, body) pairs in traffic proportions; each client cycles through its own shuffle."""
    rng = random.Random(seed)
    long_texts = [t for t in texts if len(t) > 600] or texts

    def body(payload: dict) -> bytes:
        return json.dumps(payload, ensure_ascii=False).encode()

    bad = [
        b'{"texts": ["ok", "\\ud800abc"]}',  # a lone surrogate
        b'{"texts": ["\\u0000\\u0000"]}',  # nothing visible
        body({"texts": ["长" * 2500]}),  # over the per-text limit
        b'{"texts": ["ok"], "explian": true}',  # an unknown field
        b'{"texts": ["ok"',  # malformed JSON
    ]
    mix: list[tuple[str, bytes]] = []
    for i in range(400):
        roll = rng.random()
        if roll < 0.45:
            mix.append(("plain", body({"texts": [rng.choice(texts)]})))
        elif roll < 0.65:
            items = [{"id": f"r{i}-{j}", "text": rng.choice(texts)} for j in range(8)]
            mix.append(("items", body({"items": items})))
        elif roll < 0.75:
            mix.append(("long", body({"texts": [rng.choice(long_texts)[:2000]]})))
        elif roll < 0.85:
            mix.append(("explain", body({"texts": [rng.choice(texts)[:150] for _ in range(2)], "explain": True})))
        else:
            mix.append(("bad", rng.choice(bad)))
    return mix


async def load(url: str, mix: list[tuple[str, bytes]], concurrency: int, until: float) -> Counter[tuple[str, int]]:
    host, port = url.removeprefix("http://").split(":")
    answers: Counter[tuple[str, int]] = Counter()

    async def client(offset: int) -> None:
        connection = Connection(host, int(port))
        i = offset
        while time.perf_counter() < until:
            kind, body = mix[i % len(mix)]
            answers[kind, await connection.post("/v1/classify", body)] += 1
            i += 1
        connection.close()

    await asyncio.gather(*(client(k * len(mix) // concurrency) for k in range(concurrency)))
    return answers


async def sample(pid: int, every_s: float, until: float, curve: list[tuple[float, float]]) -> None:
    process, started = psutil.Process(pid), time.perf_counter()
    while True:
        curve.append((time.perf_counter() - started, process.memory_info().rss / 2**20))
        print(f"{curve[-1][0]:6.0f} s  {curve[-1][1]:7.0f} MB", flush=True)
        if time.perf_counter() + every_s > until:
            return
        await asyncio.sleep(every_s)


async def soak(
    server: Server, seconds: float, concurrency: int, every_s: float
) -> tuple[Counter[tuple[str, int]], list[tuple[float, float]]]:
    """The answers by (kind, status) and the server's memory curve (seconds, MB)."""
    mix = request_mix(benchmark_texts(5000))
    until = time.perf_counter() + seconds
    curve: list[tuple[float, float]] = []
    assert server.process is not None
    answers, _ = await asyncio.gather(
        load(server.url, mix, concurrency, until), sample(server.process.pid, every_s, until, curve)
    )
    return answers, curve


def report(answers: Counter[tuple[str, int]], curve: list[tuple[float, float]]) -> None:
    """The answers and the memory growth; a soak that sent nothing, or whose second half has no
    sample of its own, is refused: its growth would be +0.0%, which reads like a pass."""
    print("\nanswers (kind, status: count):")
    for (kind, status), count in sorted(answers.items()):
        print(f"  {kind:8s} {status}: {count}")
    if not answers:
        refuse("no request was answered: nothing was soaked, so the memory curve is no result", 1)
    half_index = next(i for i, (t, _) in enumerate(curve) if t >= curve[-1][0] / 2)
    if half_index == len(curve) - 1:
        refuse(f"{len(curve)} memory sample(s): too few for a second half to grow in; soak longer", 1)
    half = curve[half_index][1]
    first, peak, last = curve[0][1], max(rss for _, rss in curve), curve[-1][1]
    print(
        f"\nresident memory: {first:.0f} MB at the start, {half:.0f} MB at half time, {last:.0f} MB at the end "
        f"(peak {peak:.0f} MB); second half growth {100 * (last - half) / half:+.1f}% (target < 5%)"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = BenchParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--minutes", type=positive_float, default=10.0)
    parser.add_argument("--concurrency", type=positive_int, default=16)
    parser.add_argument("--sample-s", type=positive_float, default=10.0, help="seconds between memory samples")
    parser.add_argument("--env", nargs="*", default=[], help="server settings, e.g. NEEDLENS_MMAP_THRESHOLD_KIB=0")
    args = parser.parse_args(argv)
    if args.minutes * 60 < MIN_INTERVALS * args.sample_s:
        parser.error(
            f"argument --minutes: must be at least {MIN_INTERVALS * args.sample_s / 60:g} "
            f"({MIN_INTERVALS} × --sample-s {args.sample_s:g} s, so the second half has memory samples), not {args.minutes:g}"
        )
    bad = [item for item in args.env if "=" not in item]
    if bad:
        parser.error(f"argument --env: KEY=VALUE, not {bad[0]!r}")
    return args


@one_line_errors
def main() -> None:
    args = parse_args()
    resolve_model_dir(args.model)  # a missing model is one line now, not a server that exits at start
    env = dict(item.split("=", 1) for item in args.env)
    with tempfile.TemporaryDirectory() as tmp, Server(args.model, Path(tmp) / "labels.db", env) as server:
        answers, curve = asyncio.run(soak(server, args.minutes * 60, args.concurrency, args.sample_s))
    report(answers, curve)


if __name__ == "__main__":
    main()
