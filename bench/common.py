"""Helpers the benchmarks share: benchmark texts, a `needlens serve` process on loopback, the CPU,
and how a benchmark refuses what it cannot measure (argument types, one-line errors)."""

from __future__ import annotations

import argparse
import csv
import functools
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import httpx

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


class BenchParser(argparse.ArgumentParser):
    """The benchmarks' argument parser. A refused argument is one line on stderr, exit 2, naming
    the flag and the rule: argparse's usage block before it is most of a screen for some
    benchmarks and hides the one line that matters (``--help`` still prints all of it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number(text: str, kind: Callable[[str], T], what: str) -> T:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def int_at_least(minimum: int, why: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``. A size below it would divide by
    zero, or measure nothing and print figures that read like results, after minutes of setup;
    ``why`` says where a minimum other than 0 or 1 comes from."""

    def parse(text: str) -> int:
        value = _number(text, int, "a whole number")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}{why}, not {value}")
        return value

    return parse


positive_int = int_at_least(1)
"""A count of texts, requests, runs, threads: zero of them measures nothing."""
non_negative_int = int_at_least(0)
"""A count where 0 means something (say, "the library's default")."""


def positive_float(text: str) -> float:
    """An argparse type: a duration or rate above zero (a zero-length run sends nothing)."""
    value = _number(text, float, "a number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: a number of at least 0 (a spread, a wobble: 0 turns it off)."""
    value = _number(text, float, "a number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {text}")
    return value


def share(text: str) -> float:
    """An argparse type: a share from 0 to 1 (a share of 2 would print as 200% of the rows)."""
    value = _number(text, float, "a number")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a share from 0 to 1, not {text}")
    return value


def existing_path(text: str) -> Path:
    """An argparse type: a data file or folder that exists, checked before a model loads for
    seconds to minutes. (Not for ``--model``: a relative model path may also be found in
    NEEDLENS_HOME; loading it says what is missing.)"""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or directory")
    return path


def comma_list(item: Callable[[str], T]) -> Callable[[str], list[T]]:
    """An argparse type: a comma-separated list, each value checked by ``item`` (``1,2``)."""

    def parse(text: str) -> list[T]:
        values = [item(part.strip()) for part in text.split(",") if part.strip()]
        if not values:
            raise argparse.ArgumentTypeError("needs at least one value, e.g. 1,2")
        return values

    return parse


USER_ERRORS = {"classifier.errors": "ModelLoadError", "training.data": "DataError", "labeling.tables": "TableError"}
"""The project's errors that carry their reason in words (module → class), as the CLI shows them."""


def _user_errors() -> tuple[type[Exception], ...]:
    # an error of a module's class can only have been raised once the module is imported: looking
    # in sys.modules spares a benchmark that reads no data the import of `datasets`
    found = [getattr(sys.modules[module], name) for module, name in USER_ERRORS.items() if module in sys.modules]
    return (FileNotFoundError, *found)


def refuse(reason: str, code: int = 2) -> NoReturn:
    """End a benchmark with one line on stderr, in argparse's form: by default exit 2, what was
    asked cannot be measured, for what the parser cannot check alone (a size against the data's);
    ``code`` 1 for a run that failed or measured nothing."""
    print(f"{os.path.basename(sys.argv[0])}: error: {reason}", file=sys.stderr)
    raise SystemExit(code)


def one_line_errors(main: Callable[[], None]) -> Callable[[], None]:
    """A benchmark's ``main`` whose missing model, data file or unreadable table ends in one line
    on stderr and exit 2, as a refused argument does, not a traceback: the reason is already in
    the error's words, and the traceback only buries it. Any other error is a bug and keeps its
    traceback."""

    @functools.wraps(main)
    def run() -> None:
        try:
            main()
        except Exception as error:
            if not isinstance(error, _user_errors()):
                raise
            missing = isinstance(error, FileNotFoundError) and error.filename
            refuse(f"{error.filename}: no such file or directory" if missing else str(error))

    return run


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
