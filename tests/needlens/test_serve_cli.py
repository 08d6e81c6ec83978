"""`needlens serve` refuses a host or port it cannot listen on in one line and exit 2, before the
model is looked up or uvicorn started (uvicorn's own failure is exit 3, monitor's "alerts found")."""

import socket

import pytest
from typer.testing import CliRunner

from needlens.cli import app
from tests.needlens.test_cli import one_line_error

runner = CliRunner()
# unset for the run and unset again after it: serve writes the settings it was given into os.environ
CLEAN_ENV = {"NEEDLENS_HOST": None, "NEEDLENS_PORT": None, "NEEDLENS_MODEL_DIR": None}


@pytest.fixture
def no_start(monkeypatch):
    """uvicorn.run and the model lookup fail the test if reached."""

    def reached(*args, **kwargs):
        pytest.fail("serve went past the host/port check")

    monkeypatch.setattr("uvicorn.run", reached)
    monkeypatch.setattr("classifier.model_dir.find_model", reached)


@pytest.fixture
def taken_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_port_in_use_is_one_line_naming_the_flag_before_the_model_is_looked_up(no_start, taken_port, tmp_path):
    result = runner.invoke(app, ["serve", "--port", str(taken_port), "--model", str(tmp_path / "none")], env=CLEAN_ENV)
    one_line_error(result, f"--port {taken_port}: cannot listen on 127.0.0.1:{taken_port} (address already in use)")
    assert len(result.output.strip().splitlines()) == 1
    assert "Errno" not in result.output and "model" not in result.output


def test_a_port_in_use_from_the_environment_names_the_variable(no_start, taken_port):
    result = runner.invoke(app, ["serve"], env={**CLEAN_ENV, "NEEDLENS_PORT": str(taken_port)})
    one_line_error(result, f"NEEDLENS_PORT {taken_port}: cannot listen on", "address already in use")


@pytest.mark.parametrize("unknown", [False, True])
def test_a_host_that_cannot_be_bound_is_one_line_naming_the_flag(no_start, unknown, tmp_path, monkeypatch):
    host = "192.0.2.1"  # a documentation address, not one of this machine's
    if unknown:  # as a name no resolver knows, without asking one (CI may have none)
        host = "no-such-host.invalid"

        def no_such_name(*args, **kwargs):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    result = runner.invoke(app, ["serve", "--host", host, "--model", str(tmp_path / "none")], env=CLEAN_ENV)
    one_line_error(result, f"--host {host}: cannot listen on {host}:8000 (")
    assert len(result.output.strip().splitlines()) == 1
    assert "Errno" not in result.output and "model" not in result.output


@pytest.mark.parametrize("host", ["127.0.0..1", ".localhost", "a" * 64 + ".example"])
def test_a_malformed_host_name_is_one_line_not_a_codec_traceback(no_start, host, tmp_path):
    result = runner.invoke(app, ["serve", "--host", host, "--model", str(tmp_path / "none")], env=CLEAN_ENV)
    one_line_error(result, f"--host {host}: not a valid host name or address")


def test_an_empty_host_is_the_default_loopback_never_every_interface(no_start, taken_port, tmp_path):
    # NEEDLENS_HOST=${HOST} with HOST unset: listening on 0.0.0.0 would have exposed the service
    result = runner.invoke(app, ["serve"], env={**CLEAN_ENV, "NEEDLENS_HOST": "", "NEEDLENS_PORT": str(taken_port)})
    one_line_error(result, f"cannot listen on 127.0.0.1:{taken_port}")
    one_line_error(runner.invoke(app, ["serve", "--host", ""], env=CLEAN_ENV), "--host:", "at least 1 character")


def test_a_free_port_and_a_model_start_uvicorn(monkeypatch, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}", encoding="utf-8")  # all serve itself checks; the workers load it
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    calls = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: calls.append(kwargs))
    result = runner.invoke(app, ["serve", "--port", str(port), "--model", str(model)], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    assert [(call["host"], call["port"]) for call in calls] == [("127.0.0.1", port)]
