"""Checks on where a command will write, made before the work that fills it.

Training runs for minutes and evaluation scores thousands of texts; a destination that is a
file, cannot be made, or holds someone's unrelated files must be refused first, in one line,
not after the work or by deleting what was there.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from itertools import islice
from pathlib import Path

from classifier.errors import OutputPathError

SHOWN_ENTRIES = 5


def check_writable_folder(path: Path) -> None:
    """``path`` is a folder, or one can be made there; nothing is created. ``os.path`` rather than
    ``Path.exists``, which raises instead of answering under a folder that cannot be searched."""
    if os.path.lexists(path) and not os.path.isdir(path):
        raise OutputPathError(f"{path} is {_kind(path)}, not a folder")
    absolute = Path(os.path.abspath(path))
    nearest = next(folder for folder in [absolute, *absolute.parents] if os.path.lexists(folder))
    if not os.path.isdir(nearest) or not os.access(nearest, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot make or write {path} (nothing can be written in {nearest})")


def check_replaceable_folder(path: Path, is_replaceable: Callable[[Path], bool], what: str) -> None:
    """``path`` may be swapped whole for a freshly written ``what``: it is new, empty, or already
    such a folder (retraining into ``models/default`` is the normal case; whatever else was put
    in that folder goes with it). A folder holding anything else is refused, since the swap
    would delete it; so is the current folder, which the swap would pull from under the process."""
    if os.path.lexists(path) and not os.path.isdir(path):
        raise OutputPathError(f"{path} is {_kind(path)}, not a folder to write {what} in")
    absolute = Path(os.path.abspath(path))
    if absolute == Path.cwd() or absolute in Path.cwd().parents:
        raise OutputPathError(f"{path} holds the current folder; name a new folder to write {what} in")
    check_writable_folder(absolute.parent)
    if not os.path.isdir(path) or is_replaceable(path):
        return
    try:
        entries = sorted(entry.name for entry in islice(path.iterdir(), SHOWN_ENTRIES + 1))
    except OSError as exc:
        raise OutputPathError(f"cannot read {path} ({exc.strerror or exc})") from None
    if entries:
        shown = ", ".join(entries[:SHOWN_ENTRIES]) + (", …" if len(entries) > SHOWN_ENTRIES else "")
        raise OutputPathError(
            f"{path} already holds files that are not {what} ({shown}); writing {what} there would "
            "delete them: name a new or empty folder"
        )


def write_failure(exc: BaseException, out_dir: Path, *written: Path) -> BaseException:
    """An ``OSError`` from writing ``out_dir`` (or the ``written`` staging copies of it) as one
    line naming ``out_dir``: the staging folder's name would only confuse. Any other error, a
    failed read of an input among them, is returned as it was."""
    if not isinstance(exc, OSError):
        return exc
    names = [name for name in (exc.filename, exc.filename2) if name is not None]
    inside = [Path(os.path.abspath(folder)) for folder in (out_dir, *written)]
    if names and not any(
        folder == (file := Path(os.path.abspath(name))) or folder in file.parents for name in names for folder in inside
    ):
        return exc
    return OutputPathError(f"cannot write {out_dir}: {exc.strerror or exc}")


def _kind(path: Path) -> str:
    return "a link to nothing" if os.path.islink(path) and not os.path.exists(path) else "a file"
