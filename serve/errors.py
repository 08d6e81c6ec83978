"""One error shape for every failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from classifier.labels import validation_message

log = logging.getLogger("needlens.serve")


class ApiError(StarletteHTTPException):
    """A refusal with its code. An ``HTTPException`` so that one raised while the body is read
    (by ``serve.body_guard``) passes FastAPI's body parsing unchanged instead of becoming a 400."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, headers)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def _invalid_json(error: dict[str, Any]) -> JSONResponse:
    """Malformed JSON and bytes that are not UTF-8 are one fault: 400, with where it is."""
    position = error["loc"][-1]
    reason = error.get("ctx", {}).get("error", error["msg"])
    return error_response(
        400, "invalid_json", f"body is not valid JSON at position {position}: {reason}", {"position": position}
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if errors and errors[0]["type"] == "json_invalid":
            return _invalid_json(errors[0])
        details = [
            {"field": ".".join(str(p) for p in err["loc"] if p != "body"), "message": validation_message(err)}
            for err in errors
        ]
        first = details[0] if details else {"field": "body", "message": "invalid"}
        return error_response(422, "invalid_request", f"{first['field'] or 'body'}: {first['message']}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(
            exc.status_code, _CODES.get(exc.status_code, "http_error"), str(exc.detail), None, exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal", "internal error; see the service log")
