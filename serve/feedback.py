"""Feedback through the service: each label waits in its annotator's batch
(``label_loop.feedback``), and the request that completes a batch has it judged by the arrival
check of the model being served.

The check is built once per served model (it fits the audit judge over the reference labels:
17 s on a quiet 2-core machine, over a minute on a busy one). The build starts in the background
when the first feedback label arrives, so by the time an annotator's batch is full it is usually
ready and the request that completes the batch waits for the judging alone. Its model calls take
the served model's gate as background work, so plain classify requests go first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from classifier.inference import Predictor
from classifier.settings import Settings
from label_loop.admission import build_arrival_check, bundled_data
from label_loop.arrival import ArrivalCheck
from label_loop.feedback import FeedbackInbox, FeedbackState
from label_loop.store import LabelStore, LabelStoreError, NewLabel
from serve.errors import ApiError
from serve.model_gate import ModelGate, gated

if TYPE_CHECKING:
    from serve.state import ServiceState

log = logging.getLogger("needlens.serve")


class CheckOnce:
    """An arrival check built once and kept; threads asking meanwhile wait for that one build.

    ``prepare`` starts the build ahead of need, on a thread of its own: a service that never gets
    feedback never pays for it, and one that does pays while its first batch fills."""

    def __init__(self, build: Callable[[], ArrivalCheck]) -> None:
        self._build = build
        self._check: ArrivalCheck | None = None
        self._lock = threading.Lock()
        self._started = threading.Lock()  # taken by the one background build, never released

    def __call__(self) -> ArrivalCheck:
        with self._lock:
            if self._check is None:
                self._check = self._build()
            return self._check

    @property
    def built(self) -> bool:
        return self._check is not None

    def prepare(self) -> None:
        """Build in the background, once: a failure there is logged, and each request that needs
        the check builds it again (and says why it cannot), rather than every label starting
        another failing build."""
        if self.built or not self._started.acquire(blocking=False):
            return
        # Never a daemon, whatever the asking thread is: a daemon killed inside torch at interpreter
        # exit aborts the process (SIGABRT), so a shutdown during the build waits for it instead.
        threading.Thread(target=self._prepare_now, name="needlens-arrival-check", daemon=False).start()

    def _prepare_now(self) -> None:
        try:
            self()
        except Exception:
            log.exception("arrival check not built ahead; the request completing a batch will build it")


def served_arrival_check(
    settings: Settings, store: LabelStore | None, predictor: Predictor, gate: ModelGate
) -> CheckOnce:
    """The check feedback batches pass while ``predictor`` is served: the bundled data and the
    store as reference, this model (behind the gate, in small passes) and the audit judge as judges."""
    judging = gated(predictor, gate, urgent=False, batch_tokens=settings.explain_batch_tokens)

    return CheckOnce(lambda: build_arrival_check(settings, bundled_data(settings, log.warning), store, judging))


@contextmanager
def _store_usable() -> Iterator[None]:
    """Damage found after start-up: 503 naming the file, as readiness says."""
    try:
        yield
    except LabelStoreError as exc:
        log.error("%s", exc)
        raise ApiError(503, "store_unusable", str(exc)) from None


def take_feedback(service: ServiceState, entry: NewLabel) -> FeedbackState:
    """Record the label, judge the batches that are due (when a model is served to judge them),
    and say what became of the label. A judgement that fails leaves the labels waiting for the
    next request; the label itself is recorded either way."""
    inbox = FeedbackInbox(service.label_store(), service.settings.arrival)
    with _store_usable():
        feedback_id = inbox.receive(entry)
        served = service.served
        if served is not None:
            served.arrival_check.prepare()
            try:
                inbox.judge_due(served.arrival_check)
            except LabelStoreError:
                raise
            except Exception:
                log.exception("feedback batches not judged; their labels wait for the next feedback request")
        return feedback_state(service, feedback_id)


def feedback_state(service: ServiceState, feedback_id: int) -> FeedbackState:
    """What became of a feedback label, or 404."""
    with _store_usable():
        state = FeedbackInbox(service.label_store(), service.settings.arrival).state(feedback_id)
    if state is None:
        raise ApiError(404, "not_found", f"no feedback {feedback_id}")
    return state
