"""The monitor page: `needlens monitor`'s figures, alerts and charts over the stored predictions,
with the service's monitoring settings (``NEEDLENS_MONITOR__*``). Alert examples are stored
prediction ids, each opening in the labeling view."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from label_loop.store import LabelStoreError
from monitor.html_report import chart_images
from monitor.pipeline import MonitorError
from monitor.records import MonitorResult, WindowFigures
from monitor.stored import monitor_store
from serve.dependencies import Service
from serve.ui.routing import UiRoute
from serve.ui.session import PageAccount
from serve.ui.templating import page

router = APIRouter(prefix="/ui", route_class=UiRoute)
CHART_TITLES = {"shares.png": "Label shares", "index.png": "Fluctuation index", "causes.png": "Cause split"}


def latest_windows(result: MonitorResult) -> list[WindowFigures]:
    """Each segment's latest window, largest segments first."""
    latest: dict[str, WindowFigures] = {}
    for figures in result.windows:
        latest[figures.segment_name] = figures
    return sorted(latest.values(), key=lambda w: -w.volume)


@router.get("/monitor")
def monitor(request: Request, account: PageAccount, service: Service) -> HTMLResponse:
    settings = service.settings.monitor
    try:
        result, problem = monitor_store(service.prediction_store(), settings), None
    except (MonitorError, LabelStoreError) as exc:  # too many windows or segments; damage after start-up
        result, problem = None, str(exc)
    images, notes = chart_images(result, settings.chart_segments) if result is not None else ({}, [])
    charts = [(CHART_TITLES.get(name, name), base64.b64encode(png).decode("ascii")) for name, png in images.items()]
    return page(
        request,
        "monitor.html",
        account,
        result=result,
        problem=problem,
        latest=latest_windows(result) if result is not None else [],
        charts=charts,
        notes=notes,
    )
