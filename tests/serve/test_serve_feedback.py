"""POST /v1/feedback through the service: labels wait in their annotator's batch and the request
that completes a batch has it judged by the served model's arrival check (toy model, toy data)."""

import time

import pytest
from fastapi.testclient import TestClient

from classifier.settings import ArrivalSettings, Settings
from label_loop.pool import gather_labels
from label_loop.store import LabelStore
from serve.app import create_app
from tests.conftest import quick_settings
from tests.label_loop.test_feedback import ROWS, careless
from tests.serve.test_serve import assert_error, wait_ready

JSON = {"content-type": "application/json"}


@pytest.fixture
def settings(toy_model, toy_data, tmp_path):
    return Settings(
        model_dir=toy_model[0],
        label_store=tmp_path / "labels.db",
        default_data=[toy_data],
        arrival=ArrivalSettings(min_labels=10),
        training=quick_settings(),
        max_body_bytes=8192,
    )


def serving(settings, predictor):
    client = TestClient(create_app(settings, predictor))
    client.__enter__()
    wait_ready(client)
    return client


@pytest.fixture
def client(settings, predictor):
    client = serving(settings, predictor)
    yield client
    client.__exit__(None, None, None)


def send(client, rows, annotator):
    answers = []
    for text, need, cause in rows:
        response = client.post(
            "/v1/feedback", json={"text": text, "needs": [need], "cause": cause, "annotator": annotator}
        )
        assert response.status_code == 201, response.text
        answers.append(response.json())
    return answers


def trained_on(settings) -> set[str]:
    """Every text retraining would train or judge on."""
    pool = gather_labels(settings.default_data, LabelStore(settings.label_store), settings.holdout_percent)
    return {r.text for r in pool.train + pool.new_labels.records}


def test_a_careless_annotators_feedback_sent_one_by_one_is_held_and_retraining_never_sees_it(client, settings):
    answers = send(client, careless(ROWS), "sloppy")
    assert [a["status"] for a in answers[:9]] == ["pending"] * 9 and answers[8]["waiting"] == 9
    tenth = answers[9]
    assert tenth["status"] == "held" and tenth["batch_id"] == 1
    assert "the active model" in tenth["reason"] and "audit disagrees with" in tenth["reason"]
    assert [a["status"] for a in answers[10:]] == (["pending"] * 9 + ["held"]) * 2
    first = client.get(f"/v1/feedback/{answers[0]['id']}").json()  # what became of a label answered "pending"
    assert (first["status"], first["batch_id"], first["reason"]) == ("held", 1, tenth["reason"])
    store = LabelStore(settings.label_store)
    assert [(b.source, b.labels) for b in store.quarantine_batches()] == [("feedback:sloppy", 10)] * 3
    assert store.current() == [] and not trained_on(settings) & {text for text, _, _ in ROWS}


def test_an_honest_annotators_feedback_is_admitted_into_training(client, settings):
    answers = send(client, ROWS, "ann")
    assert [a["status"] for a in answers] == (["pending"] * 9 + ["admitted"]) * 3
    assert answers[9]["reason"].startswith("10 labels: label mix within the limit; the active model")
    assert client.get(f"/v1/feedback/{answers[0]['id']}").json()["status"] == "admitted"
    assert {text for text, _, _ in ROWS} <= trained_on(settings)


def test_of_two_annotators_only_the_careless_ones_feedback_is_held(client, settings):
    sloppy = careless(ROWS[1::2])
    answers = []
    for honest_row, sloppy_row in zip(ROWS[0::2], sloppy, strict=True):
        answers += send(client, [honest_row], "ann") + send(client, [sloppy_row], "sloppy")
    finals = {a["annotator"]: a["status"] for a in answers[-2:]}
    assert finals == {"ann": "pending", "sloppy": "pending"}  # 15 each: the second batches wait
    judged = {a["annotator"]: a["status"] for a in answers[18:20]}
    assert judged == {"ann": "admitted", "sloppy": "held"}
    store = LabelStore(settings.label_store)
    assert {e.label.annotator for e in store.current()} == {"ann"}
    assert [b.labels for b in store.quarantine_batches()] == [10]


def test_the_check_is_built_in_the_background_from_the_first_label(client):
    check = client.app.state.service.served.arrival_check
    assert not check.built  # a service that gets no feedback never builds it
    (answer,) = send(client, ROWS[:1], "ann")
    assert answer["status"] == "pending"
    deadline = time.monotonic() + 60
    while not check.built and time.monotonic() < deadline:
        time.sleep(0.05)
    assert check.built


