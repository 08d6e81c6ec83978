"""A retrain started from the review UI: `needlens retrain` in a process of its own.

Training takes minutes of CPU, so the service never runs it: it starts this module as a
detached supervisor (``python -m lifecycle.retrain_job STATUS -- COMMAND...``), which runs the
`needlens retrain` command line at a lower CPU priority, its output going to a log, and records
how it ended. Under the registry root::

    retrain-jobs/<id>.log    the command's stdout and stderr
    retrain-jobs/<id>.json   who started it, when, its pid, running/finished, exit code, outcome
    retrain-jobs/.lock       held (flock) while a job is started or its end recorded

One job at a time per registry: a start checks the newest job under the lock, so two admins
clicking at once start one job, and trusts a "running" status only while its pid is still this
supervisor, so a job killed with its machine does not block the next one. The supervisor
imports only the standard library (no torch: it waits, it does not train).
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from classifier.settings import Settings
    from lifecycle.registry import ModelRegistry

JOBS_DIR = "retrain-jobs"
LOCK_FILE = ".lock"
SUPERVISOR = "lifecycle.retrain_job"
NICENESS = 10
"""How much lower the job's CPU priority is than the service's, so classification stays quick."""
TAIL_BYTES = 32_768
EXIT_PROMOTED, EXIT_REFUSED = 0, 1  # `needlens retrain`'s exit codes


class RetrainJobRunning(RuntimeError):
    """A retrain was asked for while one runs on the same registry."""


@dataclass(frozen=True)
class RetrainJob:
    id: str
    started_by: str
    note: str
    started_at: str
    pid: int
    state: str
    """running; finished; or died: its process is gone without recording how it ended."""
    exit_code: int | None
    outcome: str | None
    """promoted, refused (the gate said no), or failed (anything else: see the log)."""
    candidate: str | None
    finished_at: str | None
    log: Path

    @property
    def running(self) -> bool:
        return self.state == "running"


def retrain_command(registry: Path, settings: Settings) -> list[str]:
    """The `needlens retrain` command line for the service's registry and label store (its seed
    data travels in the environment: ``--data`` takes one path, the settings hold a list)."""
    return [
        sys.executable,
        "-m",
        "needlens",
        "retrain",
        "--registry",
        str(registry),
        "--store",
        str(settings.label_store),
    ]


def job_environment(settings: Settings) -> dict[str, str]:
    """The service's environment, with its seed data, and output unbuffered so the log is live."""
    seed = json.dumps([str(path) for path in settings.default_data])
    return {**os.environ, "NEEDLENS_DEFAULT_DATA": seed, "PYTHONUNBUFFERED": "1"}


def start_retrain(registry: ModelRegistry, settings: Settings, started_by: str, note: str = "") -> RetrainJob:
    """Start `needlens retrain` on ``registry`` in a detached process and return its job; raises
    RetrainJobRunning while another job on this registry runs."""
    jobs = registry.root.resolve() / JOBS_DIR
    jobs.mkdir(parents=True, exist_ok=True)
    with _locked(jobs):
        current = latest_job(registry.root)
        if current is not None and current.running:
            raise RetrainJobRunning(
                f"a retrain is already running on {registry.root}: started by {current.started_by} at "
                f"{current.started_at} (pid {current.pid}); wait for it to finish"
            )
        job_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        status_path, log_path = jobs / f"{job_id}.json", jobs / f"{job_id}.log"
        command = retrain_command(registry.root, settings)
        status: dict[str, Any] = {
            "id": job_id,
            "started_by": started_by,
            "note": note,
            "started_at": _now(),
            "command": command,
            "log": log_path.name,
            "registry_log": str(registry.log_file.resolve()),
            "history_mark": len(registry.history()),
            "state": "running",
        }
        with log_path.open("ab") as log:
            header = f"retrain job {job_id} started by {started_by}: {note or 'no note'}\n$ {shlex.join(command)}\n"
            log.write(header.encode("utf-8", "backslashreplace"))
            log.flush()
            process = subprocess.Popen(
                [sys.executable, "-m", SUPERVISOR, str(status_path), "--", *command],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=job_environment(settings),
                start_new_session=True,  # not the request's, not the service's: a restart does not end it
            )
        threading.Thread(target=process.wait, name=f"reap-retrain-{process.pid}", daemon=True).start()
        status["pid"] = process.pid
        _write_status(status_path, status)
    return _job(status, status_path)


