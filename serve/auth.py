"""The bearer-key check of the /v1 routes.

Keys are compared as raw bytes: ``secrets.compare_digest`` refuses ``str`` with non-ASCII
characters, and a header's bytes need be neither UTF-8 nor anything else, so a key like
``密钥`` (configured or sent) is an ordinary right or wrong key, never a 500.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from pydantic import SecretStr

from serve.errors import ApiError


def bearer_guard(api_key: SecretStr | None) -> Callable[[Request], Coroutine[Any, Any, None]]:
    """A FastAPI dependency: 401 unless the request carries ``Authorization: Bearer <api_key>``."""
    expected = api_key.get_secret_value().encode("utf-8") if api_key is not None else None

    async def require_key(request: Request) -> None:  # async: no thread hop for a comparison
        if expected is None:
            return
        header = next((value for name, value in request.scope["headers"] if name == b"authorization"), b"")
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"bearer" or not secrets.compare_digest(token, expected):
            raise ApiError(401, "unauthorized", "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})

    return require_key
