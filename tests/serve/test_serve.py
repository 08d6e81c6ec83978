"""The HTTP service through FastAPI's TestClient: routing, validation, limits, auth, one error shape."""

import time

import pytest
from fastapi.testclient import TestClient

from classifier.labels import Labels
from classifier.settings import Settings
from label_loop.store import LabelStore, NewLabel
from serve.app import create_app


def wait_ready(client: TestClient) -> None:
    for _ in range(200):
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(client.get("/readyz").json())


def make_client(toy_model, predictor, tmp_path, **overrides):
    settings = Settings(model_dir=toy_model[0], label_store=tmp_path / "labels.db", **overrides)
    return TestClient(create_app(settings, predictor))


@pytest.fixture
def client(toy_model, predictor, tmp_path):
    with make_client(toy_model, predictor, tmp_path, max_items=4, api_max_chars=30, max_body_bytes=4096) as c:
        wait_ready(c)
        yield c


def assert_error(response, status, code, *fragments):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    for fragment in fragments:
        assert fragment in error["message"]
    return error


def test_classify_texts_and_items(client, predictor):
    response = client.post("/v1/classify", json={"texts": ["屏幕坏了要求换货", "想参与新功能共创"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == predictor.version
    first = body["results"][0]
    assert first["needs"] and set(first["need_probabilities"]) == {"surface", "emotional", "growth"}
    assert first["cause"] in first["cause_probabilities"]
    assert abs(sum(first["cause_probabilities"].values()) - 1) < 1e-6
    assert response.headers["x-request-id"]

    items = client.post(
        "/v1/classify", json={"items": [{"id": "a1", "text": "没人告诉我进度"}, {"id": 7, "text": "好"}]}
    )
    assert [r["id"] for r in items.json()["results"]] == ["a1", 7]


def test_same_text_same_answer_as_the_library(client, predictor):
    text = "不知道为什么只赔这么少希望说清楚"
    api = client.post("/v1/classify", json={"texts": [text]}).json()["results"][0]
    library = predictor.predict([text])[0]
    assert api["needs"] == library.needs and api["cause"] == library.cause
    assert api["need_probabilities"] == pytest.approx(library.need_probs)


def test_limits_name_the_limit_and_the_item(client):
    assert_error(client.post("/v1/classify", json={"texts": ["好"] * 5}), 413, "too_many_items", "limit is 4")
    error = assert_error(
        client.post("/v1/classify", json={"items": [{"id": "ok", "text": "好"}, {"id": "long", "text": "长" * 31}]}),
        422,
        "text_too_long",
        "item 1 (id 'long')",
        "limit of 30",
    )
    assert error["details"]["index"] == 1 and error["details"]["limit"] == 30
    empty = assert_error(client.post("/v1/classify", json={"texts": ["好", "  "]}), 422, "text_empty", "item 1")
    assert "limit" not in empty["details"]  # the length limit explains only text_too_long


def test_body_over_the_limit_is_refused_before_parsing(client):
    response = client.post(
        "/v1/classify", content=b"{" + b" " * 5000 + b"}", headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "too_large", "4096 bytes")


def test_malformed_requests_use_the_error_shape(client):
    assert_error(client.post("/v1/classify", json={"texts": ["a"], "items": []}), 422, "invalid_request", "exactly one")
    assert_error(client.get("/v1/nothing"), 404, "not_found")


def test_model_endpoint_describes_the_model(client, predictor):
    info = client.get("/v1/model").json()
    assert info["version"] == predictor.version
    assert info["label_schema"]["causes"]["perception_mismatch"] == "认知错位"
    assert set(info["thresholds"]) == {"surface", "emotional", "growth"}
    assert info["training_data"]["fingerprint"]
    assert info["evaluation"]["model"]["needs_macro_f1"] is not None


def test_feedback_is_validated_and_waits_in_its_annotators_batch_out_of_training(client, tmp_path):
    body = {
        "text": "理赔金额少了也没人解释",
        "needs": ["表层需求", "emotional"],
        "cause": "认知错位",
        "annotator": "li",
    }
    store = LabelStore(tmp_path / "labels.db")
    earlier = store.add(NewLabel(body["text"], Labels(needs=["surface"], cause="none"), "import:old.csv"))
    first = client.post("/v1/feedback", json=body)
    assert first.status_code == 201, first.text
    answer = first.json()
    assert (answer["status"], answer["waiting"], answer["annotator"]) == ("pending", 1, "li")
    assert answer["supersedes"] == earlier.id and "1 of 20 labels" in answer["reason"]
    second = client.post("/v1/feedback", json={**body, "cause": "system_error"})
    assert second.json()["waiting"] == 2 and second.json()["id"] == answer["id"] + 1
    assert store.history(body["text"]) == [earlier]  # not a training label until its batch is judged

    assert_error(client.post("/v1/feedback", json={**body, "needs": []}), 422, "invalid_request", "needs")
    wrong = assert_error(client.post("/v1/feedback", json={**body, "cause": "bad"}), 422, "invalid_request", "cause")
    assert "认知错位" in wrong["message"] and "Value error" not in str(wrong)


def test_api_key_guards_v1_but_not_health(toy_model, predictor, tmp_path):
    with make_client(toy_model, predictor, tmp_path, api_key="s3cret") as c:
        wait_ready(c)
        assert c.get("/healthz").status_code == 200
        assert c.get("/readyz").status_code == 200
        head = c.head("/readyz")
        assert head.status_code == 200 and head.content == b""
        assert_error(c.post("/v1/classify", json={"texts": ["好"]}), 401, "unauthorized")
        wrong = c.post("/v1/classify", json={"texts": ["好"]}, headers={"Authorization": "Bearer nope"})
        assert_error(wrong, 401, "unauthorized")
        ok = c.post("/v1/classify", json={"texts": ["好"]}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_unloadable_model_is_alive_but_not_ready(tmp_path):
    settings = Settings(model_dir=tmp_path / "missing", label_store=tmp_path / "labels.db")
    with TestClient(create_app(settings)) as c:
        assert c.get("/healthz").status_code == 200
        assert c.head("/healthz").status_code == 200  # as load balancers probe
        time.sleep(0.2)
        assert_error(c.get("/readyz"), 503, "not_ready", "not a needlens model directory")
        assert c.head("/readyz").status_code == 503
        response = c.post("/v1/classify", json={"texts": ["好"]})
        assert_error(response, 503, "not_ready")
        assert response.headers["retry-after"] == "5"


def test_a_service_without_a_model_still_refuses_a_bad_request_for_what_it_is(tmp_path):
    bad_store = tmp_path / "labels.db"
    bad_store.write_bytes(b"not a database at all" * 10)
    settings = Settings(model_dir=tmp_path / "missing", label_store=bad_store)
    with TestClient(create_app(settings)) as c:
        time.sleep(0.2)
        assert c.post("/v1/classify", json={"texts": ["好"]}).status_code == 503
        empty = c.post("/v1/classify", json={"texts": ["\u200b"]})
        assert (empty.status_code, empty.json()["error"]["code"]) == (422, "text_empty")
        feedback = c.post("/v1/feedback", json={"text": "\u200b", "needs": ["surface"], "cause": "system_error"})
        assert (feedback.status_code, feedback.json()["error"]["code"]) == (422, "text_empty")
