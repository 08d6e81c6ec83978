"""The model page: what is served, its evaluation report, the registry's versions and history;
promote and roll back for an admin, through the registry's own functions (the same as
`needlens models promote|rollback`), after which the service loads the new active model; and
retrain for an admin, as `needlens retrain` in a process of its own (``lifecycle/retrain_job.py``)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from classifier.labels import CAUSES, NEEDS
from classifier.model_dir import ACTIVE_POINTER, VERSIONS_DIR, read_json_file
from classifier.settings import Settings
from lifecycle.registry import ModelRegistry, RegistryError
from lifecycle.retrain_job import RetrainJobRunning, latest_job, log_tail, start_retrain
from serve.dependencies import Service
from serve.errors import ApiError
from serve.state import ServiceState
from serve.ui.forms import CheckedForm
from serve.ui.routing import UiRoute
from serve.ui.session import Account, AdminAccount, PageAccount
from serve.ui.templating import page

router = APIRouter(prefix="/ui", route_class=UiRoute)
HISTORY_SHOWN = 50
MAX_REASON = 500
NOTICES = {
    "promoted": "Promoted; the service now serves the active version.",
    "rolled-back": "Rolled back.",
    "retrain-started": "Retraining started in a process of its own; reload this page to follow it.",
}


def served_registry(settings: Settings) -> ModelRegistry:
    """The registry the service follows when it was given one, else the configured registry."""
    model_dir = settings.model_dir
    is_registry = (model_dir / ACTIVE_POINTER).is_file() or (model_dir / VERSIONS_DIR).is_dir()
    return ModelRegistry(model_dir if is_registry else settings.registry_dir)


def promotion_served(settings: Settings, registry: ModelRegistry) -> str:
    """How a candidate that a retrain promotes reaches this service (the job cannot tell it)."""
    if registry.root != settings.model_dir:
        return (
            f"This service serves {settings.model_dir}, not this registry: a promoted candidate is served"
            f" by a service started on the registry (needlens serve --model {registry.root})."
        )
    if settings.reload_poll_s:
        return (
            f"This service follows the registry's ACTIVE pointer (checked every {settings.reload_poll_s:g} s):"
            " a candidate the gate promotes is served within seconds, without a restart."
        )
    return (
        "Pointer checks are off (NEEDLENS_RELOAD_POLL_S=0): a promoted candidate is served"
        " after POST /v1/model/reload or a restart."
    )


def evaluation(model_dir: Path | None) -> dict[str, Any] | None:
    """The figures of a model directory's metrics.json that the page shows, or None without one."""
    metrics = read_json_file(model_dir / "metrics.json") if model_dir is not None else {}
    model = metrics.get("model")
    if not isinstance(model, dict):
        return None
    baseline = metrics.get("baseline") or {}
    per_label = [
        {"label": str(name), **(model.get(group) or {}).get(str(name), {})}
        for group, names in (("needs", NEEDS), ("cause", CAUSES))
        for name in names
    ]
    confusion = model.get("cause_confusion") or {}
    return {
        "data": (metrics.get("data") or {}).get("path", ""),
        "n": model.get("n"),
        "needs_macro_f1": model.get("needs_macro_f1"),
        "cause_macro_f1": model.get("cause_macro_f1"),
        "cause_accuracy": model.get("cause_accuracy"),
        "baseline_needs_macro_f1": baseline.get("needs_macro_f1"),
        "baseline_cause_macro_f1": baseline.get("cause_macro_f1"),
        "per_label": [{k: row.get(k) for k in ("label", "precision", "recall", "f1", "support")} for row in per_label],
        "confusion": {"labels": confusion["labels"], "rows": confusion["rows_true_cols_pred"]}
        if "labels" in confusion and "rows_true_cols_pred" in confusion
        else None,
    }


@router.get("/model")
def model(request: Request, account: PageAccount, service: Service, notice: str = "") -> HTMLResponse:
    registry = served_registry(service.settings)
    served = service.served
    model_dir = served.predictor.model_dir if served is not None else None
    versions, history, problems = [], [], []
    try:
        versions = registry.summaries()
    except RegistryError as exc:  # a version directory removed under us: say so
        problems.append(str(exc))
    try:
        history = list(reversed(registry.history()))[:HISTORY_SHOWN]
    except RegistryError as exc:  # a torn or hand-edited registry.jsonl: the page still shows the rest
        problems.append(str(exc))
    job = latest_job(registry.root)
    return page(
        request,
        "model.html",
        account,
        notice="; ".join(problems) or NOTICES.get(notice),
        served=served.facts if served is not None else None,
        not_served=service.load_error or "The model is loading.",
        report=evaluation(model_dir),
        registry_root=str(registry.root),
        versions=versions,
        history=history,
        job=job,
        job_log=log_tail(job) if job is not None else "",
        promotion_served=promotion_served(service.settings, registry),
    )


async def _follow(service: ServiceState) -> None:
    """Serve the registry's new active version now (not at the next pointer check)."""
    try:
        await service.reload_if_changed()
    except Exception as exc:
        raise ApiError(500, "reload_failed", service.reload_failure(exc)) from None


def _reason(form: dict[str, str], account: Account) -> str:
    reason = form.get("reason", "").strip()[:MAX_REASON]
    if not reason:
        raise ApiError(422, "reason_required", "say why (the reason is recorded in the registry log)")
    return f"{reason} (by {account.name} in the review UI)"


@router.post("/model/promote")
async def promote(form: CheckedForm, account: AdminAccount, service: Service) -> RedirectResponse:
    registry = served_registry(service.settings)
    version = form.get("version", "")
    if version not in registry.version_names():  # a name, never a path out of versions/
        raise ApiError(422, "promote_refused", f"no model version {version[:100]!r} in {registry.versions}")
    try:
        # off the event loop: the switch may wait for another one's lock, and reads the weights
        await asyncio.to_thread(registry.promote, version, _reason(form, account))
    except RegistryError as exc:
        raise ApiError(422, "promote_refused", str(exc)) from None
    await _follow(service)
    return RedirectResponse("/ui/model?notice=promoted", status_code=303)


@router.post("/model/rollback")
async def rollback(form: CheckedForm, account: AdminAccount, service: Service) -> RedirectResponse:
    registry = served_registry(service.settings)
    try:
        await asyncio.to_thread(registry.rollback, _reason(form, account))
    except RegistryError as exc:
        raise ApiError(422, "rollback_refused", str(exc)) from None
    await _follow(service)
    return RedirectResponse("/ui/model?notice=rolled-back", status_code=303)


@router.post("/model/retrain")
def retrain(form: CheckedForm, account: AdminAccount, service: Service) -> RedirectResponse:
    """Start `needlens retrain` on the page's registry; 409 while a retrain runs on it."""
    registry = served_registry(service.settings)
    note = form.get("note", "").strip()[:MAX_REASON]
    try:
        start_retrain(registry, service.settings, account.name, note)
    except RetrainJobRunning as exc:
        raise ApiError(409, "retrain_running", str(exc)) from None
    except RegistryError as exc:  # a torn registry.jsonl, which the job's start reads
        raise ApiError(409, "registry_unreadable", str(exc)) from None
    except OSError as exc:  # a registry folder it cannot write, no process left to start
        raise ApiError(500, "retrain_not_started", f"{type(exc).__name__}: {exc}") from None
    return RedirectResponse("/ui/model?notice=retrain-started", status_code=303)
