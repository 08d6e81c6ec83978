"""The real thing: `needlens serve` as a process on a loopback port, restarted, with feedback kept."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir, store, port):
    env = {**os.environ, "NEEDLENS_THREADS": "1"}
    command = [sys.executable, "-m", "needlens", "serve", "--model", str(model_dir), "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--label-store", str(store)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited early:\n{process.stdout.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    pytest.fail("server did not become ready in 90 s")


def stop_server(process) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return output


def test_serve_classify_feedback_restart_and_the_feedback_is_still_there(toy_model, tmp_path):
    store = tmp_path / "labels.db"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    correction = {"text": "空调修了三次还是不制冷", "needs": ["surface"], "cause": "system_error"}

    server = start_server(toy_model[0], store, port)
    try:
        result = httpx.post(f"{base}/v1/classify", json={"texts": ["屏幕坏了要求换货"]}, timeout=10)
        assert result.status_code == 200 and result.json()["results"][0]["needs"]
        first = httpx.post(f"{base}/v1/feedback", json=correction, timeout=10)
        assert first.status_code == 201
    finally:
        log = stop_server(server)
    assert "Application shutdown complete." in log  # drained; uvicorn then re-raises SIGTERM by design
    access = [line for line in log.splitlines() if '"path": "/v1/classify"' in line]
    assert access and '"items": 1' in access[0] and "屏幕" not in log  # logged, without the text

    server = start_server(toy_model[0], store, port)
    try:
        again = httpx.post(f"{base}/v1/feedback", json={**correction, "needs": ["surface", "emotional"]}, timeout=10)
        assert again.json()["supersedes"] == first.json()["id"]
    finally:
        stop_server(server)
