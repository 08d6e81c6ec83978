"""The model page's retrain action: an admin's form post starts `needlens retrain` in a process of
its own (replaced by a trivial `python -c` here), and the page shows the latest job, escaped."""

from __future__ import annotations

from pathlib import Path

from classifier.settings import Settings
from lifecycle.registry import ModelRegistry
from lifecycle.retrain_job import JOBS_DIR, latest_job
from serve.ui.model_page import promotion_served
from tests.lifecycle.test_retrain_job import fake_command, held_until, wait_until_ended
from tests.serve.ui.conftest import sign_in

RETRAIN_FORM = 'action="/ui/model/retrain"'


def registry_root(client) -> Path:
    return client.app.state.service.settings.registry_dir


def test_an_annotator_gets_no_retrain_button_and_a_403_when_posting(client, monkeypatch):
    fake_command(monkeypatch, "print('trained')")
    token = sign_in(client, "ana")
    page = client.get("/ui/model").text
    assert RETRAIN_FORM not in page and "Retraining is for admins." in page
    response = client.post("/ui/model/retrain", data={"csrf_token": token, "note": "now"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "admin_only"
    assert not (registry_root(client) / JOBS_DIR).exists()


def test_a_retrain_post_without_the_right_csrf_token_is_refused(client, monkeypatch):
    fake_command(monkeypatch, "print('trained')")
    token = sign_in(client, "root")
    for form in ({}, {"csrf_token": ""}, {"csrf_token": token + "x"}):
        response = client.post("/ui/model/retrain", data={**form, "note": "now"})
        assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed", form
    assert latest_job(registry_root(client)) is None


def test_an_admin_starts_a_retrain_and_the_page_shows_its_end_and_log_escaped(client, monkeypatch):
    fake_command(monkeypatch, "print('<script>window.__pwned=1</script> 训练完成')")
    token = sign_in(client, "root")
    page = client.get("/ui/model").text
    assert RETRAIN_FORM in page and "not this registry" in page  # the fixture serves a model directory
    response = client.post(
        "/ui/model/retrain", data={"csrf_token": token, "note": "<b>new</b> 标注"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/ui/model?notice=retrain-started"
    job = wait_until_ended(registry_root(client))
    assert (job.started_by, job.note, job.outcome) == ("root", "<b>new</b> 标注", "promoted")
    page = client.get(response.headers["location"]).text
    assert "Retraining started in a process of its own" in page
    assert "<strong>promoted</strong>" in page and "exit code 0" in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt; 训练完成" in page and "<script>window" not in page
    assert "&lt;b&gt;new&lt;/b&gt; 标注" in page and "<b>new" not in page


def test_a_second_retrain_while_one_runs_is_a_409_and_the_page_offers_none(client, monkeypatch, tmp_path):
    release = tmp_path / "release"
    fake_command(monkeypatch, held_until(release))
    token = sign_in(client, "root")
    try:
        first = client.post("/ui/model/retrain", data={"csrf_token": token}, follow_redirects=False)
        assert first.status_code == 303
        page = client.get("/ui/model").text
        assert "<strong>running</strong>" in page and RETRAIN_FORM not in page and "One retrain at a time" in page
        second = client.post("/ui/model/retrain", data={"csrf_token": token, "note": "again"})
        assert second.status_code == 409 and second.json()["error"]["code"] == "retrain_running"
        assert "already running" in second.json()["error"]["message"]
    finally:
        release.touch()
    assert wait_until_ended(registry_root(client)).note == ""
    assert len(list((registry_root(client) / JOBS_DIR).glob("*.json"))) == 1


def test_the_page_says_how_a_promoted_candidate_reaches_the_service(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    following = Settings(model_dir=registry.root, reload_poll_s=2)
    assert "follows the registry's ACTIVE pointer (checked every 2 s)" in promotion_served(following, registry)
    not_polling = Settings(model_dir=registry.root, reload_poll_s=0)
    assert "after POST /v1/model/reload or a restart" in promotion_served(not_polling, registry)
    elsewhere = Settings(model_dir=tmp_path / "model", registry_dir=registry.root)
    assert f"needlens serve --model {registry.root}" in promotion_served(elsewhere, registry)


def test_a_retrain_on_a_registry_with_a_torn_log_is_a_409_naming_the_line(client, monkeypatch):
    fake_command(monkeypatch, "print('trained')")
    log = Path(registry_root(client)) / "registry.jsonl"
    log.write_text(log.read_text(encoding="utf-8") + '{"at": "2026-', encoding="utf-8")
    token = sign_in(client, "root")
    response = client.post("/ui/model/retrain", data={"csrf_token": token})
    assert response.status_code == 409 and response.json()["error"]["code"] == "registry_unreadable"
    assert "registry.jsonl, line 2" in response.json()["error"]["message"]
