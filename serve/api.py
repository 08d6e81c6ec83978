"""The JSON API under /v1: classify, feedback, the model's facts and its reload.

Handlers are thin: limits in ``serve.limits``, inference behind ``ServedModel``, feedback
batches in ``serve.feedback``, stored predictions in ``serve.prediction_storage`` (read back by
``serve.monitor_api``); the shared state comes from ``serve.dependencies``. Every route needs the
API key and takes only UTF-8 JSON bodies (``JSONBodyRoute``), which is why this router is
apart from the health routes and from the review UI, whose forms are not JSON.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from classifier.inference import Prediction, Segment, TextProblem, validate_text
from label_loop.feedback import FEEDBACK
from label_loop.store import NewLabel
from serve.auth import require_key
from serve.dependencies import Ready, Service
from serve.errors import ApiError
from serve.feedback import feedback_state, take_feedback
from serve.json_body import JSONBodyRoute
from serve.limits import check_explain_budget, request_texts
from serve.prediction_storage import store_results
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

router = APIRouter(prefix="/v1", tags=["v1"], dependencies=[Depends(require_key)], route_class=JSONBodyRoute)


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


@router.post(
    "/classify",
    response_model=ClassifyResponse,
    responses=error_responses(400, 401, 408, 413, 415, 422, 503),
)
async def classify(body: ClassifyRequest, request: Request, service: Service) -> ClassifyResponse:
    settings = service.settings
    items = body.as_items()
    request.state.items = len(items)
    texts = request_texts(items, settings)
    if body.explain:
        check_explain_budget(texts, settings)
    if settings.log_texts:
        request.state.texts = texts
    served = service.served_model()  # after the checks: a bad request is a 4xx even while the model loads
    predictions = await served.predict(texts, body.explain, settings.request_timeout_s)
    version = served.predictor.version
    results = [classification(item, p) for item, p in zip(items, predictions, strict=True)]
    storage = await store_results(service, items, texts, results, version, body.store_text) if body.store else None
    return ClassifyResponse(model_version=version, results=results, storage=storage)


@router.get("/model", responses=error_responses(401, 503))
def model_info(served: Ready) -> dict[str, Any]:
    return served.facts


@router.post("/model/reload", responses=error_responses(401, 500, 503))
async def reload_model(service: Service) -> dict[str, Any]:
    """Load the registry's active model now instead of at the next pointer check."""
    try:
        reloaded = await service.reload_if_changed()
    except Exception as exc:
        raise ApiError(500, "reload_failed", service.reload_failure(exc)) from None
    return {"reloaded": reloaded, "model_version": service.served_model().predictor.version}


@router.post(
    "/feedback",
    status_code=201,
    response_model=FeedbackResponse,
    responses=error_responses(400, 401, 408, 413, 415, 422, 503),
)
def feedback(body: FeedbackRequest, service: Service) -> FeedbackResponse:
    limit = service.settings.api_max_chars
    try:
        text = validate_text(body.text, limit)
    except TextProblem as problem:
        details = {"limit": limit} if problem.code == "too_long" else {}  # a limit explains only that one
        raise ApiError(422, f"text_{problem.code}", f"text: {problem}", details) from None
    # after the text's check, as classify reads the model after its own
    entry = NewLabel(text, body, FEEDBACK, annotator=body.annotator, note=body.note, model_version=body.model_version)
    return FeedbackResponse(**asdict(take_feedback(service, entry)))


@router.get("/feedback/{feedback_id}", response_model=FeedbackResponse, responses=error_responses(401, 404, 422, 503))
def feedback_status(feedback_id: Annotated[int, Path(ge=1, le=2**63 - 1)], service: Service) -> FeedbackResponse:
    """What became of a feedback label since it was sent (pending, admitted, held, duplicate)."""
    return FeedbackResponse(**asdict(feedback_state(service, feedback_id)))
