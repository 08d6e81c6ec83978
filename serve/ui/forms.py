"""The review UI's form posts: URL-encoded UTF-8 fields, parsed here, and their CSRF token checked.

Every UI write is such a post (the browser's forms, and the page's script sending
``URLSearchParams``), so one small parser suffices and the service needs no multipart library.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request

from serve.errors import ApiError
from serve.ui.session import Session

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 32
CSRF_FIELD = "csrf_token"


async def form_fields(request: Request) -> dict[str, str]:
    """The post's fields (the first value of a repeated name; none for an empty body); 415 for
    another media type, 400 for bytes that are not UTF-8 or too many fields."""
    body = await request.body()
    if not body:
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise ApiError(415, "unsupported_media_type", f"a form post must be sent as {FORM_TYPE}")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS, encoding="utf-8", errors="strict"
        )
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_form", f"form is not UTF-8 (byte {exc.start})") from None
    except ValueError as exc:  # more than MAX_FIELDS fields
        raise ApiError(400, "invalid_form", str(exc)) from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


async def checked_form(request: Request, session: Session) -> dict[str, str]:
    """The form's fields, once its CSRF token matches the session's: a page of another site can
    make the browser post here, but cannot read the token to put in the form."""
    fields = await form_fields(request)
    token = fields.get(CSRF_FIELD, "").encode("utf-8")
    if not hmac.compare_digest(token, session.csrf.encode("ascii")):
        raise ApiError(403, "csrf_failed", "the form's security token is missing or stale; reload the page")
    return fields


CheckedForm = Annotated[dict[str, str], Depends(checked_form)]
