"""Stored predictions through the API: `"store": true` on /v1/classify, and GET /v1/monitor over what was stored."""

from __future__ import annotations

import sqlite3

import pytest

from label_loop.predictions import PredictionStore
from label_loop.store import LabelStoreError, text_hash
from monitor.pipeline import monitor_rows
from monitor.settings import MonitorSettings
from tests.monitor.test_monitor import BASE_MIX, exact_week
from tests.monitor.test_monitor_store import as_predictions, planted_shift_rows
from tests.serve.test_serve import assert_error, make_client, wait_ready

JSON = {"content-type": "application/json"}
ITEMS = [
    {"id": "a", "text": "屏幕坏了要求换货", "metadata": {"time": "2026-03-02T10:00:00+08:00", "channel": "app"}},
    {"id": "b", "text": "没人告诉我进度心里很焦虑", "metadata": {"渠道": "电话", "tier": 3, "vip": True, "score": 0.5}},
    {"id": "c", "text": "想参与新功能共创"},
]


@pytest.fixture
def client(toy_model, predictor, tmp_path):
    with make_client(toy_model, predictor, tmp_path, max_items=8) as c:
        wait_ready(c)
        yield c


def stored(tmp_path) -> PredictionStore:
    return PredictionStore(tmp_path / "labels.db")


def test_classify_with_store_answers_as_usual_and_stores_each_item_with_its_metadata(client, tmp_path, predictor):
    response = client.post("/v1/classify", json={"items": ITEMS, "store": True, "explain": True})
    assert response.status_code == 200, response.text
    body = response.json()
    storage = body["storage"]
    assert storage["stored"] is True and storage["text_stored"] is False and len(storage["ids"]) == 3
    assert storage["unreadable_times"] == []
    for item, result, number in zip(ITEMS, body["results"], storage["ids"], strict=True):
        kept = stored(tmp_path).get(number)
        assert kept is not None
        assert (kept.source, kept.model_version, kept.text) == ("api", predictor.version, None)
        assert kept.text_hash == text_hash(item["text"])
        assert kept.metadata == item.get("metadata", {})
        assert kept.needs == result["needs"] and kept.cause == result["cause"]
        assert kept.needs_review is bool(result["needs_review"])
        assert kept.probabilities == result["need_probabilities"] | result["cause_probabilities"]
        quoted = {label: [{k: v for k, v in span.items() if k != "text"} for span in spans]
                  for label, spans in result["evidence"].items()}  # fmt: skip
        assert kept.prediction == result | {"evidence": quoted}, "the API's item, less the text it quotes"


def test_without_store_nothing_is_stored(client, tmp_path):
    response = client.post("/v1/classify", json={"items": ITEMS})
    assert response.status_code == 200 and response.json()["storage"] is None
    assert stored(tmp_path).count() == 0


def test_texts_are_kept_only_when_the_request_or_the_setting_asks(client, tmp_path, toy_model, predictor):
    ids = client.post("/v1/classify", json={"texts": ["屏幕坏了要求换货"], "store": True, "store_text": True}).json()
    assert stored(tmp_path).get(ids["storage"]["ids"][0]).text == "屏幕坏了要求换货"
    with make_client(toy_model, predictor, tmp_path / "other", prediction_store_text=True) as c:
        wait_ready(c)
        kept = c.post("/v1/classify", json={"texts": ["想参与新功能共创"], "store": True}).json()["storage"]
        refused = c.post("/v1/classify", json={"texts": ["想参与新功能共创"], "store": True, "store_text": False})
    assert kept["text_stored"] is True and refused.json()["storage"]["text_stored"] is False
    texts = [p.text for p in stored(tmp_path / "other").query()]
    assert texts == [None, "想参与新功能共创"]


