"""CheckOnce: the served model's arrival check, built once, ahead of need when asked to."""

import logging
import threading

import pytest

from serve.feedback import CheckOnce


class Build:
    """A build that blocks until released, counting its calls and failing when told to."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self):
        self.calls += 1
        self.started.set()
        assert self.release.wait(10)
        if self.fail:
            raise RuntimeError("no reference data")
        return f"check {self.calls}"


def test_prepare_builds_once_in_the_background_and_a_caller_meanwhile_gets_that_build():
    build = Build()
    once = CheckOnce(build)
    once.prepare()
    assert build.started.wait(10) and not once.built
    for _ in range(5):
        once.prepare()  # already building: no second build
    got: list[str] = []
    waiter = threading.Thread(target=lambda: got.append(once()))
    waiter.start()
    build.release.set()
    waiter.join(10)
    assert got == ["check 1"] and once.built and build.calls == 1
    once.prepare()
    assert once() == "check 1" and build.calls == 1


def test_a_failed_background_build_is_logged_not_retried_and_the_caller_builds_again(caplog):
    build = Build(fail=True)
    once = CheckOnce(build)
    with caplog.at_level(logging.ERROR, "needlens.serve"):
        once.prepare()
        build.release.set()
        for _ in range(200):
            if "arrival check not built ahead" in caplog.text:
                break
            threading.Event().wait(0.05)
    assert "arrival check not built ahead" in caplog.text and "no reference data" in caplog.text
    assert not once.built
    for _ in range(5):
        once.prepare()  # the background build is tried once, not again with every label
    with pytest.raises(RuntimeError, match="no reference data"):
        once()
    assert build.calls == 2
    build.fail = False
    assert once() == "check 3" and once.built


def test_the_build_asked_for_by_a_request_thread_is_no_daemon_so_an_exit_waits_for_it():
    """A thread inherits its creator's daemon flag, and some servers (the test client among them)
    handle requests on daemon threads; a daemon killed inside torch at interpreter exit aborts
    the process (exit 134)."""
    build = Build()
    once = CheckOnce(build)
    asking = threading.Thread(target=once.prepare, daemon=True)
    asking.start()
    asking.join(10)
    assert build.started.wait(10)
    builders = [thread for thread in threading.enumerate() if thread.name == "needlens-arrival-check"]
    build.release.set()
    assert len(builders) == 1 and not builders[0].daemon
    builders[0].join(10)
    assert once() == "check 1"
