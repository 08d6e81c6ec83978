"""The model registry: versioned model directories and an ACTIVE pointer switched atomically.

Layout under the registry root::

    versions/<model_version>/   one model directory per version (as ``needlens train`` writes)
    ACTIVE                      the version being served (one line)
    registry.jsonl              append-only log of promotions and rollbacks, with reasons

A version is named by its directory's name alone: a name with a path separator or ``..`` is
refused, so ACTIVE can never point outside ``versions/``. A version enters ``versions/`` by one
rename of a finished directory, and ACTIVE is replaced by ``os.replace`` of a fully written,
fsynced file, so a crash at any moment leaves ACTIVE naming a complete model: the old one or
the new one, never a half-written one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from safetensors import safe_open

from classifier.model_dir import ACTIVE_POINTER, TRAINING_FACTS, VERSIONS_DIR, read_json_file
from classifier.modeling import WEIGHTS_FILE, NeedlensConfig

LOG_FILE = "registry.jsonl"
STAGING_DIR = ".staging"
SWITCH_LOCK = ".switch.lock"
SWITCH_WAIT_S = 60


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
    problem: str | None = None
    """Why this version cannot be served or its facts cannot be read (None: it is whole); one bad
    version is listed with its problem instead of hiding every other version."""


class ModelRegistry:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.versions = root / VERSIONS_DIR
        self.log_file = root / LOG_FILE

    @classmethod
    def existing(cls, root: Path) -> ModelRegistry:
        """The registry at ``root``, which must exist: reading a mistyped path would show an
        empty registry as if it were a real one (only ``needlens retrain`` creates registries)."""
        if not root.is_dir():
            what = "is not a directory" if root.exists() else "does not exist"
            raise RegistryError(
                f"no model registry at {root}: it {what}; pass --registry or set NEEDLENS_REGISTRY_DIR "
                "(`needlens retrain` creates a registry)"
            )
        return cls(root)

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
        """The complete model directory of ``version``; anything else (a path, a name not under
        ``versions/``, a half-copied directory) is a RegistryError, so nothing else can be served."""
        target = self.versions / _plain_name(version, self.versions)
        if not target.is_dir():
            known = ", ".join(self.version_names()) or "none"
            raise RegistryError(f"no model version {version!r} in {self.versions} (known: {known})")
        missing = self.missing_files(version)
        if missing:
            raise RegistryError(
                f"model version {version!r} in {self.versions} is incomplete (no {', '.join(missing)}): "
                "it cannot be served or promoted"
            )
        return target

    def servable(self, version: str) -> Path:
        """``path`` of a version whose config and weights also read back: checked when a version
        is switched to, not whenever one is listed (an accurate-profile version is ~240 MB)."""
        target = self.path(version)
        if damage := _unreadable(target):
            raise RegistryError(
                f"model version {version!r} in {self.versions} is damaged ({damage}): it cannot be served or promoted"
            )
        return target

    def missing_files(self, version: str) -> list[str]:
        """The files a servable model directory needs that ``versions/<version>`` lacks."""
        return _missing(self.versions / _plain_name(version, self.versions))

    def version_names(self) -> list[str]:
        """Versions oldest first (names start with their creation time), complete or not: every
        directory under ``versions/``, so a half-copied one is listed with what it lacks."""
        if not self.versions.is_dir():
            return []
        return sorted(p.name for p in self.versions.iterdir() if p.is_dir())

    def add(self, model_dir: Path) -> str:
        """Move a finished model directory into ``versions/`` under its model version; returns it."""
        version = NeedlensConfig.from_pretrained(model_dir).model_version
        target = self.versions / _plain_name(version, self.versions)
        if target.exists():
            raise RegistryError(f"version {version} is already registered")
        self.versions.mkdir(parents=True, exist_ok=True)
        model_dir.rename(target)
        _fsync_dir(self.versions)
        return version

    def promote(self, version: str, reason: str) -> None:
        """Point ACTIVE at ``version`` and log who-why; the switch is one atomic rename."""
        with self._switching():
            self._switch(version, reason, "promote")

    def rollback(self, reason: str) -> str:
        """Re-activate the last version made active before the current one that was not rolled back
        from since; returns it. Walking the log this way makes a second rollback go further back
        (v3 → v2 → v1) instead of bouncing to the version just rolled back from."""
        with self._switching():
            current = self.active()
            if current is None:
                raise RegistryError(f"{self.root}: no active model to roll back from")
            target = next((v for v in self._rollback_candidates(current) if not self._unservable(v)), None)
            if target is None:
                raise RegistryError(
                    f"{current} has no earlier active version to roll back to that was not rolled back from "
                    f"(see {self.log_file}); promote one by name"
                )
            self._switch(target, reason, "rollback")
        return target

    @contextmanager
    def _switching(self) -> Iterator[None]:
        """One switch at a time, across processes (the CLI, a service's review UI, a retrain): two
        promotes at once wrote through one temporary file, one of them failed on the rename while
        its version became active, and the log named switches that never happened."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.root / SWITCH_LOCK, timeout=SWITCH_WAIT_S)
        try:
            lock.acquire()
        except Timeout:
            raise RegistryError(
                f"{self.root}: another promote or rollback has held {lock.lock_file} for {SWITCH_WAIT_S} s; "
                "try again once it has finished"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def _switch(self, version: str, reason: str, event: str) -> None:
        """Write ACTIVE and log the switch; the caller holds the switch lock."""
        self.servable(version)  # refuse anything that is not a complete, readable model
        previous = self.active()
        tmp = self.root / f".{ACTIVE_POINTER}.tmp"
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(version + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.root / ACTIVE_POINTER)
        _fsync_dir(self.root)
        self._log({"event": event, "version": version, "previous": previous, "reason": reason})

    def _rollback_candidates(self, current: str) -> list[str]:
        """Versions by their last activation in the log, newest first, less ``current`` and those
        rolled back from after their last activation."""
        last_active: dict[str, int] = {}
        rolled_back_from: dict[str, int] = {}
        for index, entry in enumerate(self.history()):
            if entry.get("event") not in ("promote", "rollback") or not isinstance(entry.get("version"), str):
                continue
            last_active[entry["version"]] = index
            if entry["event"] == "rollback" and isinstance(entry.get("previous"), str):
                rolled_back_from[entry["previous"]] = index
        if current not in last_active:  # ACTIVE written by hand: the log cannot say what came before it
            raise RegistryError(
                f"{self.root}: ACTIVE names {current!r}, which {self.log_file.name} never made active; "
                "promote a version by name"
            )
        ordered = sorted(last_active, key=last_active.__getitem__, reverse=True)
        return [
            v for v in ordered if last_active[v] < last_active[current] and rolled_back_from.get(v, -1) < last_active[v]
        ]

    def _unservable(self, version: str) -> bool:
        """A version in the log that is no longer a complete model here (removed, or a path
        logged before names were checked): rollback passes over it."""
        try:
            self.servable(version)
        except RegistryError:
            return True
        return False

    def record(self, entry: dict[str, Any]) -> None:
        """Log an event that is not a switch (a rejected candidate), so the history is complete."""
        self._log(entry)

    def history(self) -> list[dict[str, Any]]:
        """The log's records, oldest first; a line that is not a JSON object is a RegistryError
        naming the file and line (a hand edit or a torn write), never a guess at what it said."""
        if not self.log_file.is_file():
            return []
        entries = []
        for number, line in enumerate(self.log_file.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                entries.append(_log_record(line, self.log_file, number))
        return entries

    def summaries(self) -> list[VersionSummary]:
        """Every version's summary; a version that is incomplete or whose facts cannot be read is
        listed with its problem, so one bad directory does not hide the good ones."""
        active = self.active()
        return [self._summary_or_problem(name, active) for name in self.version_names()]

    def summary(self, version: str, active: str | None = None) -> VersionSummary:
        path = self.path(version)
        training = _side_file(path / TRAINING_FACTS)
        metrics = _side_file(path / "metrics.json").get("model", {})
        comparison = _side_file(path / "reports" / "comparison" / "report.json")
        return VersionSummary(
            version=version,
            path=path,
            active=version == (active if active is not None else self.active()),
            created_at=_created_at(path),
            training_records=(training.get("data") or {}).get("records"),
            validation={k: metrics.get(k) for k in ("needs_macro_f1", "cause_macro_f1")},
            held_out=comparison or None,
        )

    def _summary_or_problem(self, version: str, active: str | None) -> VersionSummary:
        try:
            return self.summary(version, active)
        except RegistryError as exc:
            path = self.versions / version  # listed as found, whatever its name: one odd directory hides nothing
            missing = _missing(path)
            problem = f"incomplete: no {', '.join(missing)} (cannot be served or promoted)" if missing else str(exc)
            return VersionSummary(
                version=version,
                path=path,
                active=version == active,
                created_at=_created_at(path),
                training_records=None,
                validation={"needs_macro_f1": None, "cause_macro_f1": None},
                held_out=None,
                problem=problem,
            )

    def _log(self, entry: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds"), **entry}, ensure_ascii=False)
        with self.log_file.open("a", encoding="utf-8") as handle:
            handle.write(("\n" if _ends_mid_line(self.log_file) else "") + line + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (POSIX: the directory entry must be synced too)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _missing(model_dir: Path) -> list[str]:
    return [name for name in ("config.json", WEIGHTS_FILE) if not (model_dir / name).is_file()]


def _unreadable(model_dir: Path) -> str | None:
    """Why a version's config or weights do not read back (a truncated copy, a damaged disk), or
    None. Promoting such a version used to succeed, and a service started on it then never had a
    model to serve. Opening the weights checks their header against the file's size without
    reading the tensors; a machine out of memory is not a damaged model."""
    try:
        NeedlensConfig.from_pretrained(model_dir)
        with safe_open(str(model_dir / WEIGHTS_FILE), "pt") as weights:
            weights.keys()
    except MemoryError:
        raise
    except Exception as exc:
        return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:200]}"
    return None


def _plain_name(version: str, versions: Path) -> str:
    """``version`` if it is a bare directory name: a path (absolute, with a separator, or ``..``)
    could make ACTIVE name a model outside the registry."""
    if not version or version in (".", "..") or any(c in version for c in ("/", "\\", "\0")):
        raise RegistryError(
            f"{version[:200]!r} is not a version name: name a version in {versions} "
            "(`needlens models list`), not a path"
        )
    return version


def _log_record(line: str, log_file: Path, number: int) -> dict[str, Any]:
    """One registry.jsonl line as its record, or a RegistryError saying where the log is broken."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{log_file}, line {number}: not a JSON record ({exc.msg}); fix or remove it") from None
    if not isinstance(record, dict):
        raise RegistryError(f"{log_file}, line {number}: not a JSON object; fix or remove it")
    return record


def _side_file(path: Path) -> dict[str, Any]:
    """A version's JSON side file (training.json, metrics.json, its comparison report), {} if
    absent; unreadable, it is a RegistryError naming the file."""
    try:
        facts = read_json_file(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise RegistryError(f"{path.name} unreadable ({detail}): {path}") from None
    if not isinstance(facts, dict):
        raise RegistryError(f"{path.name} unreadable (not a JSON object): {path}")
    return facts


def _created_at(path: Path) -> str:
    """When the version's config.json was written (its directory's own time moves with edits)."""
    try:
        mtime = (path / "config.json").stat().st_mtime
    except OSError:
        return ""
    return datetime.fromtimestamp(mtime, UTC).isoformat(timespec="seconds")


def _ends_mid_line(path: Path) -> bool:
    """Whether a torn write left the log's last line without its newline: the next record must
    not be glued onto it."""
    try:
        with path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) != b"\n"
    except OSError:  # absent or empty
        return False
