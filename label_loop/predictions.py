"""Stored predictions: what the model said about a text, kept when a caller asks, for monitoring and review.

`POST /v1/classify` with ``"store": true`` and `needlens label … --store` write here; `needlens
monitor --store`, `GET /v1/monitor` and the review pages read. The rows live in the label store's
SQLite file (table ``predictions``, created by ``label_loop.store``), so one file holds what the
model said and what people said, and one backup keeps both.

Privacy: a text is kept only when the caller asks (``keep_text``). Otherwise only its hash is
(the same hash as the label events', so a stored prediction can be matched with a later label),
and the pieces of it a prediction quotes (evidence spans' and segments' ``text``) are dropped too.
Retention: with ``retention_days`` set, every write first deletes the predictions stored longer
ago than that, so the table holds a rolling period and never grows without bound.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from classifier.labels import LONE_SURROGATE
from label_loop.store import LabelStore, text_hash

SOURCE_API = "api"
"""The source of predictions stored by `POST /v1/classify`."""
TIME_FIELD = "time"
MISSING_TIMES = (None, "")
"""Stored ``time`` values that mean "not given": the prediction's own storing time stands in."""
"""The metadata field that holds the text's own time (when the feedback was written): ISO 8601 text
or epoch seconds. Every other metadata field is a segment (channel, region, …)."""
SCAN_PAGE = 1000
"""Rows read per query while scanning the whole table (each page a short read)."""


def label_source(input_name: str) -> str:
    """The source of predictions stored by `needlens label` from the input file ``input_name``."""
    return f"label:{input_name}"


