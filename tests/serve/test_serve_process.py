"""The real thing: `needlens serve` as a process on a loopback port, restarted, with waiting feedback kept."""

import httpx

from bench.common import Server, free_port


def test_serve_classify_feedback_restart_and_the_waiting_feedback_is_still_there(toy_model, tmp_path):
    store, log = tmp_path / "labels.db", tmp_path / "server.log"
    port = free_port()
    correction = {"text": "空调修了三次还是不制冷", "needs": ["surface"], "cause": "system_error"}

    with Server(toy_model[0], store, {"NEEDLENS_THREADS": "1"}, port=port, log=log) as server:
        result = httpx.post(f"{server.url}/v1/classify", json={"texts": ["屏幕坏了要求换货"]}, timeout=10)
        assert result.status_code == 200 and result.json()["results"][0]["needs"]
        first = httpx.post(f"{server.url}/v1/feedback", json=correction, timeout=10)
        assert first.status_code == 201 and first.json()["status"] == "pending"
    output = log.read_text(encoding="utf-8")
    assert "Application shutdown complete." in output  # drained; uvicorn then re-raises SIGTERM by design
    access = [line for line in output.splitlines() if '"path": "/v1/classify"' in line]
    assert access and '"items": 1' in access[0] and "屏幕" not in output  # logged, without the text

    with Server(toy_model[0], store, {"NEEDLENS_THREADS": "1"}, port=port, log=log) as server:
        again = httpx.post(
            f"{server.url}/v1/feedback", json={**correction, "needs": ["surface", "emotional"]}, timeout=10
        )
        assert (again.json()["status"], again.json()["waiting"]) == ("pending", 2)
        later = httpx.get(f"{server.url}/v1/feedback/{first.json()['id']}", timeout=10).json()
        assert (later["status"], later["waiting"], later["created_at"]) == ("pending", 2, first.json()["created_at"])
