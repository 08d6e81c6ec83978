"""What the review UI's routes share beyond the service state: the review queue, and the served
model's view of a text that has no stored prediction."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from label_loop.review_queue import ReviewQueue
from serve.api import classification
from serve.dependencies import Service
from serve.errors import ApiError
from serve.schemas import Item
from serve.state import ServiceState


def get_queue(request: Request, service: Service) -> ReviewQueue:
    """One queue per app, over the service's label store (sync: its tables may be created here)."""
    queue = getattr(request.app.state, "ui_queue", None)
    if queue is None:
        queue = ReviewQueue(service.label_store(), service.predictions)
        request.app.state.ui_queue = queue
    return queue


Queue = Annotated[ReviewQueue, Depends(get_queue)]


async def live_prediction(service: ServiceState, text: str) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """(the served model's output for ``text``, its version, None), with evidence when the text is
    within the explain budget; or (None, None, why not) while the model loads or is at capacity."""
    settings = service.settings
    try:
        served = service.served_model()
        explain = len(text) <= settings.explain_max_chars
        [prediction] = await served.predict([text], explain, settings.request_timeout_s)
    except ApiError as exc:
        return None, None, f"no model output: {exc.message}"
    return classification(Item(text=text), prediction).model_dump(mode="json"), served.predictor.version, None
