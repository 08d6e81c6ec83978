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
    """``path`` is a folder, or one can be made there; nothing is created."""
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{path} is a file, not a folder")
    absolute = path.absolute()
    nearest = next(folder for folder in [absolute, *absolute.parents] if folder.exists())
    if not nearest.is_dir() or not os.access(nearest, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot make or write {path} (nothing can be written in {nearest})")


def check_replaceable_folder(path: Path, is_replaceable: Callable[[Path], bool], what: str) -> None:
    """``path`` may be swapped whole for a freshly written ``what``: it is new, empty, or already
    such a folder (retraining into ``models/default`` is the normal case). A folder holding
    anything else is refused, since the swap would delete it."""
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{path} is a file, not a folder to write {what} in")
    check_writable_folder(path.absolute().parent)
    if not path.is_dir() or is_replaceable(path):
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