@pytest.mark.parametrize(
    ("metadata", "fragments"),
    [
        (b'{"channel": "a\\ud800"}', ["items.0.metadata.channel", "unicode"]),
        (b'{"\\udc80x": "app"}', ["items.0.metadata", "[key]", "unicode"]),
        (b'{"channel": {"nested": 1}}', ["items.0.metadata.channel"]),
        (b'{"channel": [1, 2]}', ["items.0.metadata.channel"]),
        (b'{"channel": "%s"}' % (b"x" * 501), ["items.0.metadata.channel", "500"]),
        (b'{"%s": 1}' % (b"k" * 101), ["items.0.metadata"]),
        (b'{"": 1}', ["items.0.metadata"]),
        (b'{"score": NaN}', ["items.0.metadata.score"]),
        (b"{%s}" % b",".join(b'"f%d": 1' % i for i in range(33)), ["items.0.metadata", "32"]),
        (b'"app"', ["items.0.metadata"]),
    ],
)
def test_hostile_metadata_is_refused_naming_the_field_and_stores_nothing(client, tmp_path, metadata, fragments):
    body = b'{"store": true, "items": [{"text": "\xe5\xa5\xbd", "metadata": %s}]}' % metadata
    assert_error(client.post("/v1/classify", content=body, headers=JSON), 422, "invalid_request", *fragments)
    assert stored(tmp_path).count() == 0
    innocent = client.post("/v1/classify", json={"items": ITEMS[:1], "store": True})
    assert innocent.status_code == 200 and innocent.json()["storage"]["stored"] is True


def test_a_store_that_fails_leaves_the_answer_and_says_why_nothing_was_stored(client, tmp_path, monkeypatch):
    service = client.app.state.service

    def broken(entries):
        raise LabelStoreError("label store labels.db cannot be used: disk I/O error")

    monkeypatch.setattr(service.predictions, "add", broken)
    response = client.post("/v1/classify", json={"items": ITEMS, "store": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["id"] for r in body["results"]] == ["a", "b", "c"]
    assert body["storage"] == {
        "stored": False,
        "ids": [],
        "text_stored": False,
        "error": "LabelStoreError: label store labels.db cannot be used: disk I/O error",
        "unreadable_times": [],
    }


def test_a_store_unusable_since_start_up_still_classifies(toy_model, predictor, tmp_path):
    (tmp_path / "labels.db").write_bytes(b"not a database" * 100)
    with make_client(toy_model, predictor, tmp_path) as c:
        for _ in range(200):  # readiness says the store is unusable; wait for the model instead
            if c.app.state.service.served is not None:
                break
            __import__("time").sleep(0.05)
        response = c.post("/v1/classify", json={"texts": ["好"], "store": True})
        assert response.status_code == 200, response.text
        assert response.json()["storage"]["stored"] is False
        assert "cannot be used" in response.json()["storage"]["error"]
        assert_error(c.get("/v1/monitor"), 503, "store_unusable")


def local(value: object) -> object:
    """The command's naive local times: the answer's without the zone's offset (Asia/Shanghai)."""
    if isinstance(value, str):
        return value.removesuffix("+08:00")
    if isinstance(value, dict):
        return {key: local(item) for key, item in value.items()}
    if isinstance(value, list):
        return [local(item) for item in value]
    return value


def test_monitor_over_stored_predictions_gives_the_command_s_figures_and_the_planted_alert(client, tmp_path):
    rows = planted_shift_rows()
    ids = stored(tmp_path).add(as_predictions(rows))
    response = client.get("/v1/monitor", params={"window": "7d", "by": "channel", "baseline": "90d"})
    assert response.status_code == 200, response.text
    body = response.json()
    from_file = monitor_rows(rows, MonitorSettings(by=["channel"])).model_dump(mode="json")
    assert local(body["windows"]) == from_file["windows"] and local(body["input"]) == from_file["input"]
    (alert,) = body["alerts"]
    assert alert["window_start"] == "2025-04-28T00:00:00+08:00", "times carry the monitor's zone"
    assert alert["moved"][0]["label"] == "perception_mismatch"
    examples = alert["examples"]["perception_mismatch"]
    assert examples and set(map(int, examples)) <= set(ids), "examples name stored predictions"
    assert rows[ids.index(int(examples[0]))]["id"].startswith("app-16-perception_mismatch-")
    assert local(alert) | {"examples": {}} == from_file["alerts"][0] | {"examples": {}}
    later = client.get("/v1/monitor", params=[("by", "channel"), ("since", "2025-06-01")]).json()
    assert later["alerts"] == []


def test_monitor_counts_a_prediction_without_a_time_when_it_was_stored(client, tmp_path):
    client.post("/v1/classify", json={"texts": ["屏幕坏了要求换货"], "store": True})
    body = client.get("/v1/monitor").json()
    assert body["input"]["used"] == 1 and len(body["windows"]) == 1


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("window=0d", "window"),
        ("window=7x", "window"),
        ("window=1000d", "window"),
        ("baseline=2026-01-01..2026-03-31", "baseline"),
        ("since=yesterday", "since"),
        ("since=2026-02-30", "since"),
        ("by=", "by"),
        ("by=" + ",".join(f"f{i}" for i in range(6)), "by"),
        ("by=a,,b", "by"),
        ("by=channel&by=region", "by"),
        ("windw=7d", "windw"),
        ("window=7d&%E6%B8%A0%E9%81%93=app", "渠道"),
    ],
)
def test_bad_monitor_parameters_get_422_naming_the_parameter(client, query, parameter):
    response = client.get(f"/v1/monitor?{query}")
    assert response.status_code == 422, response.text
    assert parameter in response.json()["error"]["message"]


