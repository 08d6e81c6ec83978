"""Where a model lives: a model directory, or a registry whose ACTIVE file names one.

The registry itself is written by ``lifecycle.registry``; inference only needs to follow the
pointer, so the HTTP service and the CLI can be given either kind of path. A relative path
(the default ``models/default``) that the current folder lacks is looked up in the needlens
home (``NEEDLENS_HOME``), so every command works from any folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from classifier.errors import ModelLoadError
from classifier.settings import Settings

ACTIVE_POINTER = "ACTIVE"
VERSIONS_DIR = "versions"
TRAINING_FACTS = "training.json"
"""Written by every training run and by nothing else: what tells a trained model from a base encoder."""


def find_model(path: Path, home: Path | None = None) -> Path:
    """``path`` if it exists, else, for a relative path, the same path under ``home`` (by default
    the settings' ``home``); a path found nowhere is an error naming every place looked."""
    if path.exists() or path.is_absolute():
        places = [path]
    else:
        places = [path, (home if home is not None else Settings().home) / path]
    for place in places:
        if place.exists():
            return place
    looked = " nor ".join(str(place.absolute()) for place in places)
    raise ModelLoadError(
        f"{path} is not a needlens model directory: nothing at {looked}; "
        "train one (`needlens train`), pass --model, or set NEEDLENS_MODEL_DIR or NEEDLENS_HOME"
    )


def resolve_model_dir(path: Path, home: Path | None = None) -> Path:
    """The model directory to load: ``path`` (found as ``find_model`` does) itself, or the registry's active version."""
    path = find_model(path, home)
    pointer = path / ACTIVE_POINTER
    if not pointer.is_file():
        return path
    version = pointer.read_text(encoding="utf-8").strip()
    target = path / VERSIONS_DIR / version
    if version in ("", ".", "..") or any(c in version for c in "/\\\0"):  # a path would serve a model from elsewhere
        raise ModelLoadError(f"{pointer} names {version[:200]!r}, which is not a version name in {path / VERSIONS_DIR}")
    if not (target / "config.json").is_file():
        raise ModelLoadError(f"{pointer} names {version!r}, which is not a model in {path / VERSIONS_DIR}")
    return target


def is_trained_model(path: Path) -> bool:
    """A folder ``needlens train`` wrote, which another training run may replace."""
    return (path / "config.json").is_file() and (path / TRAINING_FACTS).is_file()


def is_registered_version(path: Path) -> bool:
    """A version in a model registry, which stays as it was trained: the registry's log and its
    promotions name it by what it was."""
    return path.is_dir() and path.absolute().parent.name == VERSIONS_DIR


def read_json_file(path: Path) -> dict[str, Any]:
    """A model directory's JSON side file (training.json, metrics.json, a report), or {} if absent."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