@dataclass(frozen=True)
class NewPrediction:
    """A prediction to store. ``text`` is always hashed, and kept only with ``keep_text``."""

    text: str
    source: str  # "api" or "label:<input file name>"
    model_version: str
    needs: Sequence[str]
    cause: str
    probabilities: Mapping[str, float]
    """Label → probability, needs and causes together (the ``p_*`` columns of `needlens label`)."""
    needs_review: bool
    prediction: Mapping[str, Any]
    """The whole per-text output of the path that made it: a `/v1/classify` result item, or the
    label fields of a `needlens label` output row (with its ``row`` and ``id``)."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """``time`` (``TIME_FIELD``) and segment fields given with the text."""
    keep_text: bool = False
    origin: str | None = None
    """Makes storing idempotent: a prediction whose origin is already stored is not stored again
    (a batch job's row, which a resumed job may label twice). None: always stored."""


@dataclass(frozen=True)
class StoredPrediction:
    id: int
    created_at: str
    """When it was stored: UTC, ISO 8601 with milliseconds."""
    source: str
    model_version: str
    text_hash: str
    text: str | None
    """None unless the caller asked to keep the text."""
    needs: list[str]
    cause: str
    probabilities: dict[str, float]
    needs_review: bool
    prediction: dict[str, Any]
    metadata: dict[str, Any]


class PredictionStore:
    """The ``predictions`` table of a label store file, through the label store's connections
    (same damage checks, same WAL mode, same one-line ``LabelStoreError`` naming the file)."""

    def __init__(self, store: LabelStore | Path, retention_days: int = 0) -> None:
        self.labels = store if isinstance(store, LabelStore) else LabelStore(store)
        self.path = self.labels.path
        self.retention = timedelta(days=retention_days) if retention_days > 0 else None

    def add(self, predictions: Sequence[NewPrediction]) -> list[int]:
        """Store predictions in one transaction (all or none) after pruning the ones past retention;
        returns their ids in order (for an origin stored before, the earlier row's id)."""
        now = datetime.now(UTC)
        with self.labels._write() as db:
            if self.retention is not None:
                db.execute("DELETE FROM predictions WHERE created_at < ?", (_stamp(now - self.retention),))
            return [self._insert(db, entry, _stamp(now)) for entry in predictions]

    @staticmethod
    def _insert(db: sqlite3.Connection, entry: NewPrediction, created: str) -> int:
        prediction = entry.prediction if entry.keep_text else _quoting_nothing(entry.prediction)
        cursor = db.execute(
            "INSERT INTO predictions (created_at, source, model_version, text_hash, text, needs, cause, probabilities,"
            " needs_review, prediction, metadata, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (origin) DO NOTHING",
            (
                created,
                entry.source,
                entry.model_version,
                text_hash(entry.text),
                entry.text if entry.keep_text else None,
                _json(list(entry.needs)),
                entry.cause,
                _json(dict(entry.probabilities)),
                int(entry.needs_review),
                _json(prediction),
                _json(dict(entry.metadata)),
                entry.origin,
            ),
        )
        if cursor.rowcount:
            return int(cursor.lastrowid or 0)
        return int(db.execute("SELECT id FROM predictions WHERE origin = ?", (entry.origin,)).fetchone()[0])

    def get(self, id: int) -> StoredPrediction | None:
        with self.labels._connect() as db:
            row = db.execute("SELECT * FROM predictions WHERE id = ?", (id,)).fetchone()
        return None if row is None else _stored(row)

    def query(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        needs_review: bool | None = None,
        model_version: str | None = None,
        text_contains: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[StoredPrediction]:
        """Newest first. ``since``/``until`` bound when they were stored ([since, until); a naive time
        is UTC); ``text_contains`` matches only predictions whose text was kept."""
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must not be negative (got {limit}, {offset})")
        where, args = _where(since, until, needs_review, model_version, text_contains)
        with self.labels._connect() as db:
            rows = db.execute(
                f"SELECT * FROM predictions {where} ORDER BY id DESC LIMIT ? OFFSET ?", (*args, limit, offset)
            ).fetchall()
        return [_stored(row) for row in rows]

    def count(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        needs_review: bool | None = None,
        model_version: str | None = None,
        text_contains: str | None = None,
    ) -> int:
        """How many ``query`` would find with the same filters and no limit."""
        where, args = _where(since, until, needs_review, model_version, text_contains)
        with self.labels._connect() as db:
            return int(db.execute(f"SELECT COUNT(*) FROM predictions {where}", args).fetchone()[0])

    def scan(self) -> Iterator[StoredPrediction]:
        """Every stored prediction, oldest first, read a page at a time (what monitoring streams through)."""
        return map(_stored, self.labels.rows_by_id("predictions", SCAN_PAGE))

    def prune(self, older_than: datetime) -> int:
        """Delete the predictions stored before ``older_than`` (naive: UTC); returns how many."""
        with self.labels._write() as db:
            return db.execute("DELETE FROM predictions WHERE created_at < ?", (_stamp(older_than),)).rowcount


def _stamp(moment: datetime) -> str:
    """A time as ``created_at`` is written, so that text order is time order."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds")


def _where(
    since: datetime | None,
    until: datetime | None,
    needs_review: bool | None,
    model_version: str | None,
    text_contains: str | None,
) -> tuple[str, tuple[object, ...]]:
    conditions: list[str] = []
    args: list[object] = []
    for condition, value in (
        ("created_at >= ?", None if since is None else _stamp(since)),
        ("created_at < ?", None if until is None else _stamp(until)),
        ("needs_review = ?", None if needs_review is None else int(needs_review)),
        ("model_version = ?", model_version),
        ("instr(text, ?) > 0", text_contains),
    ):
        if value is not None:
            conditions.append(condition)
            args.append(value)
    return ("WHERE " + " AND ".join(conditions) if conditions else ""), tuple(args)


def _json(value: Any) -> str:
    """JSON text SQLite can hold: a lone surrogate (JSON lets one in) becomes U+FFFD, not an error."""
    return LONE_SURROGATE.sub("\ufffd", json.dumps(value, ensure_ascii=False, default=str))


def _quoting_nothing(prediction: Mapping[str, Any]) -> dict[str, Any]:
    """The prediction less the pieces of the text it quotes: evidence spans and segments keep their
    offsets and scores, not their ``text``."""
    kept = dict(prediction)
    evidence = kept.get("evidence")
    if isinstance(evidence, Mapping):
        kept["evidence"] = {label: _textless(spans) for label, spans in evidence.items()}
    if isinstance(kept.get("segments"), list):
        kept["segments"] = _textless(kept["segments"])
    return kept


def _textless(parts: Any) -> Any:
    if not isinstance(parts, list):
        return parts
    return [{k: v for k, v in part.items() if k != "text"} if isinstance(part, Mapping) else part for part in parts]


def _stored(row: sqlite3.Row) -> StoredPrediction:
    return StoredPrediction(
        id=row["id"],
        created_at=row["created_at"],
        source=row["source"],
        model_version=row["model_version"],
        text_hash=row["text_hash"],
        text=row["text"],
        needs=json.loads(row["needs"]),
        cause=row["cause"],
        probabilities=json.loads(row["probabilities"]),
        needs_review=bool(row["needs_review"]),
        prediction=json.loads(row["prediction"]),
        metadata=json.loads(row["metadata"]),
    )
