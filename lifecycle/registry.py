"""The model registry: versioned model directories and an ACTIVE pointer switched atomically.

Layout under the registry root::

    versions/<model_version>/   one model directory per version (as ``needlens train`` writes)
    ACTIVE                      the version being served (one line)
    registry.jsonl              append-only log of promotions and rollbacks, with reasons

A version enters ``versions/`` by one rename of a finished directory, and ACTIVE is replaced
by ``os.replace`` of a fully written, fsynced file, so a crash at any moment leaves ACTIVE
naming a complete model: the old one or the new one, never a half-written one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classifier.model_dir import ACTIVE_POINTER, VERSIONS_DIR, read_json_file
from classifier.modeling import WEIGHTS_FILE, NeedlensConfig

LOG_FILE = "registry.jsonl"
STAGING_DIR = ".staging"


class RegistryError(RuntimeError):
    """A registry operation that cannot be done, with the reason in words."""


@dataclass(frozen=True)
class VersionSummary:
    version: str
    path: Path
    active: bool
    created_at: str
    training_records: int | None
    validation: dict[str, float | None]
    held_out: dict[str, Any] | None
    """The retrain comparison this version was judged by, if it came from ``needlens retrain``."""


class ModelRegistry:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.versions = root / VERSIONS_DIR
        self.log_file = root / LOG_FILE

    def staging_dir(self) -> Path:
        """A place to build a candidate on the same file system, so adding it is one rename."""
        staging = self.root / STAGING_DIR
        staging.mkdir(parents=True, exist_ok=True)
        return staging

    def active(self) -> str | None:
        pointer = self.root / ACTIVE_POINTER
        if not pointer.is_file():
            return None
        return pointer.read_text(encoding="utf-8").strip() or None

    def path(self, version: str) -> Path:
        target = self.versions / version
        if not (target / "config.json").is_file() or not (target / WEIGHTS_FILE).is_file():
            known = ", ".join(self.version_names()) or "none"
            raise RegistryError(f"no model version {version!r} in {self.versions} (known: {known})")
        return target

    def version_names(self) -> list[str]:
        """Versions oldest first (names start with their creation time)."""
        if not self.versions.is_dir():
            return []
        return sorted(p.name for p in self.versions.iterdir() if (p / "config.json").is_file())

    def add(self, model_dir: Path) -> str:
        """Move a finished model directory into ``versions/`` under its model version; returns it."""
        version = NeedlensConfig.from_pretrained(model_dir).model_version
        target = self.versions / version
        if target.exists():
            raise RegistryError(f"version {version} is already registered")
        self.versions.mkdir(parents=True, exist_ok=True)
        model_dir.rename(target)
        _fsync_dir(self.versions)
        return version

    def promote(self, version: str, reason: str, event: str = "promote") -> None:
        """Point ACTIVE at ``version`` and log who-why; the switch is one atomic rename."""
        self.path(version)  # refuse anything that is not a complete model
        previous = self.active()
        tmp = self.root / f".{ACTIVE_POINTER}.tmp"
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(version + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.root / ACTIVE_POINTER)
        _fsync_dir(self.root)
        self._log({"event": event, "version": version, "previous": previous, "reason": reason})

    def rollback(self, reason: str) -> str:
        """Re-activate the version that was active before the current one; returns it."""
        current = self.active()
        if current is None:
            raise RegistryError(f"{self.root}: no active model to roll back from")
        for entry in reversed(self.history()):
            if entry["version"] == current and entry.get("previous") and entry["previous"] != current:
                self.promote(entry["previous"], reason, event="rollback")
                return str(entry["previous"])
        raise RegistryError(f"{current} has no earlier active version to roll back to")

    def record(self, entry: dict[str, Any]) -> None:
        """Log an event that is not a switch (a rejected candidate), so the history is complete."""
        self._log(entry)

    def history(self) -> list[dict[str, Any]]:
        if not self.log_file.is_file():
            return []
        return [json.loads(line) for line in self.log_file.read_text(encoding="utf-8").splitlines() if line.strip()]

    def summaries(self) -> list[VersionSummary]:
        active = self.active()
        return [self.summary(name, active) for name in self.version_names()]

    def summary(self, version: str, active: str | None = None) -> VersionSummary:
        path = self.path(version)
        training = read_json_file(path / "training.json")
        metrics = read_json_file(path / "metrics.json").get("model", {})
        comparison = read_json_file(path / "reports" / "comparison" / "report.json")
        return VersionSummary(
            version=version,
            path=path,
            active=version == (active if active is not None else self.active()),
            created_at=datetime.fromtimestamp((path / "config.json").stat().st_mtime, UTC).isoformat(
                timespec="seconds"
            ),
            training_records=training.get("data", {}).get("records"),
            validation={k: metrics.get(k) for k in ("needs_macro_f1", "cause_macro_f1")},
            held_out=comparison or None,
        )

    def _log(self, entry: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds"), **entry}, ensure_ascii=False)
        with self.log_file.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (POSIX: the directory entry must be synced too)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
