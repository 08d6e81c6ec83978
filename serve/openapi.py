"""The configured request limits, written into the OpenAPI schema.

The request models are static; the limits come from settings. Written into the schema, they
show in /docs, and a client (or schemathesis, ``tests/test_serve_fuzz.py``) generating
requests from the schema produces requests the service accepts.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from classifier.labels import VISIBLE_CHARACTER  # the rule validate_text applies: one visible character
from classifier.settings import Settings


def document_limits(app: FastAPI, settings: Settings) -> None:
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
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
