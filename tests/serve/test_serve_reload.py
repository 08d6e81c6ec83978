"""The service follows the registry's ACTIVE pointer: a promotion is served without a restart."""

import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from classifier.settings import Settings
from lifecycle.registry import ModelRegistry
from serve.app import create_app
from tests.lifecycle.test_retrain import registered_copy
from tests.serve.test_serve import wait_ready


def served_version(client: TestClient) -> str:
    response = client.post("/v1/classify", json={"texts": ["屏幕坏了要求换货"]})
    assert response.status_code == 200, response.text
    return response.json()["model_version"]


def make_registry(toy_model, tmp_path) -> tuple[ModelRegistry, str, str]:
    registry = ModelRegistry(tmp_path / "registry")
    v1 = registered_copy(registry, toy_model[0], "v1")
    v2 = registered_copy(registry, toy_model[0], "v2")
    registry.promote(v1, "first")
    return registry, v1, v2


def test_reload_endpoint_switches_models_and_requests_in_flight_all_finish(toy_model, tmp_path):
    registry, v1, v2 = make_registry(toy_model, tmp_path)
    settings = Settings(model_dir=registry.root, label_store=tmp_path / "labels.db", reload_poll_s=0)
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        assert served_version(client) == v1
        assert client.post("/v1/model/reload").json() == {"reloaded": False, "model_version": v1}
        registry.promote(v2, "second")
        with ThreadPoolExecutor(4) as pool:
            during = [pool.submit(served_version, client) for _ in range(24)]
            reload = client.post("/v1/model/reload")
            versions = {f.result() for f in during}  # none fails while the model changes under them
        assert reload.json() == {"reloaded": True, "model_version": v2}
        assert versions <= {v1, v2}
        assert served_version(client) == v2
        assert client.get("/v1/model").json()["version"] == v2


def test_pointer_watch_picks_up_a_promotion_and_survives_a_broken_pointer(toy_model, tmp_path):
    registry, v1, v2 = make_registry(toy_model, tmp_path)
    settings = Settings(model_dir=registry.root, label_store=tmp_path / "labels.db", reload_poll_s=0.05)
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        (registry.root / "ACTIVE").write_text("no-such-version\n")
        time.sleep(0.3)
        assert served_version(client) == v1  # a bad pointer never takes the service down
        failed = client.post("/v1/model/reload")
        assert failed.status_code == 500 and failed.json()["error"]["code"] == "reload_failed"
        registry.promote(v2, "second")
        deadline = time.monotonic() + 20
        while client.get("/readyz").json()["model_version"] != v2:
            assert time.monotonic() < deadline, "promotion not picked up"
            time.sleep(0.05)
        assert served_version(client) == v2


def test_a_service_started_on_a_broken_active_version_says_none_is_served_and_takes_the_next_promotion(
    toy_model, tmp_path, caplog
):
    registry, _, v2 = make_registry(toy_model, tmp_path)
    (registry.root / "ACTIVE").write_text("no-such-version\n")  # written by hand, not through promote
    settings = Settings(model_dir=registry.root, label_store=tmp_path / "labels.db", reload_poll_s=0.05)
    with caplog.at_level("ERROR", logger="needlens.serve"), TestClient(create_app(settings)) as client:
        time.sleep(0.3)
        assert client.get("/readyz").status_code == 503
        assert "model reload failed, no model is served yet" in caplog.text
        assert "still serving the previous model" not in caplog.text
        registry.promote(v2, "repaired")
        wait_ready(client)
        assert served_version(client) == v2
