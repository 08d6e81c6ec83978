"""Hostile clients against `needlens serve` on a loopback port, over raw sockets: what uvicorn's
own parser lets through must still get a 4xx, and a stalled client must not hold its connection."""

import json
import socket

import pytest

from bench.common import Server

API_KEY = "密钥"


@pytest.fixture(scope="module")
def server(toy_model, tmp_path_factory):
    env = {
        "NEEDLENS_THREADS": "1",
        "NEEDLENS_BODY_TIMEOUT_S": "0.5",
        "NEEDLENS_MAX_BODY_BYTES": "4096",
        "NEEDLENS_API_KEY": API_KEY,
    }
    with Server(toy_model[0], tmp_path_factory.mktemp("store") / "labels.db", env) as running:
        yield running


def exchange(server, head: bytes, body: bytes = b"", wait_s: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send a request, read until the server closes the connection; (status, headers, body)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait_s) as connection:
        connection.sendall(head + b"\r\n" + body)
        received = b""
        while data := connection.recv(65536):  # a server that never answers nor closes: socket.timeout
            received += data
    status_line, _, rest = received.partition(b"\r\n")
    header_block, _, payload = rest.partition(b"\r\n\r\n")
    headers = dict(line.decode("latin-1").lower().split(": ", 1) for line in header_block.split(b"\r\n"))
    return int(status_line.split()[1]), headers, payload


def head(authorization: bytes, *extra: bytes) -> bytes:
    lines = [b"POST /v1/classify HTTP/1.1", b"Host: test", b"Content-Type: application/json", b"Connection: close"]
    return b"\r\n".join([*lines, b"Authorization: " + authorization, *extra]) + b"\r\n"


def error_code(payload: bytes) -> str:
    if payload and payload[0:1] != b"{":  # a chunked response: size line, chunk, terminator
        payload = payload.split(b"\r\n")[1]
    return json.loads(payload)["error"]["code"]


def test_a_client_that_promises_a_body_and_stalls_gets_408_and_loses_the_connection(server):
    status, headers, payload = exchange(
        server, head(b"Bearer " + API_KEY.encode(), b"Content-Length: 100"), b'{"texts": ['
    )
    assert status == 408 and error_code(payload) == "body_timeout"
    assert headers["connection"] == "close"


def test_a_chunked_body_over_the_limit_gets_413_in_the_error_shape(server):
    chunk = b"%x\r\n%s\r\n" % (1000, b" " * 1000)
    body = b'c\r\n{"texts": ["\r\n' + chunk * 8 + b"0\r\n\r\n"
    status, _, payload = exchange(server, head(b"Bearer " + API_KEY.encode(), b"Transfer-Encoding: chunked"), body)
    assert status == 413 and error_code(payload) == "too_large"


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        ("Bearer 密钥".encode(), 200),
        ("Bearer 错误".encode(), 401),
        (b"Bearer \xff\xfe\x80", 401),
        (b"Bearer " + "密钥".encode("gbk"), 401),
    ],
)
def test_api_keys_in_any_bytes_are_right_or_wrong_never_a_500(server, authorization, status):
    body = json.dumps({"texts": ["好"]}).encode()
    got, _, _ = exchange(server, head(authorization, b"Content-Length: %d" % len(body)), body)
    assert got == status
