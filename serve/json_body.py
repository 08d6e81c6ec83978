"""JSON request bodies: JSON media type or 415, and UTF-8 or the same 400 as malformed JSON.

FastAPI leaves a body of another media type as bytes (then a confusing 422 about a
dictionary) and turns bytes that are not UTF-8 into a 400 without a position, while
malformed JSON is a 422; routes built from ``JSONBodyRoute`` answer each fault once, and refuse
an object that names a key twice.
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from classifier import json_text
from classifier.json_text import DuplicateKeyError, UnusableJsonError
from serve.errors import ApiError


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


class StrictJSONRequest(Request):
    async def body(self) -> bytes:
        """An empty body is malformed JSON too (FastAPI would report the body's fields as missing)."""
        body = await super().body()
        if not body:
            raise json.JSONDecodeError("the body is empty; send a JSON object", "", 0)
        return body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:  # FastAPI answers JSONDecodeError as json_invalid, with the position
                reason = f"not UTF-8 (byte 0x{body[exc.start]:02x})"
                raise json.JSONDecodeError(reason, body.decode("latin-1"), exc.start) from None
            try:
                self._json = json_text.loads(text)
            except json.JSONDecodeError:
                raise
            except DuplicateKeyError as exc:
                raise ApiError(400, "invalid_json", f"{exc}; send it once", {"key": exc.shown}) from None
            except UnusableJsonError as exc:
                raise ApiError(400, "invalid_json", f"body is not usable JSON: {exc}") from None
        return self._json


class JSONBodyRoute(APIRoute):
    """An ``APIRoute`` whose body, when it takes one, must be UTF-8 JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def strict_handler(request: Request) -> Response:
            content_type = request.headers.get("content-type")
            if not _is_json(content_type):
                raise ApiError(
                    415,
                    "unsupported_media_type",
                    f"the body must be JSON sent as 'Content-Type: application/json' (got {content_type!r})",
                )
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler
