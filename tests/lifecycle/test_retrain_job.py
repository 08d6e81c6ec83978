"""Retrain jobs: `needlens retrain` in a process of its own, one at a time per registry, its end
recorded. The command is replaced by a trivial `python -c` here: nothing trains."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from classifier.settings import Settings
from lifecycle import retrain_job
from lifecycle.registry import ModelRegistry
from lifecycle.retrain_job import (
    JOBS_DIR,
    RetrainJob,
    RetrainJobRunning,
    job_environment,
    latest_job,
    log_tail,
    retrain_command,
    start_retrain,
)


def fake_command(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    """Run ``python -c code`` where the job would run `needlens retrain`."""
    monkeypatch.setattr(retrain_job, "retrain_command", lambda registry, settings: [sys.executable, "-c", code])


def held_until(release: Path) -> str:
    """A command that runs until ``release`` exists (at most 30 s, so a failed test leaves nothing behind)."""
    return (
        "import pathlib, time\n"
        "for _ in range(1500):\n"
        f"    if pathlib.Path({str(release)!r}).exists(): break\n"
        "    time.sleep(0.02)\n"
        "print('released')"
    )


def wait_until_ended(registry_root: Path, timeout_s: float = 30) -> RetrainJob:
    deadline = time.monotonic() + timeout_s
    while (job := latest_job(registry_root)) is not None and job.running:
        assert time.monotonic() < deadline, "the job did not end"
        time.sleep(0.05)
    assert job is not None
    return job


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "registry")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(label_store=tmp_path / "labels.db", default_data=[tmp_path / "seed", tmp_path / "真实"])


@pytest.fixture
def release(tmp_path, monkeypatch):
    """The job's command held running until the test touches this file (touched at the end anyway)."""
    path = tmp_path / "release"
    fake_command(monkeypatch, held_until(path))
    yield path
    path.touch()


def test_a_job_runs_the_command_in_its_own_process_and_records_a_promotion(registry, settings, monkeypatch):
    fake_command(monkeypatch, "print('training 训练 on', 3, 'labels')")
    job = start_retrain(registry, settings, "root", "new labels 新标注")
    assert job.pid > 0 and job.started_by == "root" and job.note == "new labels 新标注"
    ended = wait_until_ended(registry.root)
    assert (ended.id, ended.state, ended.exit_code, ended.outcome) == (job.id, "finished", 0, "promoted")
    status = json.loads((registry.root / JOBS_DIR / f"{job.id}.json").read_text(encoding="utf-8"))
    assert status["started_by"] == "root" and status["pid"] == job.pid and status["finished_at"]
    log = log_tail(ended)
    assert ended.log == registry.root.resolve() / JOBS_DIR / f"{job.id}.log"
    assert "started by root: new labels 新标注" in log and "training 训练 on 3 labels" in log
    assert log.endswith("retrain job ended: exit code 0, promoted")


def test_exit_code_1_is_a_refusal_only_when_the_job_logged_the_rejection(registry, settings, monkeypatch):
    reject = json.dumps({"event": "reject", "version": "cand-1"})
    fake_command(monkeypatch, f"open({str(registry.log_file)!r}, 'a').write({reject!r} + '\\n'); raise SystemExit(1)")
    start_retrain(registry, settings, "root")
    refused = wait_until_ended(registry.root)
    assert (refused.exit_code, refused.outcome, refused.candidate) == (1, "refused", "cand-1")

    fake_command(monkeypatch, "raise RuntimeError('out of memory')")  # Python's own exit code 1
    start_retrain(registry, settings, "root")
    crashed = wait_until_ended(registry.root)
    assert (crashed.exit_code, crashed.outcome, crashed.candidate) == (1, "failed", None)
    assert "RuntimeError: out of memory" in log_tail(crashed)


def test_a_second_start_while_a_job_runs_is_refused_and_one_after_it_ended_starts(registry, settings, release):
    first = start_retrain(registry, settings, "root")
    with pytest.raises(RetrainJobRunning, match=f"already running.*started by root.*pid {first.pid}"):
        start_retrain(registry, settings, "lee")
    assert latest_job(registry.root).id == first.id
    release.touch()
    assert wait_until_ended(registry.root).outcome == "promoted"
    second = start_retrain(registry, settings, "lee")
    assert second.id != first.id and wait_until_ended(registry.root).started_by == "lee"


def test_two_admins_starting_at_once_start_one_job(registry, settings, release):
    barrier, started, refused = threading.Barrier(4), [], []

    def click(name: str) -> None:
        barrier.wait()
        try:
            started.append(start_retrain(registry, settings, name))
        except RetrainJobRunning:
            refused.append(name)

    threads = [threading.Thread(target=click, args=(f"admin{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(started) == 1 and len(refused) == 3
    assert len(list((registry.root / JOBS_DIR).glob("*.json"))) == 1


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("process", ["gone", "pid-reused-by-another-process"])
def test_a_running_status_whose_supervisor_is_gone_does_not_block_the_next_job(
    registry, settings, monkeypatch, process
):
    pid = dead_pid() if process == "gone" else 1
    jobs = registry.root / JOBS_DIR
    jobs.mkdir(parents=True)
    stale = {"id": "20200101T000000000000Z", "started_by": "root", "started_at": "2020-01-01T00:00:00+00:00"}
    (jobs / "20200101T000000000000Z.json").write_text(json.dumps({**stale, "pid": pid, "state": "running", "log": "x"}))
    assert latest_job(registry.root).state == "died"
    fake_command(monkeypatch, "print('again')")
    job = start_retrain(registry, settings, "root")
    assert job.id != stale["id"] and wait_until_ended(registry.root).outcome == "promoted"


def test_an_unreadable_status_file_neither_shows_nor_blocks(registry, settings, monkeypatch):
    jobs = registry.root / JOBS_DIR
    jobs.mkdir(parents=True)
    for name, body in (("20200101T0.json", b"{not json"), ("20200101T1.json", b'{"pid": "\xff"}')):
        (jobs / name).write_bytes(body)
        assert latest_job(registry.root) is None
    fake_command(monkeypatch, "pass")
    start_retrain(registry, settings, "root")
    assert wait_until_ended(registry.root).exit_code == 0


def test_the_job_runs_needlens_retrain_on_the_services_registry_store_and_seed_data(registry, settings, monkeypatch):
    command = retrain_command(registry.root, settings)
    assert command == [
        sys.executable,
        *("-m", "needlens", "retrain", "--registry", str(registry.root), "--store", str(settings.label_store)),
    ]
    environment = job_environment(settings)
    monkeypatch.setenv("NEEDLENS_DEFAULT_DATA", environment["NEEDLENS_DEFAULT_DATA"])
    assert Settings().default_data == settings.default_data  # what `needlens retrain` will read
    assert environment["PYTHONUNBUFFERED"] == "1"


def test_the_log_tail_is_the_last_lines_with_undecodable_bytes_replaced(tmp_path):
    log = tmp_path / "job.log"
    log.write_bytes(b"".join(f"line {i}\n".encode() for i in range(200)) + b"bad \xff\xfe byte\n")
    job = RetrainJob("j", "root", "", "t", 1, "finished", 0, "promoted", None, None, log)
    tail = log_tail(job).splitlines()
    assert len(tail) == 30 and tail[0] == "line 171" and tail[-1] == "bad \ufffd\ufffd byte"
    assert log_tail(job, lines=2).splitlines() == ["line 199", "bad \ufffd\ufffd byte"]
    assert log_tail(RetrainJob("j", "root", "", "t", 1, "died", None, None, None, None, tmp_path / "gone")) == ""
