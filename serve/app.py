"""The FastAPI application: routes are thin; inference, validation and storage live below.

The model loads in the background after start-up, so /healthz answers at once and /readyz
turns ready only after a warm-up inference.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi_offline import FastAPIOffline

from classifier.inference import Prediction, Predictor, Segment, TextProblem, validate_text
from classifier.labels import CAUSES, CHINESE_NAMES, NEEDS, SCHEMA_VERSION
from classifier.model_dir import read_json_file, resolve_model_dir
from classifier.settings import Settings
from serve.auth import bearer_guard
from serve.batcher import MicroBatcher, Overloaded
from serve.body_guard import BodyGuardMiddleware
from serve.errors import ApiError, install_error_handlers
from serve.explainer import ExplainPool
from serve.json_body import JSONBodyRoute
from serve.limits import check_explain_budget, request_texts
from serve.memory import configure_allocator, trim_heap_every
from serve.middleware import AccessLogMiddleware
from serve.model_gate import ModelGate, gated
from serve.openapi import document_limits
from serve.schemas import (
    Classification,
    ClassifyRequest,
    ClassifyResponse,
    EvidenceSpan,
    FeedbackRequest,
    FeedbackResponse,
    Item,
    SegmentResult,
    error_responses,
)
from training.label_store import LabelStore, LabelStoreError, NewLabel

log = logging.getLogger("needlens.serve")
WARM_UP_TEXT = "预热：服务启动后的第一次推理"


@dataclass(frozen=True)
class ServedModel:
    """A loaded model and the pools feeding it: swapped as one, so a request never mixes two models."""

    predictor: Predictor
    batcher: MicroBatcher
    explainer: ExplainPool
    facts: dict[str, Any]

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
        self.store_error: str | None = None
        self._reload_lock = asyncio.Lock()
        try:
            self.store = LabelStore(settings.label_store)
        except LabelStoreError as exc:  # classify can still serve; readiness and feedback say why not
            self.store_error = str(exc)
            log.error("%s", exc)

    def label_store(self) -> LabelStore:
        if self.store is None:
            raise ApiError(503, "store_unusable", self.store_error or "label store unavailable")
        return self.store

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
        return ServedModel(predictor, batcher, explainer, _model_facts(predictor))

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
                error = f"{type(exc).__name__}: {exc}"
                if error != last_error:
                    log.error("model reload failed, still serving the previous model: %s", error)
                last_error = error


def _model_facts(predictor: Predictor) -> dict[str, Any]:
    config = predictor.config
    model_dir = predictor.model_dir or Path()
    training = read_json_file(model_dir / "training.json")
    metrics = read_json_file(model_dir / "metrics.json")
    summary_keys = ("n", "needs_macro_f1", "cause_accuracy", "cause_macro_f1", "needs_ece", "cause_ece")
    return {
        "version": predictor.version,
        "base_model": config.base_model,
        "base": config.base_facts,
        "label_schema": {
            "version": SCHEMA_VERSION,
            "needs": {str(n): CHINESE_NAMES[n] for n in NEEDS},
            "causes": {str(c): CHINESE_NAMES[c] for c in CAUSES},
        },
        "thresholds": dict(zip(config.needs, config.need_thresholds, strict=True)),
        "temperatures": {
            "needs": dict(zip(config.needs, config.need_temperatures, strict=True)),
            "cause": config.cause_temperature,
        },
        "training_data": training.get("data"),
        "evaluation": {
            "data": metrics.get("data", {}).get("path"),
            "model": {k: metrics.get("model", {}).get(k) for k in summary_keys} if metrics else None,
            "baseline": {k: (metrics.get("baseline") or {}).get(k) for k in summary_keys} if metrics else None,
        },
    }


def _labels(p: Prediction | Segment) -> dict[str, Any]:
    return {
        "needs": p.needs,
        "need_probabilities": p.need_probs,
        "cause": p.cause,
        "cause_probabilities": p.cause_probs,
    }


def classification(item: Item, p: Prediction) -> Classification:
    segments = p.segments and [SegmentResult(start=s.start, end=s.end, **_labels(s)) for s in p.segments]
    evidence = p.evidence and {
        label: [EvidenceSpan(**asdict(span)) for span in spans] for label, spans in p.evidence.items()
    }
    return Classification(
        id=item.id,
        truncated=p.truncated,
        needs_review=p.needs_review,
        evidence=evidence,
        segments=segments,
        **_labels(p),
    )


def create_app(settings: Settings | None = None, predictor: Predictor | None = None) -> FastAPI:
    settings = settings or Settings()
    state = ServiceState(settings, predictor)

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        configure_allocator(settings.mmap_threshold_kib)
        loading = asyncio.create_task(state.load())
        watching = asyncio.create_task(state.watch(settings.reload_poll_s)) if settings.reload_poll_s else None
        trimming = asyncio.create_task(trim_heap_every(settings.heap_trim_s)) if settings.heap_trim_s else None
        yield
        for task in (watching, trimming):
            if task is not None:
                task.cancel()
        await loading
        if state.served is not None:
            await state.served.stop()

    app = FastAPIOffline(  # /docs and /redoc from the package's own copy of Swagger UI and ReDoc, no CDN
        title="needlens",
        version="1",
        summary="Need levels and complaint cause of Chinese customer feedback.",
        lifespan=lifespan,
    )
    app.router.route_class = JSONBodyRoute
    app.state.service = state
    install_error_handlers(app)
    document_limits(app, settings)
    app.add_middleware(BodyGuardMiddleware, max_bytes=settings.max_body_bytes, read_timeout_s=settings.body_timeout_s)
    app.add_middleware(AccessLogMiddleware)
    require_key = bearer_guard(settings.api_key)

    def require_ready() -> ServedModel:
        if state.served is None:
            message = f"model failed to load: {state.load_error}" if state.load_error else "model is loading"
            raise ApiError(503, "not_ready", message, headers={"Retry-After": "5"})
        return state.served

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", tags=["health"], responses=error_responses(503))
    def readyz() -> dict[str, str]:
        version = require_ready().predictor.version
        if state.store_error:  # classify still answers; an operator must see that feedback cannot
            raise ApiError(503, "not_ready", state.store_error)
        return {"status": "ready", "model_version": version}

    @app.post(
        "/v1/classify",
        response_model=ClassifyResponse,
        dependencies=[Depends(require_key)],
        tags=["v1"],
        responses=error_responses(400, 401, 408, 413, 415, 422, 503),
    )
    async def classify(body: ClassifyRequest, request: Request) -> ClassifyResponse:
        items = body.as_items()
        request.state.items = len(items)
        texts = request_texts(items, settings)
        if body.explain:
            check_explain_budget(texts, settings)
        if settings.log_texts:
            request.state.texts = texts
        served = require_ready()  # read once: a reload swaps the model and its pools together
        predictions = await served.predict(texts, body.explain, settings.request_timeout_s)
        return ClassifyResponse(
            model_version=served.predictor.version,
            results=[classification(item, p) for item, p in zip(items, predictions, strict=True)],
        )

    @app.get("/v1/model", dependencies=[Depends(require_key)], tags=["v1"], responses=error_responses(401, 503))
    def model_info() -> dict[str, Any]:
        return require_ready().facts

    @app.post(
        "/v1/model/reload", dependencies=[Depends(require_key)], tags=["v1"], responses=error_responses(401, 500, 503)
    )
    async def reload_model() -> dict[str, Any]:
        """Load the registry's active model now instead of at the next pointer check."""
        try:
            reloaded = await state.reload_if_changed()
        except Exception as exc:
            raise ApiError(
                500, "reload_failed", f"still serving the previous model: {type(exc).__name__}: {exc}"
            ) from None
        return {"reloaded": reloaded, "model_version": require_ready().predictor.version}

    @app.post(
        "/v1/feedback",
        status_code=201,
        response_model=FeedbackResponse,
        dependencies=[Depends(require_key)],
        tags=["v1"],
        responses=error_responses(400, 401, 408, 413, 415, 422, 503),
    )
    def feedback(body: FeedbackRequest) -> FeedbackResponse:
        try:
            text = validate_text(body.text, settings.api_max_chars)
        except TextProblem as problem:
            raise ApiError(422, f"text_{problem.code}", f"text: {problem}", {"limit": settings.api_max_chars}) from None
        store = state.label_store()
        try:
            earlier = store.history(text)
            event = store.add(
                NewLabel(
                    text, body, "feedback", annotator=body.annotator, note=body.note, model_version=body.model_version
                )
            )
        except LabelStoreError as exc:  # damage that appeared after start-up
            log.error("%s", exc)
            raise ApiError(503, "store_unusable", str(exc)) from None
        return FeedbackResponse(
            id=event.id,
            text_hash=event.text_hash,
            created_at=event.created_at,
            supersedes=earlier[-1].id if earlier else None,
        )

    return app


def create_app_from_env() -> FastAPI:
    """Factory for uvicorn workers: each reads the same NEEDLENS_* environment."""
    return create_app()
