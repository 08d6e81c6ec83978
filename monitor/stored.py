"""Stored predictions (``label_loop.predictions``) as the rows monitoring reads.

A stored prediction becomes a row shaped like a `needlens label` output row: its metadata
fields as columns (segment fields under their own names), its time under the settings' time
column, its labels and ``p_*`` probabilities. Its stored id is the row's id, so an alert's
example ids name stored predictions that the review pages open. A prediction stored without
a time is counted at the moment it was stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from label_loop.predictions import MISSING_TIMES, TIME_FIELD, PredictionStore, StoredPrediction
from monitor.pipeline import Since, monitor_rows
from monitor.records import MonitorResult
from monitor.settings import MonitorSettings


def stored_rows(predictions: Iterable[StoredPrediction], settings: MonitorSettings) -> Iterator[dict[str, Any]]:
    """One monitoring row per stored prediction, in the order given."""
    for stored in predictions:
        row: dict[str, Any] = dict(stored.metadata)
        moment = stored.metadata.get(TIME_FIELD)
        row[settings.time_column] = stored.created_at if moment in MISSING_TIMES else moment
        row[settings.id_column] = stored.id
        row["needs"], row["cause"] = stored.needs, stored.cause
        row.update({f"p_{label}": probability for label, probability in stored.probabilities.items()})
        yield row


def monitor_store(store: PredictionStore, settings: MonitorSettings, since: Since = None) -> MonitorResult:
    """`needlens monitor --store` and `GET /v1/monitor`: every stored prediction, one streaming pass."""
    return monitor_rows(stored_rows(store.scan(), settings), settings, since)
