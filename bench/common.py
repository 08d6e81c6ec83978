"""Helpers the benchmarks share: benchmark texts, a `needlens serve` process on loopback, the CPU."""

from __future__ import annotations

import csv
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def sample_texts() -> list[str]:
    """The bundled demo feedback (team-written): short reviews to long interview notes."""
    with (ROOT / "data" / "sample_feedback.csv").open(encoding="utf-8", newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle) if row["text"].strip()]


def cpu_description() -> str:
    """The CPU's model name and whether it has native bfloat16: it decides the default runtime
    and most of a rate, so every speed figure says which CPU it came from."""
    from classifier.runtime import cpu_has_native_bfloat16  # loads torch: only benchmarks that print this

    name = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore").splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {name}; native bfloat16: {'yes' if cpu_has_native_bfloat16() else 'no'}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`needlens serve` in a child process, ready when this context is entered, drained on exit."""

    def __init__(
        self,
        model_dir: Path,
        store: Path,
        extra_env: dict[str, str] | None = None,
        port: int | None = None,
        log: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.log = log
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [sys.executable, "-m", "needlens", "serve", "--model", str(model_dir), "--port", str(self.port)]
        self.command += ["--label-store", str(store)]
        self.env = {**os.environ, **(extra_env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        # the log goes to a file, never a pipe: an unread pipe would fill up and stall the server
        if self.log:
            with self.log.open("ab") as sink:  # the child keeps its own copy of the handle
                self.process = subprocess.Popen(self.command, env=self.env, stdout=sink, stderr=subprocess.STDOUT)
        else:
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; its log: {self.log}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.process.kill()
        raise RuntimeError("server not ready in 120 s")

    def memory_mb(self) -> tuple[float, float]:
        """The server's resident memory now and at its peak (Linux /proc), in MB."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text().splitlines()
        fields = {line.split(":")[0]: line.split()[1] for line in status if line.startswith(("VmRSS", "VmHWM"))}
        return int(fields["VmRSS"]) / 1024, int(fields["VmHWM"]) / 1024

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def benchmark_texts(n: int = 5000, seed: int = 0) -> list[str]:
    """``n`` team-written texts, mixed like real traffic: the seed data's short complaints,
    reviews and survey answers, plus every fifth text a long note stitched from 3–8 of them."""
    import random

    from training.data import read_records

    rng = random.Random(seed)
    pool = [r.text for r in read_records(ROOT / "data" / "seed")]
    return ["".join(rng.sample(pool, rng.randint(3, 8))) if i % 5 == 4 else rng.choice(pool) for i in range(n)]
