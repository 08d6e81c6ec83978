"""The review queue: texts waiting for a human, handed to one annotator at a time.

Items come from two places: stored predictions the model flagged ``needs_review`` whose
text was kept (``label_loop.predictions``; a prediction stored as a hash alone cannot be read
by a person) and texts queued here (`needlens review add`: a `needlens suggest` output or any
unlabeled file). An item is known by a key, ``p<id>`` for a stored prediction and ``t<id>`` for a queued text; a label
event found by search opens as ``l<id>`` (a second look at a human label, never queued).

Two annotators never hold the same item: opening one takes a lease (annotator, expiry) in
one ``BEGIN IMMEDIATE`` transaction, so of two claims at the same moment one wins and the
other moves on. A save is refused while another annotator holds an unexpired lease (the page
says "look, not save", but a request can be sent without the page); the lease check, the
``review`` label event and the decision are one transaction, so a claim or a save racing it
comes wholly before or wholly after. That refuses, too, an annotator whose own lease ran out
while away and whose item another has opened since: their save waits for that lease to end.
When two annotators do decide the same item (each while no one else held it), both labels are
kept and the later one says whom it crossed, which the agreement page then lists as a
disagreement.

The three tables live in the label store's SQLite file, created here if missing, and are read
and written through the label store's connections (its damage checks, its WAL mode); the label
store's schema version is not touched (they are the queue's, not the store's).
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from classifier.labels import Labels
from label_loop.predictions import PredictionStore, StoredPrediction
from label_loop.store import LabelEvent, LabelStore, NewLabel, text_hash

_SCHEMA = """
CREATE TABLE IF NOT EXISTS review_texts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    text_hash TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    origin TEXT NOT NULL,
    external_id TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS review_leases (
    item TEXT PRIMARY KEY,
    annotator TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS review_leases_by_annotator ON review_leases (annotator);
CREATE TABLE IF NOT EXISTS review_decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item TEXT NOT NULL,
    annotator TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('accept', 'correct')),
    label_event_id INTEGER NOT NULL,
    decided_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS review_decisions_by_item ON review_decisions (item);