def test_stored_times_far_apart_make_a_409_not_millions_of_windows(client, tmp_path):
    rows = exact_week(0, 10, BASE_MIX)
    rows[0]["time"] = "2001-01-01T00:00:00"
    stored(tmp_path).add(as_predictions(rows))
    assert_error(client.get("/v1/monitor?window=1h"), 409, "too_many_figures", "longer window")
    assert client.get("/v1/monitor?window=7d").status_code == 200


def test_monitor_of_an_empty_store_is_an_empty_answer(client):
    body = client.get("/v1/monitor").json()
    assert body["windows"] == [] and body["alerts"] == [] and body["input"]["rows"] == 0


def test_stored_predictions_share_the_file_with_the_label_store(client, tmp_path):
    client.post("/v1/classify", json={"texts": ["好"], "store": True})
    with sqlite3.connect(tmp_path / "labels.db") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"label_events", "predictions"} <= tables


@pytest.mark.parametrize(
    "query",
    ["window=999w&baseline=999w", "window=1h&baseline=1h", "since=1900-01-01", "since=2199-12-31", "since=999h",
     "by=" + ",".join(["渠道", " ", "x" * 100, "time", "a b"])],
)  # fmt: skip
def test_the_extremes_the_parameter_patterns_admit_are_answered(client, tmp_path, query):
    stored(tmp_path).add(as_predictions(exact_week(0, 10, BASE_MIX)))
    response = client.get(f"/v1/monitor?{query}")
    assert response.status_code == 200, response.text


def test_items_stored_with_a_time_monitoring_cannot_read_are_named_in_the_answer(client, tmp_path):
    times = ["2026-13-45", "notadate", True, "2026/03/02 10:00", 1767225600, None, "", 10**400]
    items = [{"text": "好", "metadata": {"time": t}} for t in times]
    response = client.post("/v1/classify", json={"items": items, "store": True})
    assert response.status_code == 200, response.text  # an int of 401 digits is no time, not a 500
    storage = response.json()["storage"]
    assert storage["stored"] is True and len(storage["ids"]) == 8
    assert storage["unreadable_times"] == [0, 1, 2, 7]  # "" and null are a time not given
