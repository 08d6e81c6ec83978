"""Base models by name: which installer writes each, and where a training run finds it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from base_models import e5_small
from base_models.e5_small import BaseModelError

INSTALLERS: dict[str, Callable[[Path], Path]] = {e5_small.NAME: e5_small.install}


def install_base_model(name: str, out_dir: Path) -> Path:
    if name not in INSTALLERS:
        raise BaseModelError(f"unknown base model {name!r}; known: {', '.join(sorted(INSTALLERS))}")
    return INSTALLERS[name](out_dir)


def resolve_base_model(base_model: str, base_models_dir: Path, log: Callable[[str], None] = print) -> str:
    """A known base-model name becomes its installed directory (installed now if missing, which
    is a local conversion, not a download); any other value is passed through unchanged."""
    if base_model not in INSTALLERS:
        return base_model
    directory = base_models_dir / base_model
    if not (directory / "config.json").is_file():
        log(f"installing base model {base_model} into {directory}")
        install_base_model(base_model, directory)
    return str(directory)
