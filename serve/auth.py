"""The bearer-key check of the /v1 routes.

Keys are compared as raw bytes: ``secrets.compare_digest`` refuses ``str`` with non-ASCII
characters, and a header's bytes need be neither UTF-8 nor anything else, so a key like
``密钥`` (configured or sent) is an ordinary right or wrong key, never a 500.
"""

from __future__ import annotations

import secrets

from fastapi import Request

from serve.dependencies import Service
from serve.errors import ApiError


async def require_key(request: Request, service: Service) -> None:  # async: no thread hop for a comparison
    """401 unless the request carries ``Authorization: Bearer <NEEDLENS_API_KEY>`` (when one is set)."""
    api_key = service.settings.api_key
    if api_key is None:
        return
    header = next((value for name, value in request.scope["headers"] if name == b"authorization"), b"")
    scheme, _, token = header.partition(b" ")
    if scheme.lower() != b"bearer" or not secrets.compare_digest(token, api_key.get_secret_value().encode("utf-8")):
        raise ApiError(401, "unauthorized", "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})
