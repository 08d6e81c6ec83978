"""The agreement page: `needlens agreement`'s figures over the label store's doubly labeled texts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from label_loop.agreement import store_agreement
from serve.dependencies import Service
from serve.ui.routing import UiRoute
from serve.ui.session import PageAccount
from serve.ui.templating import page

router = APIRouter(prefix="/ui", route_class=UiRoute)
DISAGREEMENTS_SHOWN = 200


@router.get("/agreement")
def agreement(request: Request, account: PageAccount, service: Service) -> HTMLResponse:
    report = store_agreement(service.label_store().all_events())
    return page(request, "agreement.html", account, report=report, limit=DISAGREEMENTS_SHOWN)
