"""Feedback labels (`POST /v1/feedback`) judged in batches, by the path `labels import` takes.

One label per request is too little to judge (the arrival checks need ``min_labels``), so a
careless annotator or a broken client sending hundreds of bad corrections one at a time
would never be judged. Instead a feedback label first waits in the store's
``feedback_labels`` table, out of training, in its annotator's batch (feedback without an
annotator forms one batch of its own). When the batch reaches ``min_labels`` it goes through
``admit_batch``: admitted into the label store, or held in quarantine with the check's
one-line reason. Batches still short of ``min_labels`` ``feedback_max_wait_h`` after their
first label are judged together (admitted unjudged only when all of them together are too
few, as a small import is); `needlens labels feedback flush` judges waiting batches at once.

The state is in SQLite, so it outlives a restart and several workers share it: a batch is
claimed in the transaction that finds it due, so two workers never judge the same labels. A
claim left by a worker that died is taken over after ``CLAIM_TIMEOUT``; labels that worker
had already moved into the store or quarantine then count as duplicates. The SQL runs through
the store's own connection and transaction helpers (one package, one file, one locking rule).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from classifier.settings import ArrivalSettings
from label_loop.admission import Admission, Outcome, admit_batch
from label_loop.arrival import ArrivalCheck
from label_loop.store import LabelEvent, LabelStore, NewLabel, label_key, text_hash

FEEDBACK = "feedback"  # the source of every feedback label
CLAIM_TIMEOUT = timedelta(minutes=10)  # far longer than a judgement takes (seconds)
_CLAIMABLE = "status = 'pending' AND (claimed_at IS NULL OR claimed_at < ?)"  # ? = CLAIM_TIMEOUT ago
DUPLICATE = "the same label from the same annotator is already recorded (in the store or in quarantine)"
FeedbackStatus = Literal["pending", "admitted", "held", "rejected", "duplicate"]


@dataclass(frozen=True)
class FeedbackState:
    """One feedback label and what became of it."""

    id: int
    status: FeedbackStatus
    text_hash: str
    created_at: str
    annotator: str | None
    supersedes: int | None  # the text's latest label event when the feedback arrived
    batch_id: int | None  # held: its quarantine batch
    reason: str  # one line: what it waits for, why it was held, or what it was admitted with
    waiting: int | None  # pending: labels now waiting in its batch


@dataclass(frozen=True)
class WaitingBatch:
    annotator: str | None
    labels: int
    oldest: str
    newest: str


@dataclass(frozen=True)
class JudgedBatch:
    name: str  # whose labels: "annotator li", or several small batches judged together
    admission: Admission


@dataclass(frozen=True)
class _Claim:
    """Waiting labels one judge_due call took to judge, as one batch."""

    name: str
    source: str  # the quarantine batch's source, should it be held: feedback:<annotator>, or feedback
    token: str
    rows: list[LabelEvent]


def who(annotator: str | None) -> str:
    """Whose batch, for people."""
    return f"annotator {annotator}" if annotator is not None else "feedback without an annotator"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")  # the store's format: such strings sort as times


class FeedbackInbox:
    """Feedback labels waiting in the label store, per annotator, until their batch is judged."""

    def __init__(self, store: LabelStore, settings: ArrivalSettings) -> None:
        self.store = store
        self.settings = settings

    def receive(self, entry: NewLabel) -> int:
        """Record one feedback label; it waits, unless the same label from the same annotator is
        already recorded or waiting. Returns its feedback id."""
        recorded = self.store.known([entry])[0]
        with self.store._write() as db:
            waiting = db.execute(
                "SELECT id FROM feedback_labels WHERE status = 'pending' AND text_hash = ? AND needs = ?"
                " AND cause = ? AND source = ? AND annotator IS ?",
                (*label_key(entry), entry.annotator),
            ).fetchone()
            (supersedes,) = db.execute(
                "SELECT MAX(id) FROM label_events WHERE text_hash = ?", (text_hash(entry.text),)
            ).fetchone()
            feedback_id = LabelStore._insert(db, entry, "feedback_labels").id
            db.execute("UPDATE feedback_labels SET supersedes = ? WHERE id = ?", (supersedes, feedback_id))
            if recorded or waiting:
                reason = DUPLICATE if recorded else f"the same label waits already, as feedback {waiting['id']}"
                self._set(db, feedback_id, Outcome("duplicate"), reason)
        return feedback_id

    def judge_due(
        self,
        make_check: Callable[[], ArrivalCheck],
        annotators: Collection[str | None] | None = None,
        now: datetime | None = None,
    ) -> list[JudgedBatch]:
        """Judge the batches that are due: one with ``min_labels`` waiting is judged alone; those
        still short of it ``feedback_max_wait_h`` after their first label are judged together,
        so that many small batches (a client naming a new annotator on every request) are
        judged after all, and admitted unjudged only when all of them together are too few.
        With ``annotators`` (an admin's flush), those annotators' batches are due whatever
        their size or age."""
        claims = self._claim(annotators, now or datetime.now(UTC))
        judged: list[JudgedBatch] = []
        try:
            for claim in claims:
                entries = [row.label for row in claim.rows]
                admission = admit_batch(self.store, entries, claim.source, make_check, self.settings.min_labels)
                self._settle(claim.token, claim.rows, admission)
                judged.append(JudgedBatch(claim.name, admission))
        finally:  # a failed judgement leaves its labels waiting for the next try, not claimed for minutes
            self._release([claim.token for claim in claims[len(judged) :]])
        return judged

    def _claim(self, annotators: Collection[str | None] | None, now: datetime) -> list[_Claim]:
        """In one transaction: find the due batches and claim their labels."""
        stale, expired = _iso(now - CLAIM_TIMEOUT), _iso(now - timedelta(hours=self.settings.feedback_max_wait_h))
        full: list[str | None] = []
        small: list[str | None] = []
        with self.store._write() as db:
            batches = db.execute(
                f"SELECT annotator, COUNT(*) AS n, MIN(created_at) AS oldest FROM feedback_labels WHERE {_CLAIMABLE}"
                " GROUP BY annotator ORDER BY MIN(id)",
                (stale,),
            ).fetchall()
            for batch in batches:
                if annotators is not None and batch["annotator"] not in annotators:
                    continue
                if batch["n"] >= self.settings.min_labels:
                    full.append(batch["annotator"])
                elif annotators is not None or batch["oldest"] < expired:
                    small.append(batch["annotator"])
            claims = [self._take(db, [annotator], now, stale) for annotator in full]
            if small:
                claims.append(self._take(db, small, now, stale))
        return claims

    def _take(self, db: sqlite3.Connection, annotators: list[str | None], now: datetime, stale: str) -> _Claim:
        token = uuid.uuid4().hex
        for annotator in annotators:
            db.execute(
                f"UPDATE feedback_labels SET claim = ?, claimed_at = ? WHERE {_CLAIMABLE} AND annotator IS ?",
                (token, _iso(now), stale, annotator),
            )
        rows = db.execute("SELECT * FROM feedback_labels WHERE claim = ? ORDER BY id", (token,)).fetchall()
        if len(annotators) == 1:
            (annotator,) = annotators
            source = f"{FEEDBACK}:{annotator}" if annotator is not None else FEEDBACK
            return _Claim(who(annotator), source, token, [LabelStore._event(row) for row in rows])
        names = ", ".join(who(a) for a in annotators[:3]) + (", …" if len(annotators) > 3 else "")
        name = f"{len(annotators)} batches under {self.settings.min_labels} labels, together ({names})"
        return _Claim(name, FEEDBACK, token, [LabelStore._event(row) for row in rows])

    def _settle(self, token: str, rows: list[LabelEvent], admission: Admission) -> None:
        check = admission.checks.get("batch")
        judged = check.summary() if check else f"{len(rows)} labels: too few to judge, admitted unjudged"
        with self.store._write() as db:
            for row, outcome in zip(rows, admission.outcomes, strict=True):
                reason = (
                    outcome.batch.reason if outcome.batch else DUPLICATE if outcome.status == "duplicate" else judged
                )
                self._set(db, row.id, outcome, reason, token)

    @staticmethod
    def _set(db: sqlite3.Connection, feedback_id: int, outcome: Outcome, reason: str, claim: str | None = None) -> None:
        """Record a label's fate; a claimed label only by its claim's holder (one that was taken
        over after CLAIM_TIMEOUT is settled by the new holder instead)."""
        db.execute(
            "UPDATE feedback_labels SET status = ?, batch_id = ?, reason = ?, judged_at = ?, claim = NULL,"
            " claimed_at = NULL WHERE id = ? AND claim IS ?",
            (
                outcome.status,
                outcome.batch.batch_id if outcome.batch else None,
                reason,
                _iso(datetime.now(UTC)),
                feedback_id,
                claim,
            ),
        )

    def _release(self, tokens: list[str]) -> None:
        if tokens:
            with self.store._write() as db:
                db.executemany(
                    "UPDATE feedback_labels SET claim = NULL, claimed_at = NULL WHERE claim = ?", [(t,) for t in tokens]
                )

    def state(self, feedback_id: int) -> FeedbackState | None:
        """What became of a feedback label; None for an id that names none."""
        with self.store._connect() as db:
            row = db.execute("SELECT * FROM feedback_labels WHERE id = ?", (feedback_id,)).fetchone()
            if row is None:
                return None
            waiting = None
            status, reason = row["status"], row["reason"] or ""
            if status == "pending":
                (waiting,) = db.execute(
                    "SELECT COUNT(*) FROM feedback_labels WHERE status = 'pending' AND annotator IS ?",
                    (row["annotator"],),
                ).fetchone()
                reason = (
                    f"waits in the batch of {who(row['annotator'])}: {waiting} of {self.settings.min_labels} labels"
                    f" (judged at {self.settings.min_labels}, or with other small batches"
                    f" {self.settings.feedback_max_wait_h:g} h after its batch's first label)"
                )
            if status == "held":  # an admin may have decided its quarantine batch since
                batch = db.execute("SELECT * FROM quarantine_batches WHERE id = ?", (row["batch_id"],)).fetchone()
                if batch["status"] != "held":
                    status = "admitted" if batch["status"] == "accepted" else "rejected"
                    by = f" by {batch['decided_by']}" if batch["decided_by"] else ""
                    reason = f"quarantine batch {batch['id']} {batch['status']}{by}; it was held for: {reason}"
        return FeedbackState(
            id=row["id"],
            status=status,
            text_hash=row["text_hash"],
            created_at=row["created_at"],
            annotator=row["annotator"],
            supersedes=row["supersedes"],
            batch_id=row["batch_id"],
            reason=reason,
            waiting=waiting,
        )

    def waiting(self) -> list[WaitingBatch]:
        """Each annotator's waiting labels, oldest batch first."""
        with self.store._connect() as db:
            rows = db.execute(
                "SELECT annotator, COUNT(*) AS labels, MIN(created_at) AS oldest, MAX(created_at) AS newest"
                " FROM feedback_labels WHERE status = 'pending' GROUP BY annotator ORDER BY MIN(id)"
            ).fetchall()
        return [WaitingBatch(**dict(row)) for row in rows]

    def waiting_labels(self) -> list[NewLabel]:
        """Every waiting label (for the per-annotator figures: a careless source shows before it is judged)."""
        rows = self.store._select("SELECT * FROM feedback_labels WHERE status = 'pending' ORDER BY id", ())
        return [row.label for row in rows]
