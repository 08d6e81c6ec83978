"""The configured request limits and API key, written into the OpenAPI schema.

The request models are static; the limits and the key come from settings. Written into the
schema, they show in /docs (with its Authorize button when a key guards /v1), and a client
(or schemathesis, ``tests/test_serve_fuzz.py``) generating requests from the schema produces
requests the service accepts.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from classifier.labels import VISIBLE_CHARACTER  # the rule validate_text applies: one visible character
from classifier.settings import Settings

BEARER = "bearer"
"""The security scheme's name in the schema."""


def document_settings(app: FastAPI, settings: Settings) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            models = generate()["components"]["schemas"]  # generate() caches it in app.openapi_schema
            text = {"maxLength": settings.api_max_chars, "pattern": VISIBLE_CHARACTER.pattern}
            texts, items = (models["ClassifyRequest"]["properties"][name]["anyOf"][0] for name in ("texts", "items"))
            texts["items"].update(text)
            texts["maxItems"] = items["maxItems"] = settings.max_items
            models["Item"]["properties"]["text"].update(text)
            models["FeedbackRequest"]["properties"]["text"].update(text)
            if settings.api_key is not None:
                _document_key(app.openapi_schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_key(schema: dict[str, Any]) -> None:
    """Every /v1 operation needs ``Authorization: Bearer <key>`` (``serve.auth.require_key``); the
    health routes stay open, as the orchestrator probes them without one."""
    schema["components"]["securitySchemes"] = {BEARER: {"type": "http", "scheme": "bearer"}}
    for path, operations in schema["paths"].items():
        if path.startswith("/v1/"):
            for operation in operations.values():
                operation["security"] = [{BEARER: []}]
