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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from classifier.labels import Labels, text_key

SCHEMA_VERSION = 3  # 2: quarantine and gold tables; 3: feedback_labels and predictions (see _SCHEMA)
# sqlite errors that say "try again", not "this file is unusable"
_TRANSIENT = {"SQLITE_BUSY", "SQLITE_LOCKED"}
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
-- schema 2: arriving labels the checks found suspicious wait here, out of training, until an
-- admin accepts (they move into label_events) or rejects them; gold labels are adjudicated
-- labels every candidate is judged on and no model trains on. Created on opening, so a
-- schema 1 store gains them and keeps every label it had.
CREATE TABLE IF NOT EXISTS quarantine_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'accepted', 'rejected')),
    created_at TEXT NOT NULL,
    decided_at TEXT,
    decided_by TEXT,
    decision_note TEXT
);
CREATE TABLE IF NOT EXISTS quarantined_labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id INTEGER NOT NULL REFERENCES quarantine_batches (id),
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
CREATE INDEX IF NOT EXISTS quarantined_labels_by_batch ON quarantined_labels (batch_id, id);
CREATE INDEX IF NOT EXISTS quarantined_labels_by_text ON quarantined_labels (text_hash);
CREATE TABLE IF NOT EXISTS gold_labels (
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
CREATE INDEX IF NOT EXISTS gold_labels_by_text ON gold_labels (text_hash, id);
-- schema 3: every label sent to POST /v1/feedback, with what became of it. It waits here
-- ('pending', out of training) until its annotator's batch is judged by the arrival checks
-- (label_loop/feedback.py), then is 'admitted' (also in label_events), 'held' (also in
-- quarantine, batch_id) or a 'duplicate' of a label already recorded.
CREATE TABLE IF NOT EXISTS feedback_labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    text_hash TEXT NOT NULL,
    text TEXT NOT NULL,
    needs TEXT NOT NULL,
    cause TEXT NOT NULL,
    source TEXT NOT NULL,
    annotator TEXT,
    note TEXT,
    model_version TEXT,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'admitted', 'held', 'duplicate')),
    supersedes INTEGER,
    claim TEXT,
    claimed_at TEXT,
    batch_id INTEGER REFERENCES quarantine_batches (id),
    reason TEXT,
    judged_at TEXT
);
CREATE INDEX IF NOT EXISTS feedback_labels_waiting ON feedback_labels (status, annotator, id);
-- schema 3 too: model predictions kept, when a caller opts in, for monitoring and review
-- (label_loop/predictions.py), JSON columns as the prediction output has them. `origin` makes a
-- batch job's storing idempotent (NULL for the API, which stores each request anew). Added on
-- opening like the tables above: the label tables are not touched.
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    source TEXT NOT NULL,
    model_version TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    text TEXT,
    needs TEXT NOT NULL,
    cause TEXT NOT NULL,
    probabilities TEXT NOT NULL,
    needs_review INTEGER NOT NULL,
    prediction TEXT NOT NULL,
    metadata TEXT NOT NULL,
    origin TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS predictions_by_time ON predictions (created_at);
CREATE INDEX IF NOT EXISTS predictions_by_text ON predictions (text_hash);
"""


def text_hash(text: str) -> str:
    """Same text, same hash, whatever its Unicode form or surrounding whitespace."""
    return hashlib.sha256(text_key(text).encode("utf-8")).hexdigest()


def _needs_json(labels: Labels) -> str:
    return json.dumps([str(n) for n in labels.needs])


def label_key(entry: NewLabel) -> tuple[str, str, str, str]:
    """text_hash, needs, cause, source: the columns that say two rows record the same label."""
    return text_hash(entry.text), _needs_json(entry.labels), str(entry.labels.cause), entry.source


@dataclass(frozen=True)
class NewLabel:
    """A label to record: who said what about which text, and where it came from."""

    text: str
    labels: Labels
    source: str  # seed | import:<file> | feedback | review
    annotator: str | None = None
    note: str | None = None
    model_version: str | None = None  # the model whose output this corrects, if any


@dataclass(frozen=True)
class LabelEvent:
    id: int
    text_hash: str
    created_at: str
    label: NewLabel


@dataclass(frozen=True)
class QuarantineBatch:
    """Labels that arrived together and were held back, with the check's one-line reason."""

    id: int
    source: str
    reason: str
    status: str  # held | accepted | rejected
    created_at: str
    labels: int
    decided_at: str | None = None
    decided_by: str | None = None
    decision_note: str | None = None


class QuarantineError(ValueError):
    """A quarantine decision that cannot be made (no such batch, already decided)."""


class LabelStoreError(RuntimeError):
    """A label store file that cannot be used (not SQLite, damaged pages, a newer schema); the
    message names the file, so an operator knows what to restore or move aside."""


class LabelStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file where a folder should be, a folder that cannot be made
            raise LabelStoreError(f"label store {path}: cannot make its folder ({exc.strerror or exc})") from None
        if path.is_dir():  # sqlite says "unable to open database file", and restoring a backup is no advice
            raise LabelStoreError(f"label store {path}: is a folder; name the store's file, e.g. {path / 'labels.db'}")
        with self._connect() as db:
            self._check(db)
            db.executescript(_SCHEMA)  # idempotent; executescript manages its own transaction
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _check(self, db: sqlite3.Connection) -> None:
        """Refuse a damaged or foreign file at opening, not at the first write a user makes: a
        truncated file or a bad middle page otherwise passes opening and fails every request."""
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise self._unusable(f"written by a newer needlens (schema {version}; this one reads {SCHEMA_VERSION})")
        problems = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            raise self._unusable("damaged (" + "; ".join(problems) + ")")

    def _unusable(self, reason: str) -> LabelStoreError:
        return LabelStoreError(
            f"label store {self.path} cannot be used: {reason}. Restore it from a backup, or move it aside"
            " and a new empty store is created at that path"
        )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A short-lived connection per operation (safe across threads and processes); damage
        found on the way becomes a ``LabelStoreError`` naming the file. A busy or locked
        database is not damage and passes through."""
        try:
            with closing(self._open()) as db:
                yield db
        except sqlite3.DatabaseError as exc:  # "file is not a database", "disk image is malformed", a folder
            name = getattr(exc, "sqlite_errorname", None) or ""
            if name in _TRANSIENT:
                raise
            if name.startswith("SQLITE_READONLY"):  # an intact store: "restore it from a backup" would be bad advice
                raise LabelStoreError(
                    f"label store {self.path} is read-only ({exc}): needlens writes to its store even to read it "
                    "(schema, write-ahead log); make the file and its folder writable, or work on a copy"
                ) from None
            raise self._unusable(str(exc)) from None

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: all of it lands or none of it does."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def add(self, entry: NewLabel) -> LabelEvent:
        """Append one label event (a correction of a known text supersedes, history stays)."""
        with self._write() as db:
            return self._insert(db, entry)

    def add_many(self, entries: Iterable[NewLabel]) -> tuple[int, int]:
        """Append entries in one transaction, skipping any whose text, labels and source are
        already recorded (so importing the same file twice changes nothing). Returns (added, skipped)."""
        with self._write() as db:
            return self._add_new(db, entries, "label_events")

    @classmethod
    def _add_new(cls, db: sqlite3.Connection, entries: Iterable[NewLabel], table: str) -> tuple[int, int]:
        added = skipped = 0
        for entry in entries:
            if cls._recorded(db, entry, table):
                skipped += 1
            else:
                cls._insert(db, entry, table)
                added += 1
        return added, skipped

    @staticmethod
    def _recorded(db: sqlite3.Connection, entry: NewLabel, table: str) -> bool:
        """``table`` already holds this text with these labels from this source and annotator (two
        annotators giving the same label are two judgements, both kept for their agreement figures)."""
        return (
            db.execute(
                f"SELECT 1 FROM {table} WHERE text_hash = ? AND needs = ? AND cause = ? AND source = ?"
                " AND annotator IS ?",
                (*label_key(entry), entry.annotator),
            ).fetchone()
            is not None
        )

    @staticmethod
    def _insert(
        db: sqlite3.Connection, entry: NewLabel, table: str = "label_events", batch_id: int | None = None
    ) -> LabelEvent:
        created = _now()
        digest = text_hash(entry.text)
        batch_column, batch_value = (", batch_id", (batch_id,)) if batch_id is not None else ("", ())
        cursor = db.execute(
            f"INSERT INTO {table} (text_hash, text, needs, cause, source, annotator, note, model_version, created_at"
            f"{batch_column}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?{', ?' * len(batch_value)})",
            (
                digest,
                entry.text,
                _needs_json(entry.labels),
                str(entry.labels.cause),
                entry.source,
                entry.annotator,
                entry.note,
                entry.model_version,
                created,
                *batch_value,
            ),
        )
        return LabelEvent(int(cursor.lastrowid or 0), digest, created, entry)

    def history(self, text: str) -> list[LabelEvent]:
        return self._select("SELECT * FROM label_events WHERE text_hash = ? ORDER BY id", (text_hash(text),))

    def current(self) -> list[LabelEvent]:
        """The latest label of every text."""
        return self._select("SELECT * FROM current_labels ORDER BY id", ())

    def all_events(self) -> list[LabelEvent]:
        return self._select("SELECT * FROM label_events ORDER BY id", ())

    def recent_corrections(self, limit: int) -> list[LabelEvent]:
        """Newest events that superseded an earlier label of the same text."""
        return self._select(
            "SELECT * FROM label_events AS e WHERE EXISTS"
            " (SELECT 1 FROM label_events AS p WHERE p.text_hash = e.text_hash AND p.id < e.id)"
            " ORDER BY e.id DESC LIMIT ?",
            (limit,),
        )

    def count_events(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM label_events").fetchone()[0])

    def event(self, event_id: int) -> LabelEvent | None:
        found = self._select("SELECT * FROM label_events WHERE id = ?", (event_id,))
        return found[0] if found else None

    def search(self, contains: str, limit: int) -> list[LabelEvent]:
        """Label events whose text contains ``contains`` (as typed: no wildcards), newest first."""
        return self._select(
            "SELECT * FROM label_events WHERE instr(text, ?) > 0 ORDER BY id DESC LIMIT ?", (contains, limit)
        )

    def known(self, entries: Sequence[NewLabel]) -> list[bool]:
        """Per entry: already in the store, or held or rejected in quarantine. A re-import
        of the same file is then neither added again nor quarantined again."""
        with self._connect() as db:
            return [
                self._recorded(db, entry, "label_events")
                or db.execute(
                    "SELECT 1 FROM quarantined_labels AS q JOIN quarantine_batches AS b ON b.id = q.batch_id"
                    " WHERE b.status != 'accepted' AND q.text_hash = ? AND q.needs = ? AND q.cause = ? AND q.source = ?"
                    " AND q.annotator IS ?",
                    (*label_key(entry), entry.annotator),
                ).fetchone()
                is not None
                for entry in entries
            ]

    def hold(self, entries: Sequence[NewLabel], source: str, reason: str) -> int:
        """Put labels in quarantine as one batch: recorded, never trained on until accepted.
        Returns the batch id."""
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO quarantine_batches (source, reason, created_at) VALUES (?, ?, ?)", (source, reason, _now())
            )
            batch_id = int(cursor.lastrowid or 0)
            for entry in entries:
                self._insert(db, entry, "quarantined_labels", batch_id)
        return batch_id

    def quarantine_batches(self, include_decided: bool = False) -> list[QuarantineBatch]:
        """Held batches (and decided ones too, if asked), oldest first."""
        where = "" if include_decided else "WHERE b.status = 'held'"
        with self._connect() as db:
            rows = db.execute(
                "SELECT b.*, (SELECT COUNT(*) FROM quarantined_labels AS q WHERE q.batch_id = b.id) AS labels"
                f" FROM quarantine_batches AS b {where} ORDER BY b.id"
            ).fetchall()
        return [QuarantineBatch(**dict(row)) for row in rows]

    def held_labels(self, batch_id: int) -> list[LabelEvent]:
        return self._select("SELECT * FROM quarantined_labels WHERE batch_id = ? ORDER BY id", (batch_id,))

    def decide(self, batch_id: int, accept: bool, by: str | None = None, note: str | None = None) -> tuple[int, int]:
        """Accept a held batch (its labels join the store, as an import of them would) or reject
        it (its labels stay in quarantine, on record). Returns (added, skipped) labels."""
        with self._write() as db:
            row = db.execute("SELECT status FROM quarantine_batches WHERE id = ?", (batch_id,)).fetchone()
            if row is None:
                raise QuarantineError(f"no quarantine batch {batch_id}")
            if row["status"] != "held":
                raise QuarantineError(f"quarantine batch {batch_id} was already {row['status']}")
            added = skipped = 0
            if accept:
                held = db.execute("SELECT * FROM quarantined_labels WHERE batch_id = ? ORDER BY id", (batch_id,))
                added, skipped = self._add_new(db, [self._event(r).label for r in held.fetchall()], "label_events")
            db.execute(
                "UPDATE quarantine_batches SET status = ?, decided_at = ?, decided_by = ?, decision_note = ? WHERE id = ?",
                ("accepted" if accept else "rejected", _now(), by, note, batch_id),
            )
        return added, skipped

    def add_gold(self, entries: Iterable[NewLabel]) -> tuple[int, int]:
        """Mark adjudicated labels as gold (a later gold label of a text replaces its earlier
        one); returns (added, skipped as already gold)."""
        with self._write() as db:
            return self._add_new(db, entries, "gold_labels")

    def gold(self) -> list[LabelEvent]:
        """The latest gold label of every gold text."""
        return self._select(
            "SELECT * FROM gold_labels AS g"
            " WHERE g.id = (SELECT MAX(id) FROM gold_labels WHERE text_hash = g.text_hash) ORDER BY g.id",
            (),
        )

    def rows_by_id(self, table: str, page: int) -> Iterator[sqlite3.Row]:
        """Every row of one of this file's tables, oldest id first, read a page per connection so
        that a long scan (monitoring, the review queue) never holds the database open."""
        last = 0
        while True:
            with self._connect() as db:
                rows = db.execute(f"SELECT * FROM {table} WHERE id > ? ORDER BY id LIMIT ?", (last, page)).fetchall()
            yield from rows
            if len(rows) < page:
                return
            last = rows[-1]["id"]

    def _select(self, sql: str, args: tuple[object, ...]) -> list[LabelEvent]:
        with self._connect() as db:
            rows = db.execute(sql, args).fetchall()
        return [self._event(row) for row in rows]

    @staticmethod
    def _event(row: sqlite3.Row) -> LabelEvent:
        return LabelEvent(
            id=row["id"],
            text_hash=row["text_hash"],
            created_at=row["created_at"],
            label=NewLabel(
                text=row["text"],
                labels=Labels(needs=json.loads(row["needs"]), cause=row["cause"]),
                source=row["source"],
                annotator=row["annotator"],
                note=row["note"],
                model_version=row["model_version"],
            ),
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
