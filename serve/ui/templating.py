"""Jinja2 templates for the review UI, autoescaped: every text a customer or annotator wrote is
HTML-escaped where it is written into a page, whatever it holds."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from classifier.labels import CAUSES, CHINESE_NAMES, NEEDS, SCHEMA_VERSION
from serve.ui.session import Account

environment = Environment(
    loader=PackageLoader("serve.ui", "templates"),
    autoescape=True,  # every template, whatever its name
    undefined=StrictUndefined,  # a misspelt variable fails the test that renders it, not silently blank
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.globals.update(
    NEEDS=[str(n) for n in NEEDS],
    CAUSES=[str(c) for c in CAUSES],
    CHINESE_NAMES={str(k): v for k, v in CHINESE_NAMES.items()},
    SCHEMA_VERSION=SCHEMA_VERSION,
)
environment.filters["pct"] = lambda value: "–" if value is None else f"{float(value):.0%}"
environment.filters["figure"] = lambda value, digits=3: "–" if value is None else f"{float(value):.{digits}f}"


def render(name: str, **context: Any) -> str:
    return environment.get_template(name).render(**context)


def page(request: Request, name: str, account: Account | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A whole page: the layout gets the account (navigation, sign-out) and the CSRF token."""
    session = request.state.ui_session
    html = render(name, account=account, csrf=session.csrf, path=request.url.path, **context)
    return HTMLResponse(html, status_code=status_code)
