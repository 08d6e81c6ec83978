"""`needlens serve`: run the HTTP API under uvicorn, every worker process with the same settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from classifier.settings import Settings
from needlens.cli.common import ModelOption, load_settings, user_errors

commands = typer.Typer()


@commands.command()
@user_errors
def serve(
    model: ModelOption = None,
    host: Annotated[str | None, typer.Option(help="interface to bind [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port [default: 8000]")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="worker processes")] = None,
    label_store: Annotated[Path | None, typer.Option(help="SQLite label store [default: labels.db]")] = None,
    micro_batching: Annotated[
        bool | None, typer.Option(help="share forward passes between concurrent requests")
    ] = None,
) -> None:
    """Serve the HTTP API (/v1/classify, /v1/feedback, /v1/model, /healthz, /readyz, /docs)."""
    import os

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
