"""Liveness and readiness, for the orchestrator: no key, no body.

/healthz answers as soon as the process serves HTTP; /readyz only once the model has
loaded and answered a warm-up inference, and not while the label store is unusable.
"""

from __future__ import annotations

from fastapi import APIRouter

from serve.dependencies import Ready, Service
from serve.errors import ApiError
from serve.schemas import error_responses

router = APIRouter(tags=["health"])


# HEAD too (load balancers and uptime checkers probe with it, and got 405), out of the schema,
# where it would be a second operation of the same id
@router.head("/healthz", include_in_schema=False)
@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "alive"}


@router.head("/readyz", include_in_schema=False)
@router.get("/readyz", responses=error_responses(503))
def readyz(served: Ready, service: Service) -> dict[str, str]:
    if service.store_error:  # classify still answers; an operator must see that feedback cannot
        raise ApiError(503, "not_ready", service.store_error)
    return {"status": "ready", "model_version": served.predictor.version}
