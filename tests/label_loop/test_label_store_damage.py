"""A damaged label store is refused at opening with one line naming the file, never half-used."""

import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from classifier.labels import Labels
from label_loop.store import LabelStore, LabelStoreError, NewLabel
from needlens.cli import app

PAGE = 4096


def _filled_store(path: Path, n: int = 400) -> None:
    store = LabelStore(path)
    store.add_many(
        NewLabel(
            f"第{i}条评价：配送慢了{i}分钟，希望改进。" * 3, Labels(needs=["surface"], cause="system_error"), "seed"
        )
        for i in range(n)
    )
    with sqlite3.connect(path) as db:  # fold the WAL into the file, as a clean shutdown does
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert path.stat().st_size > 4 * PAGE  # several pages, so one in the middle can be damaged


def test_a_file_that_is_not_a_database_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "labels.db"
    path.write_text("id,text\n1,这不是数据库\n", encoding="utf-8")
    with pytest.raises(LabelStoreError, match=re.escape(f"label store {path} cannot be used: file is not a database")):
        LabelStore(path)


def test_a_truncated_store_is_refused_at_opening(tmp_path: Path) -> None:
    path = tmp_path / "labels.db"
    _filled_store(path)
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)
    with pytest.raises(LabelStoreError, match=r"labels\.db cannot be used"):
        LabelStore(path)


def test_a_folder_named_as_the_store_is_called_a_folder_not_a_file_to_restore(tmp_path: Path) -> None:
    with pytest.raises(LabelStoreError) as info:
        LabelStore(tmp_path)
    assert (
        str(info.value) == f"label store {tmp_path}: is a folder; name the store's file, e.g. {tmp_path / 'labels.db'}"
    )


def test_a_store_with_a_damaged_middle_page_is_refused_at_opening(tmp_path: Path) -> None:
    path = tmp_path / "labels.db"
    _filled_store(path)
    pages = path.stat().st_size // PAGE
    with path.open("r+b") as f:
        f.seek((pages // 2) * PAGE)
        f.write(b"\xff" * PAGE)
    with pytest.raises(LabelStoreError, match=r"damaged|malformed"):
        LabelStore(path)


def test_a_store_from_a_newer_needlens_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "labels.db"
    LabelStore(path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 999")
    with pytest.raises(LabelStoreError, match="newer needlens"):
        LabelStore(path)


def test_a_healthy_store_still_opens_and_keeps_its_labels(tmp_path: Path) -> None:
    path = tmp_path / "labels.db"
    _filled_store(path, n=50)
    assert LabelStore(path).count_events() == 50


def test_the_cli_says_one_line_and_exits_2_on_a_damaged_store(tmp_path: Path) -> None:
    path = tmp_path / "labels.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\x00\xff" * 50)  # a bad header behind the right magic
    result = CliRunner().invoke(app, ["labels", "stats", "--store", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and str(path.name) in lines[0] and "cannot be used" in lines[0]


def test_a_read_only_store_is_called_read_only_not_damaged(tmp_path: Path, monkeypatch) -> None:
    """A store on a read-only file or mount was told to restore a backup or move the file aside,
    advice that discards an intact store. (As root, chmod does not stop writes: a read-only
    connection stands in for the read-only file.)"""
    path = tmp_path / "labels.db"
    _filled_store(path, 10)
    monkeypatch.setattr(LabelStore, "_open", lambda self: sqlite3.connect(f"file:{self.path}?mode=ro", uri=True))
    with pytest.raises(LabelStoreError, match=r"labels\.db is read-only \(attempt to write a readonly database\)"):
        LabelStore(path)
    result = CliRunner().invoke(app, ["labels", "stats", "--store", str(path)])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "is read-only" in said and "Restore" not in said, said
    monkeypatch.undo()
    assert len(LabelStore(path).current()) == 10


def test_the_service_starts_on_a_damaged_store_but_says_it_is_not_ready_and_refuses_feedback(
    toy_model, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from fastapi.testclient import TestClient

    from classifier.inference import Predictor
    from classifier.settings import Settings
    from serve.app import create_app

    path = tmp_path / "labels.db"
    path.write_bytes(b"not a database at all" * 10)
    settings = Settings(model_dir=toy_model[0], label_store=path)
    with (
        caplog.at_level("ERROR", logger="needlens.serve"),
        TestClient(create_app(settings, Predictor.load(toy_model[0]))) as client,
    ):
        for _ in range(200):  # the model loads in the background; classify answers once it has
            if client.post("/v1/classify", json={"texts": ["屏幕坏了要求换货"]}).status_code == 200:
                break
        else:
            raise AssertionError("classify never answered")
        ready = client.get("/readyz")
        assert ready.status_code == 503 and str(path) in ready.json()["error"]["message"]
        feedback = client.post("/v1/feedback", json={"text": "退款太慢", "needs": ["surface"], "cause": "system_error"})
        assert feedback.status_code == 503
        assert feedback.json()["error"]["code"] == "store_unusable"
    assert any(str(path) in record.getMessage() for record in caplog.records)
