"""The one object the service's routes share, kept on ``app.state.service``.

Routers hold no state of their own and close over nothing: they reach this object through
the dependencies in ``serve.dependencies``. So the model swap, the label store and the
settings live in one place, and any router (the JSON API, the review UI) mounted on an app
from ``create_app`` sees the same model and store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from classifier.inference import Prediction, Predictor
from classifier.model_dir import resolve_model_dir
from classifier.settings import Settings
from label_loop.predictions import PredictionStore
from label_loop.store import LabelStore, LabelStoreError
from serve.batcher import MicroBatcher, Overloaded
from serve.errors import ApiError
from serve.explainer import ExplainPool
from serve.feedback import CheckOnce, served_arrival_check
from serve.model_facts import model_facts
from serve.model_gate import ModelGate, gated

log = logging.getLogger("needlens.serve")
WARM_UP_TEXT = "预热：服务启动后的第一次推理"


@dataclass(frozen=True)
class ServedModel:
    """A loaded model and the pools feeding it: swapped as one, so a request never mixes two models."""

    predictor: Predictor
    batcher: MicroBatcher
    explainer: ExplainPool
    facts: dict[str, Any]
    arrival_check: CheckOnce  # what feedback batches are judged by while this model is served

    async def predict(self, texts: Sequence[str], explain: bool, timeout_s: float) -> list[Prediction]:
        """Plain texts through the micro-batcher, explained ones through their own pool; 503 when
        full or past the deadline (cancelling the wait drops the work not yet done)."""
        try:
            async with asyncio.timeout(timeout_s):
                return await (self.explainer if explain else self.batcher).submit(texts)
        except Overloaded as exc:
            raise ApiError(503, "overloaded", f"service is at capacity: {exc}", headers={"Retry-After": "1"}) from None
        except TimeoutError:
            raise ApiError(
                503,
                "deadline_exceeded",
                f"not answered within {timeout_s:g} s (NEEDLENS_REQUEST_TIMEOUT_S); the work was dropped",
                {"limit_s": timeout_s},
                headers={"Retry-After": "1"},
            ) from None

    async def stop(self) -> None:
        """Finish what was queued on this model (a swap or shutdown drains, it does not drop)."""
        await self.batcher.stop()
        await self.explainer.stop()


class ServiceState:
    """What the routes share: the settings, the served model, the label store.

    ``settings.model_dir`` may be a registry; a background task follows its ACTIVE pointer
    and swaps in a newly promoted model without a restart. Requests already queued on the
    old model finish on it (its pools drain), new requests go to the new one.
    """

    def __init__(self, settings: Settings, predictor: Predictor | None) -> None:
        self.settings = settings
        self.initial_predictor = predictor
        self.served: ServedModel | None = None
        self.load_error: str | None = None
        self.store: LabelStore | None = None
        self.predictions: PredictionStore | None = None  # the same file's stored predictions
        self.store_error: str | None = None
        self._reload_lock = asyncio.Lock()
        try:
            self.store = LabelStore(settings.label_store)
            self.predictions = PredictionStore(self.store, settings.prediction_retention_days)
        except LabelStoreError as exc:  # classify can still serve; readiness and feedback say why not
            self.store_error = str(exc)
            log.error("%s", exc)

    def served_model(self) -> ServedModel:
        """The model to answer with, or 503 while it loads or after it failed to. A route reads it
        once per request: a reload swaps the model and its pools together."""
        if self.served is None:
            message = f"model failed to load: {self.load_error}" if self.load_error else "model is loading"
            raise ApiError(503, "not_ready", message, headers={"Retry-After": "5"})
        return self.served

    def label_store(self) -> LabelStore:
        if self.store is None:
            raise ApiError(503, "store_unusable", self.store_error or "label store unavailable")
        return self.store

    def prediction_store(self) -> PredictionStore:
        if self.predictions is None:
            raise ApiError(503, "store_unusable", self.store_error or "label store unavailable")
        return self.predictions

    async def _open(self, predictor: Predictor) -> ServedModel:
        await asyncio.to_thread(predictor.predict, [WARM_UP_TEXT])
        s, gate = self.settings, ModelGate()
        batcher = MicroBatcher(
            gated(predictor, gate, urgent=True).predict,
            s.batch_max_texts,
            s.batch_max_wait_ms / 1000,
            s.queue_max_texts,
            s.micro_batching,
        )
        batcher.start()
        explainer = ExplainPool(predictor, gate, s.explain_concurrency, s.explain_queue_max, s.explain_batch_tokens)
        arrival_check = served_arrival_check(s, self.store, predictor, gate)
        return ServedModel(predictor, batcher, explainer, model_facts(predictor), arrival_check)

    async def load(self) -> None:
        try:
            async with self._reload_lock:
                predictor = self.initial_predictor or await asyncio.to_thread(
                    Predictor.load, self.settings.model_dir, self.settings
                )
                self.served = await self._open(predictor)
        except Exception as exc:  # the service stays up and says why it is not ready
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.error("model failed to load: %s", self.load_error)
            return
        log.info("ready: model %s", self.served.predictor.version)

    async def reload_if_changed(self) -> bool:
        """Load the model ``settings.model_dir`` now resolves to, if it is not the one served."""
        async with self._reload_lock:
            target = await asyncio.to_thread(resolve_model_dir, self.settings.model_dir)
            if self.served is not None and self.served.predictor.model_dir == target:
                return False
            predictor = await asyncio.to_thread(Predictor.load, target, self.settings)
            fresh = await self._open(predictor)
            old, self.served, self.load_error = self.served, fresh, None
            log.info("now serving model %s (was %s)", predictor.version, old and old.predictor.version)
            if old is not None:
                await old.stop()
            return True

    async def watch(self, every_s: float) -> None:
        last_error = None
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.reload_if_changed()
                last_error = None
            except Exception as exc:  # keep serving the model we have; say so once, not every poll
                error = self.reload_failure(exc)
                if error != last_error:
                    log.error("model reload failed, %s", error)
                last_error = error

    def reload_failure(self, exc: Exception) -> str:
        """What a failed reload leaves served: a service started on a broken pointer has no
        previous model, and saying it still serves one sent operators looking for it."""
        serving = "still serving the previous model" if self.served else "no model is served yet"
        return f"{serving}: {type(exc).__name__}: {exc}"
