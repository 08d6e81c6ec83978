"""The UI's own stylesheet and script, and the Chinese font, served by the service itself (no
CDN: the service works offline). Only the files named here can be fetched."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from monitor.fonts import packaged_font
from serve.errors import ApiError
from serve.ui.routing import UiRoute

router = APIRouter(prefix="/ui", route_class=UiRoute)
STATIC = Path(__file__).parent / "static"
ASSETS = {"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"}
FONT = "NotoSansSC-Regular.otf"


@router.get("/static/{name}")
def asset(name: str) -> FileResponse:
    if name in ASSETS:
        return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})
    font = packaged_font() if name == FONT else None
    if font is None:
        raise ApiError(404, "not_found", f"no asset {name!r}")
    return FileResponse(font, media_type="font/otf", headers={"Cache-Control": "public, max-age=604800"})
