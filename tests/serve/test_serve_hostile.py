"""Hostile input through the HTTP API: each fault gets its own 4xx in the error shape, never a 500,
and never fails someone else's request."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from classifier.inference import Predictor
from classifier.settings import Settings
from serve.app import create_app
from tests.serve.test_serve import assert_error, make_client, wait_ready

JSON = {"content-type": "application/json"}
POISON = "这条文本会让模型出错"


@pytest.fixture
def client(toy_model, predictor, tmp_path):
    with make_client(toy_model, predictor, tmp_path, max_items=4, api_max_chars=30, max_body_bytes=4096) as c:
        wait_ready(c)
        yield c


class PoisonedPredictor(Predictor):
    """Fails every pass that holds POISON: a text that passes validation and still breaks the model."""

    def predict(self, texts, explain=False):
        if POISON in texts:
            raise RuntimeError("the tokenizer choked")
        return super().predict(texts, explain)


def test_a_text_that_breaks_the_model_fails_only_its_own_request_in_a_shared_batch(toy_model, predictor, tmp_path):
    poisoned = PoisonedPredictor(predictor.model, predictor.settings, predictor.model_dir, predictor.lexical)
    # a long wait for company: the concurrent requests below share one forward pass
    settings = Settings(model_dir=toy_model[0], label_store=tmp_path / "labels.db", batch_max_wait_ms=300)
    with TestClient(create_app(settings, poisoned), raise_server_exceptions=False) as c:
        wait_ready(c)
        bodies = [{"texts": ["屏幕坏了要求换货", f"想参与新功能共创{i}"]} for i in range(7)]
        bodies.insert(3, {"texts": ["好", POISON]})
        with ThreadPoolExecutor(len(bodies)) as pool:
            statuses = list(pool.map(lambda body: c.post("/v1/classify", json=body).status_code, bodies))
    assert statuses == [200, 200, 200, 500, 200, 200, 200, 200]


def test_bad_texts_are_refused_per_item_while_concurrent_innocent_requests_succeed(client):
    bad = {
        "lone surrogate": (b'{"texts": ["\\ud800abc"]}', 422, "text_invalid_unicode", "item 0", "U+D800"),
        "NUL only": (b'{"texts": ["\\u0000\\u0000"]}', 422, "text_empty", "item 0"),
        "zero-width only": (b'{"texts": ["\\u200b\\u200b"]}', 422, "text_empty", "item 0"),
        "surrogate id": (b'{"items": [{"id": "\\udfff", "text": "ok"}]}', 422, "invalid_request", "items.0.id"),
        "surrogate key": (b'{"texts": ["ok"], "\\ud800": 1}', 422, "invalid_request"),
    }
    innocent = {"texts": ["屏幕坏了要求换货"]}

    def send(case):
        if case is None:
            return client.post("/v1/classify", json=innocent)
        return client.post("/v1/classify", content=bad[case][0], headers=JSON)

    cases = [None, *bad, None, None, *bad, None]
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(send, cases))
    for case, response in zip(cases, responses, strict=True):
        if case is None:
            assert response.status_code == 200, response.text
        else:
            assert_error(response, *bad[case][1:])


def test_feedback_with_a_lone_surrogate_in_any_string_is_refused_not_stored(client):
    body = b'{"text": "%s", "needs": ["surface"], "cause": "system_error", "annotator": "%s"}'
    assert_error(
        client.post("/v1/feedback", content=body % (b"\\ud800", b"li"), headers=JSON), 422, "invalid_request", "text"
    )
    response = client.post("/v1/feedback", content=body % ("屏幕坏了".encode(), b"\\udc80"), headers=JSON)
    error = assert_error(response, 422, "invalid_request", "annotator", "U+DC80")
    assert "Value error" not in str(error)  # pydantic's prefix says nothing to a client


@pytest.mark.parametrize(
    ("sent", "status"),
    [
        (None, 401),
        (b"Bearer \xe9\x94\x99\xe8\xaf\xaf", 401),  # a wrong non-ASCII key (UTF-8 of 错误)
        (b"Bearer \xff\xfe\x80", 401),  # bytes that are not UTF-8
        (b"Bearer \xe5\xaf\x86", 401),  # a prefix of the right key
        (b"Basic \xe5\xaf\x86\xe9\x92\xa5", 401),
        ("Bearer 密钥".encode(), 200),
    ],
)
def test_a_non_ascii_api_key_is_an_ordinary_right_or_wrong_key(toy_model, predictor, tmp_path, sent, status):
    with make_client(toy_model, predictor, tmp_path, api_key="密钥") as c:
        wait_ready(c)
        headers = {} if sent is None else {"Authorization": sent}
        response = c.post("/v1/classify", json={"texts": ["好"]}, headers=headers)
        assert response.status_code == status, response.text
        if status == 401:
            assert_error(response, 401, "unauthorized")


def test_a_chunked_body_over_the_limit_is_refused_with_413_while_it_streams(client):
    def chunks():
        yield b'{"texts": ["'
        for _ in range(50):  # 50 KB against a 4 KB limit, with no Content-Length to refuse it by
            yield "好".encode() * 341 + b"a"

    response = client.post("/v1/classify", content=chunks(), headers=JSON)
    error = assert_error(response, 413, "too_large", "4096 bytes")
    assert error["details"] == {"limit": 4096}
    assert response.headers["connection"] == "close"


def test_unknown_fields_are_refused_naming_the_field(client):
    assert_error(
        client.post("/v1/classify", json={"texts": ["好"], "explian": True}), 422, "invalid_request", "explian"
    )
    assert_error(
        client.post("/v1/classify", json={"items": [{"text": "好", "lable": "x"}]}),
        422,
        "invalid_request",
        "items.0.lable",
    )
    feedback = {"text": "好", "needs": ["surface"], "cause": "none", "anotator": "li"}
    assert_error(client.post("/v1/feedback", json=feedback), 422, "invalid_request", "anotator")


def test_a_body_that_is_not_json_gets_415(client):
    for headers in ({"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}, {}):
        response = client.post("/v1/classify", content=b'{"texts": ["ok"]}', headers=headers)
        assert_error(response, 415, "unsupported_media_type", "application/json")
    assert (
        client.post(
            "/v1/classify", json={"texts": ["ok"]}, headers={"content-type": "application/json; charset=utf-8"}
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("body", "position", "reason"),
    [
        (b'{"texts": [}', 11, "Expecting value"),
        (b'{"texts": ["\xff"]}', 12, "not UTF-8 (byte 0xff)"),
        (b'{"texts": ["' + "好".encode("gbk") + b'"]}', 12, "not UTF-8"),
        (b"\xef\xbb\xbf{}", 0, "BOM"),
        (b"", 0, "the body is empty"),
    ],
)
def test_malformed_json_and_bytes_that_are_not_utf8_are_one_fault_400_with_the_position(client, body, position, reason):
    error = assert_error(client.post("/v1/classify", content=body, headers=JSON), 400, "invalid_json", reason)
    assert error["details"] == {"position": position}


def test_json_nested_too_deep_to_read_is_invalid_json_too(client):
    body = b'{"texts": ' + b"[" * 1500 + b"]" * 1500 + b"}"  # under the body limit, past Python's recursion limit
    assert_error(client.post("/v1/classify", content=body, headers=JSON), 400, "invalid_json", "nested too deeply")


def test_ids_and_flags_of_the_wrong_json_type_are_refused_not_coerced(client):
    # found by the fuzz test: an id of true came back as 1, and "explain": "yes" passed as true
    assert_error(
        client.post("/v1/classify", json={"items": [{"id": True, "text": "好"}]}), 422, "invalid_request", "id"
    )
    assert_error(
        client.post("/v1/classify", json={"texts": ["好"], "explain": "yes"}), 422, "invalid_request", "explain"
    )
    ids = [
        r["id"]
        for r in client.post(
            "/v1/classify", json={"items": [{"id": "7", "text": "好"}, {"id": 7, "text": "好"}]}
        ).json()["results"]
    ]
    assert ids == ["7", 7]


@pytest.mark.parametrize(
    ("path", "body", "key"),
    [
        ("/v1/classify", b'{"texts": ["\\u597d"], "texts": ["\\u5dee"]}', "texts"),
        ("/v1/classify", b'{"items": [{"id": 1, "text": "ok", "text": "\\u5dee"}]}', "text"),
        ("/v1/classify", b'{"texts": ["ok"], "\\ud800": 1, "\\ud800": 2}', "\\ud800"),
        (
            "/v1/feedback",
            '{"text": "好", "needs": ["surface"], "cause": "none", "cause": "system_error"}'.encode(),
            "cause",
        ),
    ],
)
def test_an_object_naming_a_key_twice_is_refused_not_read_as_its_last_value(client, path, body, key):
    """Python keeps the last value while a proxy in front may read the first: the two would disagree."""
    error = assert_error(client.post(path, content=body, headers=JSON), 400, "invalid_json", "appears twice")
    assert error["details"] == {"key": key}  # a lone surrogate escaped, as the response must be UTF-8
    assert client.post("/v1/classify", json={"texts": ["ok"], "Texts": 1}).status_code == 422  # unknown, not twice


@pytest.mark.parametrize("query", ["by=%ED%A0%80", "by=%FF", "window=7d&by=%E5%A5"])
def test_a_query_string_that_is_not_utf8_is_400_not_replacement_characters(client, query):
    """`?by=%ED%A0%80` reached the route as "\ufffd\ufffd\ufffd" and was echoed back as a column name."""
    error = assert_error(client.get(f"/v1/monitor?{query}"), 400, "invalid_query", "not UTF-8")
    assert error["details"] is None
    assert client.get("/v1/monitor?by=%E6%B8%A0%E9%81%93").status_code != 400  # 渠道, UTF-8: on to the route
