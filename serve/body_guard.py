"""ASGI middleware bounding what a request body may cost: its size and the time to read it.

- Over ``max_bytes``: 413, by Content-Length before anything is read, or as soon as a
  chunked body passes the limit while it streams in.
- Not fully read within ``read_timeout_s`` of the request's start (a client that promised a
  body and stalls, or trickles it): 408.

Both close the connection (the rest of the body is never read). While the app reads the
body, the refusal is raised as an ``ApiError`` from ``receive``: FastAPI lets an
``HTTPException`` from body reading through, and the app's handler writes the usual error
shape. Uvicorn itself has no body timeout (``timeout_keep_alive`` only covers the idle time
between requests).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve.errors import ApiError, error_response

_CLOSE = {"Connection": "close"}


class BodyGuardMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, read_timeout_s: float) -> None:
        self.app, self.max_bytes, self.read_timeout_s = app, max_bytes, read_timeout_s

    def _too_large(self) -> ApiError:
        return ApiError(
            413,
            "too_large",
            f"request body is over the limit of {self.max_bytes} bytes",
            {"limit": self.max_bytes},
            _CLOSE,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            refusal = self._too_large()
            response = error_response(refusal.status, refusal.code, refusal.message, refusal.details, _CLOSE)
            await response(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.read_timeout_s
        seen, complete = 0, False

        async def guarded_receive() -> Message:
            nonlocal seen, complete
            if complete:  # after the body, receive only waits for a disconnect: no deadline then
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise ApiError(
                    408,
                    "body_timeout",
                    f"request body not received within {self.read_timeout_s:g} s",
                    {"limit_s": self.read_timeout_s},
                    _CLOSE,
                ) from None
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise self._too_large()
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, guarded_receive, send)
