"""Worker processes must not outlive a killed parent: each holds a model (~600 MB) and,
orphaned, would keep it until the machine restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX parent/child semantics")

REPO = Path(__file__).resolve().parents[2]

# A parent that starts two workers through the module's pool, prints their pids, then waits to be killed.
PARENT = """
import os, sys, time
from labeling.workers import spawn_pool

pool = spawn_pool(2)
pids = set()
deadline = time.monotonic() + 30
while len(pids) < 2 and time.monotonic() < deadline:
    pids |= {f.result() for f in [pool.submit(os.getpid) for _ in range(8)]}
print(" ".join(map(str, sorted(pids))), flush=True)
time.sleep(60)
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for PID 1 to reap it has exited)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): fall back on the signal-0 probe
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state != "Z"


def _wait_gone(pids: list[int], within_s: float) -> list[int]:
    deadline = time.monotonic() + within_s
    while (alive := [p for p in pids if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_workers_exit_when_their_parent_is_killed(how, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    log = tmp_path / "stderr.txt"  # kept apart: the killed pool's semaphore warnings are expected noise
    with log.open("w") as stderr:
        parent = subprocess.Popen(
            [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=REPO, env=env
        )
    pids: list[int] = []
    try:
        line = parent.stdout.readline() if parent.stdout else ""
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2, f"the parent did not report two workers: {line!r}\n{log.read_text()}"
        time.sleep(1.5)  # past a poll or so: a watcher must not mistake a live parent for a dead one
        assert all(map(_running, pids)), "workers exited while their parent was alive"
        parent.send_signal(how)
        parent.wait(timeout=5)
        assert _wait_gone(pids, 5) == []
    finally:
        parent.kill()
        parent.wait()
        for pid in pids:  # the workers this test started, if the assertion above failed
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def test_workers_leave_ctrl_c_to_the_parent():
    from labeling.workers import spawn_pool

    with spawn_pool(1) as pool:
        assert pool.submit(signal.getsignal, signal.SIGINT).result(timeout=60) == signal.SIG_IGN
