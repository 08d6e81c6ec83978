"""The queue, search and labeling view: pages, the item fragments the page's script swaps in,
and saving a decision.

The page is rendered here; the item under review is a fragment (``_item.html``) fetched by
``ui.js`` and swapped in, so the next item loads without a page reload. Saving is a form post
answered with JSON. Each step asks the review queue for a lease first (``label_loop.review_queue``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import ValidationError

from classifier.labels import CAUSES, NEEDS, Labels
from label_loop.review_queue import ITEM_KEY, Claim, ItemHeld, QueueFilter, ReviewQueue
from label_loop.store import LabelStoreError
from serve.dependencies import Service
from serve.errors import ApiError
from serve.state import ServiceState
from serve.ui.context import Queue, live_prediction
from serve.ui.forms import CheckedForm
from serve.ui.item_view import build_view
from serve.ui.routing import UiRoute
from serve.ui.search import search
from serve.ui.session import Account, ActionAccount, PageAccount
from serve.ui.templating import page, render

router = APIRouter(prefix="/ui", route_class=UiRoute)
WAITING_SHOWN = 25
SEARCH_LIMIT = 50
MAX_SKIPPED = 500
MAX_FILTER = 200
_LABELS = frozenset({*(str(n) for n in NEEDS), *(str(c) for c in CAUSES)})


def queue_filter(source: str = "all", label: str = "", model_version: str = "", domain: str = "") -> QueueFilter:
    """The filters from the query string; an unknown value is no filter, not an error."""
    return QueueFilter(
        source="stored" if source == "stored" else "queued" if source == "queued" else "all",
        label=label if label in _LABELS else None,
        model_version=model_version[:MAX_FILTER] or None,
        domain=domain[:MAX_FILTER] or None,
    )


Wanted = Annotated[QueueFilter, Depends(queue_filter)]


def _query(wanted: QueueFilter) -> str:
    given = {"source": wanted.source if wanted.source != "all" else None, "label": wanted.label}
    given |= {"model_version": wanted.model_version, "domain": wanted.domain}
    return urlencode({name: value for name, value in given.items() if value})


def _queue_page(
    request: Request,
    account: Account,
    queue: ReviewQueue,
    wanted: QueueFilter,
    item_url: str = "",
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    waiting, total = queue.waiting(wanted, WAITING_SHOWN)
    return page(
        request,
        "queue.html",
        account,
        status_code,
        wanted=wanted,
        filtered=wanted != QueueFilter(),
        filter_query=_query(wanted),
        waiting=waiting,
        total=total,
        holders=queue.holders([item.key for item in waiting]),
        item_url=item_url,
        notice=notice,
    )


@router.get("")
def home(
    request: Request, account: PageAccount, queue: Queue, service: Service, wanted: Wanted, q: str = ""
) -> HTMLResponse:
    """The queue, or with ``q`` the search results."""
    if q.strip():
        hits = search(q, queue, service.predictions, SEARCH_LIMIT)
        return page(request, "search.html", account, q=q, hits=hits, limit=SEARCH_LIMIT)
    return _queue_page(request, account, queue, wanted)


@router.get("/item/{key}")
def item_page(request: Request, key: str, account: PageAccount, queue: Queue, wanted: Wanted) -> HTMLResponse:
    """The queue page opened on one item (from search, the waiting list, a link someone sent)."""
    if queue.item(key) is None:
        return _queue_page(request, account, queue, wanted, notice=f"No item {key[:40]}.", status_code=404)
    return _queue_page(request, account, queue, wanted, item_url=f"/ui/queue/item/{key}")


async def _fragment(service: ServiceState, queue: ReviewQueue, claim: Claim) -> HTMLResponse:
    item = claim.item
    if item.prediction is not None:
        prediction, source, version, note = item.prediction, "stored", item.model_version, None
    else:  # a queued text or a label: what the served model says of it now, with its evidence
        prediction, version, note = await live_prediction(service, item.text)
        source = "live"
    history = await asyncio.to_thread(queue.store.history, item.text)
    decisions = await asyncio.to_thread(queue.decisions, item.key)
    view = build_view(item, prediction, source, version, history, decisions, claim, note)
    return HTMLResponse(render("_item.html", view=view))


@router.get("/queue/next")
async def next_item(
    account: ActionAccount, queue: Queue, service: Service, wanted: Wanted, skip: str = ""
) -> HTMLResponse:
    """The next waiting item nobody else holds, leased to this annotator; ``skip``: keys passed over."""
    skipped = [key for key in skip.split(",")[:MAX_SKIPPED] if ITEM_KEY.match(key)]
    lease = service.settings.ui_lease_s
    claim = await asyncio.to_thread(queue.claim_next, account.name, wanted, lease, skipped)
    if claim is None:
        return HTMLResponse(render("_empty.html", filtered=wanted != QueueFilter(), skipped=len(skipped)))
    return await _fragment(service, queue, claim)


@router.get("/queue/item/{key}")
async def item_fragment(key: str, account: ActionAccount, queue: Queue, service: Service) -> HTMLResponse:
    """One item, leased to this annotator unless someone else holds it (then read-only)."""
    item = await asyncio.to_thread(queue.item, key)
    if item is None:
        raise ApiError(404, "not_found", f"no item {key[:40]}")
    claim = await asyncio.to_thread(queue.claim, item, account.name, service.settings.ui_lease_s)
    return await _fragment(service, queue, claim)


@router.post("/queue/item/{key}")
def save(key: str, form: CheckedForm, account: ActionAccount, queue: Queue) -> JSONResponse:
    """The annotator's labels for the item, as a ``review`` event in the label store; 409 while
    another annotator holds the item (no admin override: the holder's label is on its way)."""
    item = queue.item(key)
    if item is None:
        raise ApiError(404, "not_found", f"no item {key[:40]}")
    try:
        labels = Labels(needs=form.get("needs", ""), cause=form.get("cause", ""))
    except ValidationError as exc:
        fields = sorted({str(error["loc"][0]) for error in exc.errors()})
        raise ApiError(
            422, "invalid_labels", f"pick at least one need and exactly one cause (check: {', '.join(fields)})"
        ) from None
    try:
        decision = queue.decide(item, account.name, labels)
    except ItemHeld as exc:  # the page said "look, not save"; a request sent without it is refused here
        raise ApiError(409, "item_held", str(exc), {"holder": exc.holder}) from None
    except LabelStoreError as exc:
        raise ApiError(503, "store_unusable", str(exc)) from None
    crossed = f"; {', '.join(decision.crossed)} also labeled it, both labels are kept" if decision.crossed else ""
    return JSONResponse(
        {
            "saved": True,
            "key": item.key,
            "action": decision.action,
            "label_event_id": decision.label_event_id,
            "crossed": decision.crossed,
            "message": f"{item.key} saved ({decision.action}{crossed})",
        }
    )