def latest_job(registry_root: Path) -> RetrainJob | None:
    """The newest job on this registry, or None when none was started (or its status is unreadable)."""
    jobs = registry_root / JOBS_DIR
    statuses = sorted(jobs.glob("*.json")) if jobs.is_dir() else []
    return read_job(statuses[-1]) if statuses else None


def read_job(status_path: Path) -> RetrainJob | None:
    """The job a status file describes, or None when it cannot be read as one."""
    try:
        return _job(json.loads(status_path.read_text(encoding="utf-8")), status_path)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _job(status: dict[str, Any], status_path: Path) -> RetrainJob:
    pid, state, exit_code = int(status["pid"]), str(status["state"]), status.get("exit_code")
    return RetrainJob(
        id=str(status["id"]),
        started_by=str(status["started_by"]),
        note=str(status.get("note", "")),
        started_at=str(status["started_at"]),
        pid=pid,
        state="died" if state == "running" and not _supervising(pid) else state,
        exit_code=int(exit_code) if exit_code is not None else None,
        outcome=status.get("outcome"),
        candidate=status.get("candidate"),
        finished_at=status.get("finished_at"),
        log=status_path.with_name(Path(str(status["log"])).name),  # beside its status, whatever the file says
    )


def log_tail(job: RetrainJob, lines: int = 30) -> str:
    """The last ``lines`` lines of the job's log (undecodable bytes replaced), or '' without one."""
    try:
        with job.log.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - TAIL_BYTES))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _supervising(pid: int) -> bool:
    """Whether ``pid`` is still a retrain supervisor (not a pid the system has since reused)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, someone else's
    try:
        return SUPERVISOR.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()  # empty for a zombie
    except OSError:
        return True  # no /proc here: the pid alone must do


@contextmanager
def _locked(jobs: Path) -> Iterator[None]:
    """The registry's job lock; the system releases it when its holder dies, crash included."""
    with (jobs / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _write_status(path: Path, status: dict[str, Any]) -> None:
    """Replace the status file whole, so a reader never sees half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(status, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _outcome(exit_code: int, registry_log: Path, mark: int) -> tuple[str, str | None]:
    """(promoted | refused | failed, the candidate version): exit code 1 is also how Python ends
    on an uncaught error, so only a rejection the job logged in the registry counts as refused."""
    try:
        lines = registry_log.read_text(encoding="utf-8").splitlines()[mark:]
        events = [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError):
        events = []
    decided = [e for e in events if isinstance(e, dict) and e.get("event") in ("promote", "reject")]
    last = decided[-1] if decided else {}
    if exit_code == EXIT_PROMOTED:
        return "promoted", last.get("version")
    if exit_code == EXIT_REFUSED and last.get("event") == "reject":
        return "refused", last.get("version")
    return "failed", None


def record_end(status_path: Path, exit_code: int) -> str:
    """Mark the job finished with its exit code and outcome; returns the outcome."""
    with _locked(status_path.parent):  # the starter writes the status (with our pid) first
        status = json.loads(status_path.read_text(encoding="utf-8"))
        outcome, candidate = _outcome(exit_code, Path(status["registry_log"]), int(status["history_mark"]))
        status.update(state="finished", exit_code=exit_code, outcome=outcome, candidate=candidate, finished_at=_now())
        _write_status(status_path, status)
    return outcome


def supervise(argv: list[str]) -> int:
    """``STATUS -- COMMAND...``: run the command (its output is ours: the log), then record its end."""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m lifecycle.retrain_job STATUS_FILE -- COMMAND...", file=sys.stderr)
        return 2
    status_path, command = Path(argv[0]), argv[2:]
    os.nice(NICENESS)  # inherited by the command
    try:
        exit_code = subprocess.call(command)
    except OSError as exc:
        print(f"could not start {command[0]}: {exc}", file=sys.stderr, flush=True)
        exit_code = 127
    outcome = record_end(status_path, exit_code)
    print(f"retrain job ended: exit code {exit_code}, {outcome}", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(supervise(sys.argv[1:]))