"""
ITEM_KEY = re.compile(r"^[ptl][0-9]{1,18}$")
PAGE = 200  # candidates read at a time while looking for a free item
Source = Literal["all", "stored", "queued"]


@dataclass(frozen=True)
class QueuedText:
    """A text to put in the queue, with where it came from."""

    text: str
    origin: str  # suggest:<file> | import:<file>
    external_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueItem:
    key: str
    text: str
    origin: str
    created_at: str
    model_version: str | None = None
    prediction: dict[str, Any] | None = None  # the model's output as stored; None: none stored
    metadata: dict[str, Any] = field(default_factory=dict)
    external_id: str | None = None


@dataclass(frozen=True)
class QueueFilter:
    """Which waiting items an annotator wants: by origin, predicted label, model version, domain."""

    source: Source = "all"
    label: str | None = None  # a need or a cause the model predicted (stored predictions only)
    model_version: str | None = None
    domain: str | None = None

    def admits(self, item: QueueItem) -> bool:
        if self.domain and str(item.metadata.get("domain", "")) != self.domain:
            return False
        if self.model_version and item.model_version != self.model_version:
            return False
        if self.label:
            prediction = item.prediction or {}
            predicted = [*_strings(prediction.get("needs")), str(prediction.get("cause", ""))]
            return self.label in predicted
        return True


@dataclass(frozen=True)
class Claim:
    """The outcome of opening an item: held by this annotator until ``expires_at``, or by ``holder``."""

    item: QueueItem
    held: bool
    holder: str
    expires_at: float


@dataclass(frozen=True)
class Decision:
    label_event_id: int
    action: str
    crossed: list[str]  # other annotators who decided the same item before (both labels kept)


class ItemHeld(Exception):
    """A save refused because another annotator holds an unexpired lease on the item: their
    label is on its way, and saving over it would hand two people the same work."""

    def __init__(self, key: str, holder: str, seconds_left: float) -> None:
        minutes = max(1, math.ceil(seconds_left / 60))
        super().__init__(f"{holder} is labeling {key}; not saved (free when {holder} moves on, or in {minutes} min)")
        self.key, self.holder, self.seconds_left = key, holder, seconds_left


@dataclass(frozen=True)
class PastDecision:
    annotator: str
    action: str
    label_event_id: int
    decided_at: str


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ReviewQueue:
    def __init__(
        self,
        store: LabelStore,
        predictions: PredictionStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.predictions = predictions
        self.clock = clock
        with self.store._connect() as db:
            db.executescript(_SCHEMA)

    # -- filling the queue

    def enqueue(self, texts: Iterable[QueuedText]) -> tuple[int, int]:
        """Queue texts in one transaction; a text already queued (same content hash) is skipped.
        Returns (added, skipped)."""
        added = skipped = 0
        with self.store._write() as db:
            for entry in texts:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO review_texts (text_hash, text, origin, external_id, metadata, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        text_hash(entry.text),
                        entry.text,
                        entry.origin,
                        entry.external_id,
                        json.dumps(entry.metadata, ensure_ascii=False, default=str),
                        _now(),
                    ),
                )
                added += cursor.rowcount
                skipped += 1 - cursor.rowcount
        return added, skipped

    # -- reading items

    def item(self, key: str) -> QueueItem | None:
        """The item behind a key, or None for a key that names nothing (or is malformed)."""
        if not ITEM_KEY.match(key):
            return None
        number = int(key[1:])
        if key[0] == "l":
            event = self.store.event(number)
            return label_item(event) if event is not None else None
        if key[0] == "t":
            with self.store._connect() as db:
                row = db.execute("SELECT * FROM review_texts WHERE id = ?", (number,)).fetchone()
            return _queued_item(row) if row is not None else None
        if self.predictions is None:
            return None
        stored = self.predictions.get(number)
        return stored_item(stored) if stored is not None else None

    def _candidates(self, wanted: QueueFilter) -> Iterator[QueueItem]:
        """Every item the filter admits, decided or not: stored predictions newest first, then queued texts in order."""
        if self.predictions is not None and wanted.source in ("all", "stored"):
            offset = 0
            while True:
                page = self.predictions.query(
                    needs_review=True, model_version=wanted.model_version, limit=PAGE, offset=offset
                )
                items = (stored_item(stored) for stored in page)
                yield from (item for item in items if item is not None and wanted.admits(item))
                if len(page) < PAGE:
                    break
                offset += PAGE
        if wanted.source in ("all", "queued") and not wanted.label and not wanted.model_version:
            rows = self.store.rows_by_id("review_texts", PAGE)
            yield from (item for item in map(_queued_item, rows) if wanted.admits(item))

    def _decided(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        with self.store._connect() as db:
            marks = ",".join("?" * len(keys))
            rows = db.execute(f"SELECT DISTINCT item FROM review_decisions WHERE item IN ({marks})", tuple(keys))
            return {row["item"] for row in rows}

    def _pages(self, wanted: QueueFilter) -> Iterator[list[QueueItem]]:
        """Undecided items the filter admits, a page at a time."""
        page: list[QueueItem] = []
        for item in self._candidates(wanted):
            page.append(item)
            if len(page) == PAGE:
                yield self._undecided(page)
                page = []
        if page:
            yield self._undecided(page)

    def _undecided(self, page: list[QueueItem]) -> list[QueueItem]:
        decided = self._decided([item.key for item in page])
        return [item for item in page if item.key not in decided]

    def waiting(self, wanted: QueueFilter, limit: int) -> tuple[list[QueueItem], int]:
        """Up to ``limit`` undecided items in queue order, and how many are undecided in all."""
        shown: list[QueueItem] = []
        total = 0
        for page in self._pages(wanted):
            total += len(page)
            shown.extend(page[: limit - len(shown)])
        return shown, total

    def holders(self, keys: Sequence[str]) -> dict[str, str]:
        """Who holds an unexpired lease on each of these items."""
        if not keys:
            return {}
        with self.store._connect() as db:
            marks = ",".join("?" * len(keys))
            rows = db.execute(
                f"SELECT item, annotator FROM review_leases WHERE expires_at > ? AND item IN ({marks})",
                (self.clock(), *keys),
            )
            return {row["item"]: row["annotator"] for row in rows}

    def decisions(self, key: str) -> list[PastDecision]:
        with self.store._connect() as db:
            rows = db.execute(
                "SELECT annotator, action, label_event_id, decided_at FROM review_decisions WHERE item = ? ORDER BY id",
                (key,),
            ).fetchall()
        return [PastDecision(**dict(row)) for row in rows]

    # -- leases

    def claim(self, item: QueueItem, annotator: str, lease_s: float) -> Claim:
        """Take (or renew) the lease on ``item`` unless another annotator holds an unexpired one.
        Taking it gives up the annotator's other leases: one annotator, one item at a time."""
        with self.store._write() as db:
            return self._lease(db, item, annotator, lease_s)

    def claim_next(self, annotator: str, wanted: QueueFilter, lease_s: float, skip: Iterable[str] = ()) -> Claim | None:
        """The first undecided item (in queue order, ``skip`` passed over) nobody else holds, leased
        to ``annotator``; None when there is none."""
        passed = set(skip)
        for page in self._pages(wanted):
            for item in page:
                if item.key in passed:
                    continue
                with self.store._write() as db:  # decided since the page was read: pass it over
                    if db.execute("SELECT 1 FROM review_decisions WHERE item = ?", (item.key,)).fetchone():
                        continue
                    claim = self._lease(db, item, annotator, lease_s)
                if claim.held:
                    return claim
        return None

    def _lease(self, db: sqlite3.Connection, item: QueueItem, annotator: str, lease_s: float) -> Claim:
        """Inside a write transaction, so two claims of one item are one after the other."""
        now = self.clock()
        row = db.execute("SELECT annotator, expires_at FROM review_leases WHERE item = ?", (item.key,)).fetchone()
        if row is not None and row["annotator"] != annotator and row["expires_at"] > now:
            return Claim(item, False, row["annotator"], row["expires_at"])
        db.execute("DELETE FROM review_leases WHERE annotator = ? AND item != ?", (annotator, item.key))
        db.execute(
            "INSERT INTO review_leases (item, annotator, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (item) DO UPDATE SET annotator = excluded.annotator, expires_at = excluded.expires_at",
            (item.key, annotator, now + lease_s),
        )
        return Claim(item, True, annotator, now + lease_s)

    def release(self, annotator: str) -> None:
        """Give up the annotator's lease (signing out, leaving the queue)."""
        with self.store._write() as db:
            db.execute("DELETE FROM review_leases WHERE annotator = ?", (annotator,))

    # -- deciding

    def decide(self, item: QueueItem, annotator: str, labels: Labels) -> Decision:
        """Record the annotator's labels for ``item`` as a ``review`` event in the label store, note
        the decision and free the item, all in one write transaction, so the lease seen is the lease
        at the write. Raises ``ItemHeld`` (nothing written) while another annotator holds the item;
        an expired lease, or none, does not stop a save. Labels equal to the model's are an accept."""
        entry = NewLabel(item.text, labels, "review", annotator, model_version=item.model_version)
        action = _action(item, labels)
        with self.store._write() as db:
            self._refuse_if_held(db, item.key, annotator)
            event = self.store._insert(db, entry)
            rows = db.execute(
                "SELECT DISTINCT annotator FROM review_decisions WHERE item = ? AND annotator != ?",
                (item.key, annotator),
            ).fetchall()
            db.execute(
                "INSERT INTO review_decisions (item, annotator, action, label_event_id, decided_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (item.key, annotator, action, event.id, _now()),
            )
            db.execute("DELETE FROM review_leases WHERE item = ? AND annotator = ?", (item.key, annotator))
        return Decision(event.id, action, sorted(row["annotator"] for row in rows))

    def _refuse_if_held(self, db: sqlite3.Connection, key: str, annotator: str) -> None:
        """Inside the save's write transaction: no lease can be taken between this look and the write."""
        row = db.execute("SELECT annotator, expires_at FROM review_leases WHERE item = ?", (key,)).fetchone()
        left = row["expires_at"] - self.clock() if row is not None else 0.0
        if row is not None and row["annotator"] != annotator and left > 0:
            raise ItemHeld(key, row["annotator"], left)

    def search(self, contains: str, limit: int) -> list[QueueItem]:
        """Queued texts containing ``contains``, newest first."""
        with self.store._connect() as db:
            rows = db.execute(
                "SELECT * FROM review_texts WHERE instr(text, ?) > 0 ORDER BY id DESC LIMIT ?", (contains, limit)
            ).fetchall()
        return [_queued_item(row) for row in rows]


