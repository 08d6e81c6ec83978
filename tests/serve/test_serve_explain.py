"""Explain requests have their own budget and pool: they never hold up plain requests, and a request
past its deadline gets 503 while its remaining work is dropped."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from classifier.inference import Predictor
from classifier.settings import Settings
from serve.app import create_app
from tests.serve.test_serve import assert_error, wait_ready


class HeldExplainPredictor(Predictor):
    """Explaining waits for ``release``: an explain request that takes as long as the test wants."""

    def __init__(self, base: Predictor) -> None:
        super().__init__(base.model, base.settings, base.model_dir, base.lexical)
        self.release, self.explaining = threading.Event(), threading.Event()
        self.model_calls = 0
        runner = self.runner

        def counting_runner(batch):
            self.model_calls += 1
            return runner(batch)

        self.runner = counting_runner

    def predict(self, texts, explain=False):
        if explain:
            self.explaining.set()
            assert self.release.wait(30)
        return super().predict(texts, explain)


def serve(toy_model, predictor, tmp_path, **overrides):
    settings = Settings(model_dir=toy_model[0], label_store=tmp_path / "labels.db", **overrides)
    return TestClient(create_app(settings, predictor))


def test_explain_has_its_own_budget_naming_the_limit(toy_model, predictor, tmp_path):
    with serve(toy_model, predictor, tmp_path, explain_max_texts=3, explain_max_chars=40) as client:
        wait_ready(client)
        error = assert_error(
            client.post("/v1/classify", json={"texts": ["好"] * 4, "explain": True}),
            413,
            "explain_too_large",
            "at most 3 texts",
            "NEEDLENS_EXPLAIN_MAX_TEXTS",
        )
        assert error["details"] == {"limit": 3, "count": 4, "setting": "NEEDLENS_EXPLAIN_MAX_TEXTS"}
        assert_error(
            client.post("/v1/classify", json={"texts": ["长" * 30, "长" * 11], "explain": True}),
            413,
            "explain_too_large",
            "at most 40 characters",
        )
        assert client.post("/v1/classify", json={"texts": ["长" * 30, "长" * 10], "explain": True}).status_code == 200
        assert client.post("/v1/classify", json={"texts": ["好"] * 4}).status_code == 200  # no budget without explain


def test_plain_requests_are_answered_while_an_explain_request_is_still_running(toy_model, predictor, tmp_path):
    held = HeldExplainPredictor(predictor)
    with serve(toy_model, held, tmp_path) as client, ThreadPoolExecutor(2) as pool:
        wait_ready(client)
        explaining = pool.submit(client.post, "/v1/classify", json={"texts": ["屏幕坏了要求换货"], "explain": True})
        try:
            assert held.explaining.wait(10)
            plain = pool.submit(client.post, "/v1/classify", json={"texts": ["想参与新功能共创"]})
            assert plain.result(timeout=10).status_code == 200  # before the explain request is let go
        finally:
            held.release.set()
        response = explaining.result(timeout=30)
        assert response.status_code == 200 and response.json()["results"][0]["evidence"]


def test_a_request_past_its_deadline_gets_503_and_its_remaining_model_work_is_dropped(toy_model, predictor, tmp_path):
    held = HeldExplainPredictor(predictor)
    with serve(toy_model, held, tmp_path, request_timeout_s=0.3) as client, ThreadPoolExecutor(1) as pool:
        wait_ready(client)
        request = pool.submit(client.post, "/v1/classify", json={"texts": ["屏幕坏了要求换货"], "explain": True})
        try:
            response = request.result(timeout=10)
            calls_at_deadline = held.model_calls
        finally:
            held.release.set()
        error = assert_error(response, 503, "deadline_exceeded", "0.3 s", "NEEDLENS_REQUEST_TIMEOUT_S")
        assert error["details"] == {"limit_s": 0.3} and response.headers["retry-after"]
        explainer = client.app.state.service.served.explainer
        deadline = time.monotonic() + 10
        while explainer.pending:  # the abandoned explanation ends at its first model call
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert held.model_calls == calls_at_deadline
        assert client.post("/v1/classify", json={"texts": ["好"]}).status_code == 200


def test_explain_requests_beyond_the_pool_and_its_queue_get_503(toy_model, predictor, tmp_path):
    held = HeldExplainPredictor(predictor)
    with serve(toy_model, held, tmp_path, explain_queue_max=1) as client, ThreadPoolExecutor(3) as pool:
        wait_ready(client)
        body = {"texts": ["好"], "explain": True}
        try:
            running = [pool.submit(client.post, "/v1/classify", json=body)]
            assert held.explaining.wait(10)
            running.append(pool.submit(client.post, "/v1/classify", json=body))  # waits for the thread
            explainer = client.app.state.service.served.explainer
            while explainer.pending < 2:
                time.sleep(0.01)
            refused = client.post("/v1/classify", json=body)
        finally:
            held.release.set()
        assert_error(refused, 503, "overloaded", "explain")
        assert [f.result(timeout=30).status_code for f in running] == [200, 200]
