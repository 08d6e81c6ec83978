"""HTTP load benchmark on loopback: throughput and latency with and without micro-batching.

    python -m bench.http_load [--model models/default] [--requests 400] [--time-limit 30]

Starts `needlens serve` itself (once with micro-batching, once without), then for each
scenario sends a fixed number of requests from a fixed number of concurrent clients,
stopping early at the time limit, and reads the server's resident memory after the
scenarios. The load generator (a minimal keep-alive HTTP/1.1
client) shares the 2 cores with the server, so figures are conservative. Prints a table;
nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import BenchParser, Server, one_line_errors, positive_float, positive_int, sample_texts
from classifier.model_dir import resolve_model_dir

HEADER = ["mode", "request", "conc.", "done", "errors", "req/s", "texts/s", "p50 ms", "p95 ms", "p99 ms"]
"""The table's columns, also naming each figure of the progress line printed after each scenario."""


@dataclass
class Scenario:
    name: str
    concurrency: int
    texts_per_request: int
    requests: int


@dataclass
class Result:
    scenario: Scenario
    mode: str
    done: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    def row(self) -> list[str]:
        lat = sorted(self.latencies_ms)

        def pct(p: float) -> str:  # no request answered in time: no latency, not nan
            return f"{lat[min(len(lat) - 1, int(p / 100 * len(lat)))]:.1f}" if lat else "–"

        rps = self.done / self.seconds
        return [
            self.mode,
            self.scenario.name,
            str(self.scenario.concurrency),
            str(self.done),
            str(self.errors),
            f"{rps:.1f}",
            f"{rps * self.scenario.texts_per_request:.0f}",
            f"{statistics.median(lat):.1f}" if lat else "–",
            pct(95),
            pct(99),
        ]


class Connection:
    """A minimal keep-alive HTTP/1.1 client: the load generator shares 2 cores with the server,
    so it must cost far less CPU per request than a full-featured client does."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
        self.writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def run_scenario(url: str, scenario: Scenario, texts: list[str], time_limit: float, mode: str) -> Result:
    host, port = url.removeprefix("http://").split(":")
    pool = itertools.cycle(texts)
    bodies = [
        json.dumps({"texts": [next(pool) for _ in range(scenario.texts_per_request)]}, ensure_ascii=False).encode()
        for _ in range(64)
    ]
    latencies: list[float] = []
    errors = 0
    counter = itertools.count()
    deadline = time.perf_counter() + time_limit
    connections = [Connection(host, int(port)) for _ in range(scenario.concurrency)]
    for connection in connections:  # open and warm every connection before timing
        await connection.post("/v1/classify", bodies[0])

    async def worker(connection: Connection) -> None:
        nonlocal errors
        while (i := next(counter)) < scenario.requests and time.perf_counter() < deadline:
            started = time.perf_counter()
            status = await connection.post("/v1/classify", bodies[i % len(bodies)])
            if status == 200:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    seconds = time.perf_counter() - started
    for connection in connections:
        connection.close()
    return Result(scenario, mode, len(latencies), errors, seconds, latencies)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = BenchParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--requests", type=positive_int, default=400, help="requests per single-text scenario")
    parser.add_argument("--batch-requests", type=positive_int, default=40, help="requests per 64-text scenario")
    parser.add_argument("--time-limit", type=positive_float, default=30.0, help="seconds per scenario at most")
    return parser.parse_args(argv)


@one_line_errors
def main() -> None:
    args = parse_args()
    resolve_model_dir(args.model)  # a missing model is one line now, not a server that exits at start

    texts = sample_texts()
    scenarios = [
        Scenario("1 text", 1, 1, args.requests),
        Scenario("1 text", 8, 1, args.requests),
        Scenario("1 text", 32, 1, args.requests),
        Scenario("64 texts", 4, 64, args.batch_requests),
    ]
    results: list[Result] = []
    memory: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode, flag in (("micro-batching", "true"), ("no batching", "false")):
            env = {"NEEDLENS_MICRO_BATCHING": flag, "NEEDLENS_MAX_BODY_BYTES": "10000000"}
            with Server(args.model, Path(tmp) / "labels.db", env) as server:
                for scenario in scenarios:
                    results.append(asyncio.run(run_scenario(server.url, scenario, texts, args.time_limit, mode)))
                    row = results[-1].row()
                    print(", ".join(f"{name} {value}" for name, value in zip(HEADER, row, strict=True)), flush=True)
                memory.append((mode, *server.memory_mb()))

    print("\n| " + " | ".join(HEADER) + " |\n|" + "---|" * len(HEADER))
    for result in results:
        print("| " + " | ".join(result.row()) + " |")
    for mode, now, peak in memory:
        print(f"server resident memory after the {mode} scenarios: {now:.0f} MB (peak {peak:.0f} MB)")


if __name__ == "__main__":
    main()
