"""`needlens serve`: run the HTTP API under uvicorn, every worker process with the same settings."""

from __future__ import annotations

import errno
import json
import os
import socket
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from classifier.settings import Settings
from needlens.cli.common import ModelOption, SettingsError, load_settings, user_errors

commands = typer.Typer()


@commands.command()
@user_errors
def serve(
    model: ModelOption = None,
    host: Annotated[str | None, typer.Option(help="interface to bind \\[default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port \\[default: 8000]")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="worker processes")] = None,
    label_store: Annotated[Path | None, typer.Option(help="SQLite label store \\[default: labels.db]")] = None,
    micro_batching: Annotated[
        bool | None, typer.Option(help="share forward passes between concurrent requests")
    ] = None,
) -> None:
    """Serve the HTTP API (/v1/classify, /v1/feedback, /v1/model, /healthz, /readyz, /docs)."""
    import uvicorn

    from classifier.model_dir import find_model, resolve_model_dir

    settings = load_settings(
        flags={"model_dir": "--model"},
        model_dir=model,
        host=host,
        port=port,
        workers=workers,
        label_store=label_store,
        micro_batching=micro_batching,
    )
    _check_listenable(settings, host_flag=host is not None, port_flag=port is not None)
    located = find_model(settings.model_dir, settings.home)
    if not (resolve_model_dir(located) / "config.json").is_file():
        raise FileNotFoundError(f"{located}: no model here; train one with `needlens train`")
    settings = settings.model_copy(update={"model_dir": located.absolute()})  # what every worker process loads
    os.environ.update(settings_environment(settings))
    uvicorn.run(
        "serve.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,
        log_config=_LOG_CONFIG,
        timeout_graceful_shutdown=30,
    )


def _check_listenable(settings: Settings, *, host_flag: bool, port_flag: bool) -> None:
    """Refuse a host or port that cannot be listened on, as one line and exit 2, before the model
    is looked up or uvicorn started: uvicorn would find out only after loading, log several lines
    and exit 3, which `needlens monitor` uses for "alerts found".

    Binds as uvicorn does (every address the host resolves to, SO_REUSEADDR, IPv6 sockets
    v6-only) and closes the sockets again. Another process can still take the port between this
    check and uvicorn's own bind; that rare race ends as uvicorn's own failure."""
    host, port = settings.host, settings.port
    try:
        with ExitStack() as sockets:
            addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
            for family, kind, proto, _, address in addresses:
                sock = sockets.enter_context(socket.socket(family, kind, proto))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6 and hasattr(socket, "IPV6_V6ONLY"):
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
    except UnicodeError:  # a host name the IDNA codec refuses (an empty label: 127.0.0..1, .localhost)
        source = _source("host", host_flag, settings)
        raise SettingsError(f"{source} {host}: not a valid host name or address") from None
    except OSError as exc:
        port_at_fault = not isinstance(exc, socket.gaierror) and exc.errno in (errno.EADDRINUSE, errno.EACCES)
        if port_at_fault:
            source = _source("port", port_flag, settings) + f" {port}"
        else:
            source = _source("host", host_flag, settings) + f" {host}"
        # no [fe80::1]:8000: the error line is printed as rich markup, which would swallow "[fe80::1]"
        where = f"{host} port {port}" if ":" in host else f"{host or '*'}:{port}"
        raise SettingsError(f"{source}: cannot listen on {where} ({_reason(exc)})") from None


def _source(field: str, flag_given: bool, settings: Settings) -> str:
    """The flag, else the NEEDLENS_* variable, that set ``field``; the flag when it is the default."""
    if not flag_given and field in settings.model_fields_set:
        return f"NEEDLENS_{field.upper()}"
    return f"--{field}"


def _reason(exc: OSError) -> str:
    """The error in words ("address already in use"), never a raw "[Errno 98]"."""
    reason = exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc))
    return reason[:1].lower() + reason[1:]


def settings_environment(settings: Settings) -> dict[str, str]:
    """The NEEDLENS_* variables that give another process these settings: uvicorn's worker processes
    read theirs from the environment alone (``serve.app:create_app_from_env``).

    Only fields set by a variable or a flag are written. The sections (training, monitor, arrival)
    and the secrets (API key, UI cookie key) are set by variables only, which the workers inherit
    as they are; a secret is never copied out of its SecretStr (it would dump as asterisks)."""
    values = settings.model_dump(
        mode="json",
        exclude_unset=True,
        exclude_none=True,
        exclude={"api_key", "ui_secret", "training", "monitor", "arrival"},
    )
    return {
        f"NEEDLENS_{name.upper()}": value if isinstance(value, str) else json.dumps(value)
        for name, value in values.items()
    }


_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(message)s"},
        "default": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "access": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stdout"},
        "default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"},
    },
    "loggers": {
        "needlens.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        "needlens": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
    },
}
