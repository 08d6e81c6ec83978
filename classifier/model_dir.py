"""Where a model lives: a model directory, or a registry whose ACTIVE file names one.

The registry itself is written by ``training.registry``; inference only needs to follow the
pointer, so the HTTP service and the CLI can be given either kind of path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from classifier.errors import ModelLoadError

ACTIVE_POINTER = "ACTIVE"
VERSIONS_DIR = "versions"


def resolve_model_dir(path: Path) -> Path:
    """The model directory to load: ``path`` itself, or the registry's active version."""
    pointer = path / ACTIVE_POINTER
    if not pointer.is_file():
        return path
    version = pointer.read_text(encoding="utf-8").strip()
    target = path / VERSIONS_DIR / version
    if not version or not (target / "config.json").is_file():
        raise ModelLoadError(f"{pointer} names {version!r}, which is not a model in {path / VERSIONS_DIR}")
    return target


def read_json_file(path: Path) -> dict[str, Any]:
    """A model directory's JSON side file (training.json, metrics.json, a report), or {} if absent."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