def test_a_restart_between_feedback_requests_keeps_the_waiting_labels(settings, predictor):
    sloppy = careless(ROWS[:10])
    before = serving(settings, predictor)
    assert [a["waiting"] for a in send(before, sloppy[:6], "sloppy")] == [1, 2, 3, 4, 5, 6]
    before.__exit__(None, None, None)
    after = serving(settings, predictor)
    try:
        answers = send(after, sloppy[6:], "sloppy")
    finally:
        after.__exit__(None, None, None)
    assert [a["status"] for a in answers] == ["pending"] * 3 + ["held"]
    assert [b.labels for b in LabelStore(settings.label_store).quarantine_batches()] == [10]


def test_hostile_feedback_gets_its_own_4xx_records_nothing_and_fails_no_one_else(client, settings):
    label = b'"needs": ["surface"], "cause": "system_error"'
    hostile = [
        (b'{"text": "\\ud800", %s}' % label, 422, "invalid_request", "text"),
        (b'{"text": "ok", "annotator": "\\udc80", %s}' % label, 422, "invalid_request", "annotator", "U+DC80"),
        (b'{"text": "ok", "note": "\\ud83d", %s}' % label, 422, "invalid_request", "note"),
        (b'{"text": "ok", "note": "%s", %s}' % (b"x" * 2001, label), 422, "invalid_request", "note"),
        (b'{"text": "ok", "reviewer": "li", %s}' % label, 422, "invalid_request", "reviewer"),
        ('{"text": "ok", "审核人": "li", %s}'.encode() % label, 422, "invalid_request", "审核人"),
        (b'{"text": "\\u0000\\u200b", %s}' % label, 422, "text_empty"),
        (b'{"text": "\xb7\xfe\xce\xf1", %s}' % label, 400, "invalid_json", "not UTF-8"),
        (b'{"text": "ok", "note": "%s", %s}' % (b"x" * 9000, label), 413, "too_large"),
    ]
    for body, *expected in hostile:
        assert_error(client.post("/v1/feedback", content=body, headers=JSON), *expected)
    empty = assert_error(client.post("/v1/feedback", content=hostile[6][0], headers=JSON), 422, "text_empty")
    assert "limit" not in (empty.get("details") or {})  # the length limit explains only text_too_long
    assert_error(client.get("/v1/feedback/99"), 404, "not_found", "no feedback 99")
    for bad in ("0", "-1", "abc", str(2**63)):
        assert_error(client.get(f"/v1/feedback/{bad}"), 422, "invalid_request", "feedback_id")
    with LabelStore(settings.label_store)._connect() as db:
        assert db.execute("SELECT COUNT(*) FROM feedback_labels").fetchone()[0] == 0
    (answer,) = send(client, ROWS[:1], "ann")
    assert (answer["id"], answer["status"], answer["waiting"]) == (1, "pending", 1)


def test_a_blank_annotator_is_refused_and_a_padded_one_is_the_same_annotator(client, settings):
    text, need, cause = ROWS[0]
    label = {"text": text, "needs": [need], "cause": cause}
    for blank in ("", "  ", "\u3000 "):
        response = client.post("/v1/feedback", json={**label, "annotator": blank})
        assert_error(response, 422, "invalid_request", "annotator", "blank")
    for hidden in ("a\u0000b", "\tli", "\u200b", "\u200bli"):  # no padding to strip: the schema's pattern agrees
        response = client.post("/v1/feedback", json={**label, "annotator": hidden})
        assert_error(response, 422, "invalid_request", "annotator", "invisible or control character")
    for field, limit in (("annotator", 200), ("model_version", 200), ("note", 2000)):  # told in characters
        response = client.post("/v1/feedback", json={**label, field: "a" * (limit + 1)})
        assert_error(response, 422, "invalid_request", field, f"at most {limit} characters")
    with LabelStore(settings.label_store)._connect() as db:
        assert db.execute("SELECT COUNT(*) FROM feedback_labels").fetchone()[0] == 0
    (first,) = send(client, ROWS[:1], "li")
    (padded,) = send(client, ROWS[1:2], " li ")
    assert padded["annotator"] == "li" and padded["waiting"] == first["waiting"] + 1  # one batch, li's
    unnamed = client.post("/v1/feedback", json=label)  # no annotator at all: still its own documented batch
    assert unnamed.status_code == 201 and unnamed.json()["annotator"] is None
