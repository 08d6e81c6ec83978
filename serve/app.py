"""The FastAPI application, assembled: settings, shared state, middleware, error handlers, routers.

Routes live in their routers (``serve.health``, ``serve.api``, ``serve.monitor_api``) and reach the one
``ServiceState`` through ``app.state``; nothing here is a route. The model loads in the
background after start-up, so /healthz answers at once and /readyz turns ready only after a
warm-up inference.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from classifier.inference import Predictor
from classifier.settings import Settings
from serve import api, health, monitor_api, ui
from serve.body_guard import BodyGuardMiddleware
from serve.errors import install_error_handlers
from serve.memory import configure_allocator, trim_heap_every
from serve.middleware import AccessLogMiddleware
from serve.openapi import document_settings
from serve.query_guard import QueryGuardMiddleware
from serve.state import ServiceState


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model, follow the registry and trim the heap in the background; on shutdown,
    drain what was queued."""
    service: ServiceState = app.state.service
    settings = service.settings
    configure_allocator(settings.mmap_threshold_kib)
    loading = asyncio.create_task(service.load())
    watching = asyncio.create_task(service.watch(settings.reload_poll_s)) if settings.reload_poll_s else None
    trimming = asyncio.create_task(trim_heap_every(settings.heap_trim_s)) if settings.heap_trim_s else None
    yield
    for task in (watching, trimming):
        if task is not None:
            task.cancel()
    await loading
    if service.served is not None:
        await service.served.stop()


def create_app(settings: Settings | None = None, predictor: Predictor | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPIOffline(  # /docs and /redoc from the package's own copy of Swagger UI and ReDoc, no CDN
        title="needlens",
        version="1",
        summary="Need levels and complaint cause of Chinese customer feedback.",
        lifespan=lifespan,
    )
    app.state.service = ServiceState(settings, predictor)
    install_error_handlers(app)
    document_settings(app, settings)
    app.add_middleware(BodyGuardMiddleware, max_bytes=settings.max_body_bytes, read_timeout_s=settings.body_timeout_s)
    app.add_middleware(QueryGuardMiddleware)
    app.add_middleware(AccessLogMiddleware)
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(monitor_api.router)
    app.include_router(ui.router)  # the review workspace under /ui, outside the OpenAPI schema
    return app


def create_app_from_env() -> FastAPI:
    """Factory for uvicorn workers: each reads the same NEEDLENS_* environment."""
    return create_app()
