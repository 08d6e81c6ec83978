"""Who is signed in to the review UI: a signed, HttpOnly, SameSite=Strict cookie.

The cookie holds the account name, a fingerprint of its password hash (changing a password
ends its sessions) and the CSRF token forms must echo. The role is never taken from the
cookie: it is read from the settings on every request, so removing an account or demoting
an admin takes effect at once. The signing key is ``NEEDLENS_UI_SECRET``, or a random one
per process when unset (sign-ins then end at a restart, and do not cross worker processes).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from itsdangerous import BadData, URLSafeTimedSerializer

from classifier.settings import Settings
from serve.dependencies import Service
from serve.errors import ApiError
from serve.settings import UiRole

log = logging.getLogger("needlens.serve")
COOKIE = "needlens_ui"
PATH = "/ui"


@dataclass
class UiSession:
    csrf: str
    user: str | None = None
    fingerprint: str | None = None
    changed: bool = False  # the cookie must be written back with the response

    def sign_in(self, user: str, password_hash: str) -> None:
        """A new token at sign-in, so a token seen before it is worth nothing after."""
        self.user, self.fingerprint = user, fingerprint(password_hash)
        self.csrf, self.changed = secrets.token_urlsafe(32), True

    def sign_out(self) -> None:
        self.user = self.fingerprint = None
        self.csrf, self.changed = secrets.token_urlsafe(32), True


@dataclass(frozen=True)
class Account:
    name: str
    role: UiRole

    @property
    def admin(self) -> bool:
        return self.role == "admin"


def fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


def _signer(request: Request, settings: Settings) -> URLSafeTimedSerializer:
    """One per app; made on first use (no await in between: two requests cannot make two)."""
    signer = getattr(request.app.state, "ui_signer", None)
    if signer is None:
        if settings.ui_secret is not None:
            key = settings.ui_secret.get_secret_value()
        else:
            key = secrets.token_urlsafe(32)
            if settings.workers > 1:
                log.warning("NEEDLENS_UI_SECRET is unset: /ui sign-ins hold only within one of the worker processes")
        signer = URLSafeTimedSerializer(key, salt="needlens-ui-session")
        request.app.state.ui_signer = signer
    return signer


def _read(request: Request, settings: Settings) -> UiSession | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data: Any = _signer(request, settings).loads(raw, max_age=settings.ui_session_hours * 3600)
    except BadData:  # forged, expired, truncated, or signed with another key
        return None
    if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
        return None
    user, print_ = data.get("user"), data.get("fingerprint")
    account = settings.ui_users.get(user) if isinstance(user, str) else None
    if account is None or print_ != fingerprint(account.password_hash):
        return UiSession(data["csrf"])  # signed out: the account is gone or its password changed
    return UiSession(data["csrf"], user, print_)


async def ui_session(request: Request, service: Service) -> UiSession:
    """The request's session (one per request), a fresh anonymous one when the cookie is absent or bad."""
    session = getattr(request.state, "ui_session", None)
    if session is None:
        session = _read(request, service.settings) or UiSession(secrets.token_urlsafe(32), changed=True)
        request.state.ui_session = session
    return session


Session = Annotated[UiSession, Depends(ui_session)]


def write_cookie(request: Request, response: Response) -> None:
    """Send the session back if it changed (signed in, signed out, or new)."""
    session: UiSession | None = getattr(request.state, "ui_session", None)
    if session is None or not session.changed:
        return
    settings: Settings = request.app.state.service.settings
    value = _signer(request, settings).dumps(
        {"csrf": session.csrf, "user": session.user, "fingerprint": session.fingerprint}
    )
    response.set_cookie(
        COOKIE,
        value,
        max_age=int(settings.ui_session_hours * 3600),
        path=PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def _account(session: UiSession, settings: Settings) -> Account | None:
    user = settings.ui_users.get(session.user) if session.user else None
    return Account(session.user, user.role) if user is not None and session.user else None


async def optional_account(session: Session, service: Service) -> Account | None:
    return _account(session, service.settings)


async def page_account(request: Request, session: Session, service: Service) -> Account:
    """The signed-in account; a page asked for without one sends the browser to sign in."""
    account = _account(session, service.settings)
    if account is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise ApiError(303, "sign_in_required", "sign in first", headers={"Location": login_url(target)})
    return account


async def action_account(session: Session, service: Service) -> Account:
    """The signed-in account; a script's request without one is told so (401), not redirected."""
    account = _account(session, service.settings)
    if account is None:
        raise ApiError(401, "sign_in_required", "signed out: sign in again")
    return account


async def admin_account(account: Annotated[Account, Depends(action_account)]) -> Account:
    if not account.admin:
        raise ApiError(403, "admin_only", f"{account.name} is an annotator; only an admin may do this")
    return account


def login_url(target: str) -> str:
    return f"{PATH}/login?next={quote(target, safe='')}"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this UI only, never another site."""
    if not target or any(ch < " " or ch == "\\" for ch in target):
        return PATH
    return target if target == PATH or target.startswith((f"{PATH}/", f"{PATH}?")) else PATH


OptionalAccount = Annotated[Account | None, Depends(optional_account)]
PageAccount = Annotated[Account, Depends(page_account)]
ActionAccount = Annotated[Account, Depends(action_account)]
AdminAccount = Annotated[Account, Depends(admin_account)]
