"""The route class of every review-UI route: the session cookie and the browser-side defences.

FastAPI drops headers a dependency set when a route returns its own ``Response`` (as pages
do), so the session cookie is written here, after the route, from the request's session.
Every answer also carries a content security policy that runs only this service's own
script and styles (an injected ``<script>`` or ``onerror=`` would not run even if a text
escaped escaping), forbids framing, and is not cached (pages hold customers' texts).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from serve.ui.session import write_cookie

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self';"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class UiRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def ui_handler(request: Request) -> Response:
            response = await handler(request)
            write_cookie(request, response)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return ui_handler
