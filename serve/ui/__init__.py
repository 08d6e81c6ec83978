"""The review workspace in the browser, served under /ui by `needlens serve`.

Server-side Jinja2 pages and a small script (``static/ui.js``), every asset served by the app
itself. A router per page family; ``router`` gathers them for ``serve.app``. None of it is in
the OpenAPI schema: these are pages and form posts, not the JSON API.
"""

from __future__ import annotations

from fastapi import APIRouter

from serve.ui import agreement_page, assets, auth_pages, model_page, monitor_page, queue_pages

router = APIRouter(include_in_schema=False)
for part in (assets, auth_pages, queue_pages, agreement_page, model_page, monitor_page):
    router.include_router(part.router)
