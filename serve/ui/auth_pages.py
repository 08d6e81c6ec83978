"""Signing in and out of the review UI."""

from __future__ import annotations

import asyncio
import math

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serve.dependencies import Service
from serve.ui.forms import CheckedForm
from serve.ui.passwords import authenticate
from serve.ui.routing import UiRoute
from serve.ui.session import OptionalAccount, Session, safe_next
from serve.ui.sign_in_limit import SignInLimit
from serve.ui.templating import page

router = APIRouter(prefix="/ui", route_class=UiRoute)
MAX_NAME, MAX_PASSWORD = 200, 1000


@router.get("/login")
def login_form(request: Request, account: OptionalAccount, service: Service, next: str = "") -> HTMLResponse:
    return page(
        request, "login.html", account, next=safe_next(next), error=None, accounts=bool(service.settings.ui_users)
    )


@router.post("/login")
async def login(request: Request, form: CheckedForm, session: Session, service: Service) -> Response:
    # the name stripped, as `review hash-password` strips it: " ana" typed is ana, not a stranger
    name, password = form.get("name", "")[:MAX_NAME].strip(), form.get("password", "")[:MAX_PASSWORD]
    target, accounts = safe_next(form.get("next")), bool(service.settings.ui_users)
    limit = SignInLimit.of(request.app, service.settings)
    address = request.client.host if request.client else ""
    if wait := limit.wait_s(name, address):
        session.sign_out()
        error = f"Too many wrong passwords. Try again in {math.ceil(wait / 60)} min."
        response = page(request, "login.html", None, status_code=429, next=target, error=error, accounts=accounts)
        response.headers["Retry-After"] = str(wait)
        return response
    user = await asyncio.to_thread(authenticate, service.settings.ui_users, name, password)  # scrypt: off the loop
    if user is None:
        limit.failed(name, address)
        session.sign_out()
        error = "Wrong name or password."
        return page(request, "login.html", None, status_code=401, next=target, error=error, accounts=accounts)
    limit.succeeded(name)
    session.sign_in(name, user.password_hash)
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
async def logout(request: Request, form: CheckedForm, session: Session, service: Service) -> Response:
    if session.user:
        queue = getattr(request.app.state, "ui_queue", None)
        if queue is not None:  # the item they held is free for others at once
            await asyncio.to_thread(queue.release, session.user)
    session.sign_out()
    return RedirectResponse("/ui/login", status_code=303)
