"""The label store: every human label (seed, import, feedback, review) in one SQLite file.

One schema, shared by the HTTP feedback endpoint and retraining. Labels are events: a
correction of a text appends a row rather than overwriting, so history is kept, and the
``current_labels`` view gives the latest label per text (by content hash). WAL mode lets the
service write while a retraining job reads.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import unicodedata
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from classifier.labels import Labels

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS label_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    text_hash TEXT NOT NULL,
    text TEXT NOT NULL,
    needs TEXT NOT NULL,
    cause TEXT NOT NULL,
    source TEXT NOT NULL,
    annotator TEXT,
    note TEXT,
    model_version TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS label_events_by_text ON label_events (text_hash, id);
CREATE VIEW IF NOT EXISTS current_labels AS
    SELECT * FROM label_events AS e
    WHERE e.id = (SELECT MAX(id) FROM label_events WHERE text_hash = e.text_hash);
"""


def text_hash(text: str) -> str:
    """Same text, same hash, whatever its Unicode form or surrounding whitespace."""
    return hashlib.sha256(unicodedata.normalize("NFKC", text).strip().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LabelEvent:
    id: int
    text_hash: str
    text: str
    labels: Labels
    source: str
    annotator: str | None
    note: str | None
    model_version: str | None
    created_at: str


class LabelStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._open()) as db:
            db.executescript(_SCHEMA)  # idempotent; executescript manages its own transaction
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _open(self) -> sqlite3.Connection:
        """A short-lived connection per operation: safe across threads and processes."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: all of it lands or none of it does."""
        with closing(self._open()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def add(
        self,
        text: str,
        labels: Labels,
        source: str,
        annotator: str | None = None,
        note: str | None = None,
        model_version: str | None = None,
    ) -> LabelEvent:
        created = datetime.now(UTC).isoformat(timespec="milliseconds")
        digest = text_hash(text)
        needs = json.dumps([str(n) for n in labels.needs])
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO label_events (text_hash, text, needs, cause, source, annotator, note, model_version, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (digest, text, needs, str(labels.cause), source, annotator, note, model_version, created),
            )
            row_id = int(cursor.lastrowid or 0)
        return LabelEvent(row_id, digest, text, labels, source, annotator, note, model_version, created)

    def history(self, text: str) -> list[LabelEvent]:
        return self._select("SELECT * FROM label_events WHERE text_hash = ? ORDER BY id", (text_hash(text),))

    def current(self) -> list[LabelEvent]:
        return self._select("SELECT * FROM current_labels ORDER BY id", ())

    def _select(self, sql: str, args: tuple[object, ...]) -> list[LabelEvent]:
        with closing(self._open()) as db:
            rows = db.execute(sql, args).fetchall()
        return [
            LabelEvent(
                id=row["id"],
                text_hash=row["text_hash"],
                text=row["text"],
                labels=Labels(needs=json.loads(row["needs"]), cause=row["cause"]),
                source=row["source"],
                annotator=row["annotator"],
                note=row["note"],
                model_version=row["model_version"],
                created_at=row["created_at"],
            )
            for row in rows
        ]
