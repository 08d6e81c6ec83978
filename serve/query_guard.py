"""ASGI middleware refusing an API query string that is not UTF-8 once percent-decoded.

Starlette decodes such bytes with replacement, so ``/v1/monitor?by=%ED%A0%80`` reached the route
as "���" and was echoed back as a column name nobody sent. Refused with 400 before any /v1 route
runs; the review UI's pages read a search box's bytes leniently and show what they found.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from serve.errors import error_response


class QueryGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string") and scope["path"].startswith("/v1/"):
            try:
                parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True, errors="strict")
            except UnicodeDecodeError as exc:
                message = f"the query string is not UTF-8 once percent-decoded ({exc.reason})"
                await error_response(400, "invalid_query", message)(scope, receive, send)
                return
        await self.app(scope, receive, send)
