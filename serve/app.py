"""The FastAPI application: routes are thin; inference, validation and storage live below.

The model loads in the background after start-up, so /healthz answers at once and /readyz
turns ready only after a warm-up inference.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request

from classifier.inference import Prediction, Predictor, Segment, TextProblem, validate_text
from classifier.labels import CAUSES, CHINESE_NAMES, NEEDS, SCHEMA_VERSION
from classifier.settings import Settings
from serve.batcher import MicroBatcher, Overloaded
from serve.errors import ApiError, install_error_handlers
from serve.middleware import AccessLogMiddleware, BodyLimitMiddleware
from serve.schemas import (
    Classification,
    ClassifyRequest,
    ClassifyResponse,
    EvidenceSpan,
    FeedbackRequest,
    FeedbackResponse,
    Item,
    SegmentResult,
)
from training.label_store import LabelStore, NewLabel

log = logging.getLogger("needlens.serve")
WARM_UP_TEXT = "预热：服务启动后的第一次推理"


class ServiceState:
    """What the routes share: the settings, the model once loaded, the batcher and the label store."""

    def __init__(self, settings: Settings, predictor: Predictor | None) -> None:
        self.settings = settings
        self.predictor = predictor
        self.batcher: MicroBatcher | None = None
        self.store = LabelStore(settings.label_store)
        self.model_facts: dict[str, Any] = {}
        self.load_error: str | None = None

    @property
    def ready(self) -> bool:
        return self.batcher is not None

    async def load(self) -> None:
        try:
            if self.predictor is None:
                self.predictor = await asyncio.to_thread(Predictor.load, self.settings.model_dir, self.settings)
            await asyncio.to_thread(self.predictor.predict, [WARM_UP_TEXT])
            self.model_facts = _model_facts(self.predictor, self.settings.model_dir)
        except Exception as exc:  # the service stays up and says why it is not ready
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.error("model failed to load: %s", self.load_error)
            return
        s = self.settings
        batcher = MicroBatcher(
            self.predictor.predict, s.batch_max_texts, s.batch_max_wait_ms / 1000, s.queue_max_texts, s.micro_batching
        )
        batcher.start()
        self.batcher = batcher
        log.info("ready: model %s", self.predictor.version)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _model_facts(predictor: Predictor, model_dir: Path) -> dict[str, Any]:
    config = predictor.config
    training = _read_json(model_dir / "training.json")
    metrics = _read_json(model_dir / "metrics.json")
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
        loading = asyncio.create_task(state.load())
        yield
        await loading
        if state.batcher is not None:
            await state.batcher.stop()

    app = FastAPI(
        title="needlens",
        version="1",
        summary="Need levels and complaint cause of Chinese customer feedback.",
        lifespan=lifespan,
    )
    app.state.service = state
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLogMiddleware)

    def require_key(request: Request) -> None:
        if settings.api_key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token, settings.api_key.get_secret_value()):
            raise ApiError(401, "unauthorized", "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})

    def require_ready() -> Predictor:
        if not state.ready or state.predictor is None:
            message = f"model failed to load: {state.load_error}" if state.load_error else "model is loading"
            raise ApiError(503, "not_ready", message, headers={"Retry-After": "5"})
        return state.predictor

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> dict[str, str]:
        predictor = require_ready()
        return {"status": "ready", "model_version": predictor.version}

    @app.post("/v1/classify", response_model=ClassifyResponse, dependencies=[Depends(require_key)], tags=["v1"])
    async def classify(body: ClassifyRequest, request: Request) -> ClassifyResponse:
        items = body.as_items()
        request.state.items = len(items)
        if len(items) > settings.max_items:
            raise ApiError(
                413,
                "too_many_items",
                f"{len(items)} items in one request; the limit is {settings.max_items}",
                {"limit": settings.max_items, "count": len(items)},
            )
        texts = []
        for index, item in enumerate(items):
            try:
                texts.append(validate_text(item.text, settings.api_max_chars))
            except TextProblem as problem:
                raise ApiError(
                    422,
                    f"text_{problem.code}",
                    f"item {index}{'' if item.id is None else f' (id {item.id!r})'}: {problem}",
                    {"index": index, "id": item.id, "limit": settings.api_max_chars},
                ) from None
        if settings.log_texts:
            request.state.texts = texts
        predictor = require_ready()
        assert state.batcher is not None
        try:
            predictions = await state.batcher.submit(texts, body.explain)
        except Overloaded as exc:
            raise ApiError(503, "overloaded", f"service is at capacity: {exc}", headers={"Retry-After": "1"}) from None
        return ClassifyResponse(
            model_version=predictor.version,
            results=[classification(item, p) for item, p in zip(items, predictions, strict=True)],
        )

    @app.get("/v1/model", dependencies=[Depends(require_key)], tags=["v1"])
    def model_info() -> dict[str, Any]:
        require_ready()
        return state.model_facts

    @app.post(
        "/v1/feedback",
        status_code=201,
        response_model=FeedbackResponse,
        dependencies=[Depends(require_key)],
        tags=["v1"],
    )
    def feedback(body: FeedbackRequest) -> FeedbackResponse:
        try:
            text = validate_text(body.text, settings.api_max_chars)
        except TextProblem as problem:
            raise ApiError(422, f"text_{problem.code}", f"text: {problem}", {"limit": settings.api_max_chars}) from None
        earlier = state.store.history(text)
        event = state.store.add(
            NewLabel(text, body, "feedback", annotator=body.annotator, note=body.note, model_version=body.model_version)
        )
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
