"""Stored predictions in the label store's file (label_loop/predictions.py): round trip, privacy, retention, schema 3."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import label_loop.store as store_module
from classifier.labels import Labels
from label_loop.predictions import NewPrediction, PredictionStore
from label_loop.store import LabelStore, LabelStoreError, NewLabel, text_hash

TEXT = "理赔金额比预估少了两千，也没人解释是怎么算的"
V2_TABLES = {"label_events", "quarantine_batches", "quarantined_labels", "gold_labels"}


def prediction(text: str = TEXT, **overrides: object) -> NewPrediction:
    """A prediction shaped like a /v1/classify result item, with evidence and segments quoting the text."""
    output = {
        "id": "t1",
        "needs": ["surface", "emotional"],
        "need_probabilities": {"surface": 0.91, "emotional": 0.62, "growth": 0.03},
        "cause": "perception_mismatch",
        "cause_probabilities": {"system_error": 0.2, "perception_mismatch": 0.7, "none": 0.1},
        "truncated": False,
        "needs_review": ["emotional"],
        "evidence": {"perception_mismatch": [{"start": 12, "end": 17, "text": "没人解释是", "score": 0.4}]},
        "segments": [{"start": 0, "end": 11, "text": "理赔金额比预估少了两千", "needs": ["surface"]}],
    }
    fields: dict[str, object] = {
        "text": text,
        "source": "api",
        "model_version": "m1",
        "needs": output["needs"],
        "cause": output["cause"],
        "probabilities": output["need_probabilities"] | output["cause_probabilities"],  # type: ignore[operator]
        "needs_review": True,
        "prediction": output,
        "metadata": {"time": "2026-03-02T10:00:00+08:00", "channel": "app"},
    }
    return NewPrediction(**(fields | overrides))  # type: ignore[arg-type]


def age(path: Path, ids: list[int], days: int) -> None:
    """Make predictions look stored ``days`` ago."""
    stamp = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="milliseconds")
    with sqlite3.connect(path) as db:
        db.executemany("UPDATE predictions SET created_at = ? WHERE id = ?", [(stamp, i) for i in ids])


def test_a_stored_prediction_comes_back_as_it_was_given(tmp_path):
    store = PredictionStore(tmp_path / "labels.db")
    given = prediction(keep_text=True)
    (number,) = store.add([given])
    stored = store.get(number)
    assert stored is not None
    assert (stored.id, stored.source, stored.model_version, stored.text) == (number, "api", "m1", TEXT)
    assert stored.text_hash == text_hash(TEXT)
    assert stored.needs == ["surface", "emotional"] and stored.cause == "perception_mismatch"
    assert stored.probabilities == {**given.probabilities} and stored.needs_review is True
    assert stored.prediction == given.prediction and stored.metadata == given.metadata
    assert datetime.fromisoformat(stored.created_at).utcoffset() == timedelta(0)
    assert store.get(number + 1) is None


def test_without_asking_only_the_hash_is_kept_and_quoted_pieces_of_the_text_go_too(tmp_path):
    path = tmp_path / "labels.db"
    store = PredictionStore(path)
    (number,) = store.add([prediction()])
    stored = store.get(number)
    assert stored is not None and stored.text is None and stored.text_hash == text_hash(TEXT)
    assert stored.prediction["evidence"]["perception_mismatch"] == [{"start": 12, "end": 17, "score": 0.4}]
    assert stored.prediction["segments"] == [{"start": 0, "end": 11, "needs": ["surface"]}]
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cells = [str(cell) for row in db.execute("SELECT * FROM predictions") for cell in row]
    raw = path.read_bytes()
    for piece in (TEXT, "没人解释是", "理赔金额比预估少了两千"):
        assert not any(piece in cell for cell in cells)
        assert piece.encode("utf-8") not in raw


def test_query_filters_and_pages_newest_first_and_count_agrees(tmp_path):
    store = PredictionStore(tmp_path / "labels.db")
    ids = store.add(
        [
            prediction("屏幕坏了要求换货", keep_text=True, needs_review=False),
            prediction("没人告诉我进度", keep_text=True, model_version="m2"),
            prediction("想参与新功能共创", needs_review=False),
            prediction("没人告诉我为什么", keep_text=True),
        ]
    )
    age(tmp_path / "labels.db", ids[:1], days=3)
    assert [p.id for p in store.query()] == ids[::-1]
    assert [p.id for p in store.query(limit=2, offset=1)] == [ids[2], ids[1]]
    assert [p.id for p in store.query(needs_review=True)] == [ids[3], ids[1]]
    assert [p.id for p in store.query(needs_review=False)] == [ids[2], ids[0]]
    assert [p.id for p in store.query(model_version="m2")] == [ids[1]]
    assert [p.id for p in store.query(text_contains="没人告诉我")] == [ids[3], ids[1]]  # a hash-only text never matches
    day_ago = datetime.now(UTC) - timedelta(days=1)
    assert [p.id for p in store.query(since=day_ago)] == ids[:0:-1]
    assert [p.id for p in store.query(until=day_ago.replace(tzinfo=None))] == [ids[0]]  # naive is UTC
    assert store.count() == 4 and store.count(text_contains="没人", needs_review=True, since=day_ago) == 2
    with pytest.raises(ValueError, match="negative"):
        store.query(limit=-1)


def test_storing_prunes_predictions_past_retention_and_prune_deletes_by_age(tmp_path):
    path = tmp_path / "labels.db"
    forever = PredictionStore(path)
    old = forever.add([prediction(), prediction()])
    age(path, old, days=200)
    forever.add([prediction()])
    assert forever.count() == 3, "retention 0 keeps every prediction"
    kept = PredictionStore(path, retention_days=180)
    (newest,) = kept.add([prediction()])
    assert [p.id for p in kept.query()] == [newest, old[-1] + 1]
    age(path, [newest], days=10)
    assert kept.prune(datetime.now(UTC) - timedelta(days=5)) == 1
    assert kept.count() == 1


def test_a_prediction_whose_origin_is_stored_is_not_stored_again(tmp_path):
    store = PredictionStore(tmp_path / "labels.db")
    first = store.add([prediction(origin="label:job:1"), prediction(origin="label:job:2")])
    again = store.add([prediction(origin="label:job:2"), prediction(origin="label:job:3")])
    assert again[0] == first[1] and again[1] not in first
    assert store.count() == 3


def test_hostile_metadata_is_stored_and_read_back_as_valid_unicode(tmp_path):
    store = PredictionStore(tmp_path / "labels.db")
    metadata = {
        "渠道": "应用商店",
        "région": "Île-de-France",
        "bad": "a\ud800b",
        "nul": "x\x00y",
        "huge": "长" * 100_000,
        "nested": {"tier": [1, 2.5, None, True]},
        "big": 10**40,
    }
    (number,) = store.add([prediction(metadata=metadata)])
    stored = store.get(number)
    assert stored is not None
    assert stored.metadata == metadata | {"bad": "a\ufffdb"}
    json.dumps(stored.metadata, ensure_ascii=False).encode("utf-8")  # no lone surrogate left to break a response


def test_a_schema_2_store_gains_the_predictions_table_and_keeps_every_label(tmp_path):
    path = tmp_path / "labels.db"
    labels = LabelStore(path)
    labels.add(NewLabel("空调不制冷", Labels(needs=["surface"], cause="system_error"), "seed"))
    labels.hold(
        [NewLabel("规则没讲", Labels(needs=["emotional"], cause="perception_mismatch"), "import:x")], "import:x", "r"
    )
    labels.add_gold([NewLabel("想学保养", Labels(needs=["growth"], cause="none"), "gold")])
    with sqlite3.connect(path) as db:  # what a schema 2 needlens left: only its own tables
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            if table not in V2_TABLES and not table.startswith("sqlite_"):
                db.execute(f"DROP TABLE {table}")
        db.execute("PRAGMA user_version = 2")
        before = {table: db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall() for table in V2_TABLES}
    store = PredictionStore(path)
    store.add([prediction()])
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == store_module.SCHEMA_VERSION == 3
        assert {table: db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall() for table in V2_TABLES} == before
    assert [e.label.text for e in LabelStore(path).current()] == ["空调不制冷"] and store.count() == 1


def test_an_older_needlens_refuses_a_store_with_predictions(tmp_path, monkeypatch):
    path = tmp_path / "labels.db"
    PredictionStore(path).add([prediction()])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 2)
    with pytest.raises(LabelStoreError, match=r"newer needlens \(schema 3; this one reads 2\)"):
        LabelStore(path)
