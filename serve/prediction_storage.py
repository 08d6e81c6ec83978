"""Classify results into the prediction store, when a request says ``"store": true``.

The classification is the answer; storing it is a side effect that must not cost the answer.
A store that cannot be written (damaged, locked past its timeout, a full disk, or unusable since
start-up) leaves the response as it was, 200 with ``storage.stored`` false and the reason, and
the service log says so: the caller learns these predictions are missing from monitoring
without losing what it asked for. A request's items are stored in one transaction, whole or
not at all, so a retry never leaves half of them twice.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence

from label_loop.predictions import SOURCE_API, TIME_FIELD, NewPrediction
from label_loop.store import LabelStoreError
from monitor.periods import is_unreadable_time
from serve.schemas import Classification, Item, StorageResult
from serve.state import ServiceState

log = logging.getLogger("needlens.serve")


async def store_results(
    service: ServiceState,
    items: Sequence[Item],
    texts: Sequence[str],
    results: Sequence[Classification],
    model_version: str,
    keep_text: bool | None,
) -> StorageResult:
    """Store each item's result with its metadata; ``keep_text`` None takes the service's setting."""
    keep = service.settings.prediction_store_text if keep_text is None else keep_text
    store = service.predictions
    if store is None:
        return StorageResult(stored=False, ids=[], text_stored=False, error=service.store_error)
    entries = [
        NewPrediction(
            text=text,
            source=SOURCE_API,
            model_version=model_version,
            needs=result.needs,
            cause=result.cause,
            probabilities=result.need_probabilities | result.cause_probabilities,
            needs_review=bool(result.needs_review),
            prediction=result.model_dump(mode="json"),
            metadata=item.metadata or {},
            keep_text=keep,
        )
        for item, text, result in zip(items, texts, results, strict=True)
    ]
    try:
        ids = await asyncio.to_thread(store.add, entries)
    except (LabelStoreError, sqlite3.Error) as exc:  # damage after start-up, a lock held too long, a full disk
        log.error("predictions not stored: %s", exc)
        return StorageResult(stored=False, ids=[], text_stored=False, error=f"{type(exc).__name__}: {exc}")
    return StorageResult(stored=True, ids=ids, text_stored=keep, unreadable_times=unreadable_times(items))


def unreadable_times(items: Sequence[Item]) -> list[int]:
    """Items whose ``time`` the monitor will skip. Not refused: the schema cannot say which strings
    are times, and an item the schema allows must not be turned away (the fuzzer checks that)."""
    return [index for index, item in enumerate(items) if is_unreadable_time((item.metadata or {}).get(TIME_FIELD))]