def _action(item: QueueItem, labels: Labels) -> str:
    """``accept`` when the labels are the model's stored ones, else ``correct`` (no stored output: a correction)."""
    predicted = item.prediction or {}
    needs = [str(n) for n in labels.needs]
    same = _strings(predicted.get("needs")) == needs and str(predicted.get("cause")) == str(labels.cause)
    return "accept" if item.prediction is not None and same else "correct"


def _queued_item(row: sqlite3.Row) -> QueueItem:
    metadata = json.loads(row["metadata"] or "{}")
    return QueueItem(
        key=f"t{row['id']}",
        text=row["text"],
        origin=row["origin"],
        created_at=row["created_at"],
        metadata=metadata if isinstance(metadata, dict) else {},
        external_id=row["external_id"],
    )


def label_item(event: LabelEvent) -> QueueItem:
    """A label event as an item: the text for a second look, with no model output stored."""
    return QueueItem(
        key=f"l{event.id}", text=event.label.text, origin=f"label:{event.label.source}", created_at=event.created_at
    )


def stored_item(stored: StoredPrediction) -> QueueItem | None:
    """A stored prediction as an item; None when only its hash was kept (nothing to read)."""
    if stored.text is None:
        return None
    prediction = stored.prediction if isinstance(stored.prediction, dict) else {}
    return QueueItem(
        key=f"p{stored.id}",
        text=stored.text,
        origin=f"prediction:{stored.source}",
        created_at=stored.created_at,
        model_version=stored.model_version,
        prediction={"needs": list(stored.needs), "cause": stored.cause, **prediction},
        metadata=dict(stored.metadata or {}),
    )
