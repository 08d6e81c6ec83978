"""FastAPI dependencies: how a route reaches the shared ``ServiceState`` on ``app.state``.

A route declares ``service: Service`` (or ``served: Ready``) instead of closing over the
state, so its router can live in a module of its own and be mounted on any app that
``create_app`` builds. All are ``async``: reading an attribute needs no thread hop.

FastAPI runs dependencies before it validates the request body, so ``Ready`` suits routes
without one; a route with a body calls ``service.served_model()`` (or ``label_store()``)
after its own checks, so that a bad request is refused as such even while the model loads.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serve.state import ServedModel, ServiceState


async def get_service(request: Request) -> ServiceState:
    return request.app.state.service


Service = Annotated[ServiceState, Depends(get_service)]


async def require_ready(service: Service) -> ServedModel:
    return service.served_model()


Ready = Annotated[ServedModel, Depends(require_ready)]
