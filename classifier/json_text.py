"""JSON read strictly: an object that names a key twice is an error, not its last value.

Python's ``json`` keeps the last of two equal keys without a word, while a proxy, a validator or
a spreadsheet export in front of needlens may read the first, so the two would disagree about the
text or the label that was sent (``{"text": "好", "text": "差"}``). The API, the files `label`
reads and the labeled data `train` reads all parse through here.
"""

from __future__ import annotations

import json
import sys
from typing import Any


class DuplicateKeyError(ValueError):
    """An object names ``key`` twice (``shown``: the key as it can be printed, a lone surrogate escaped)."""

    def __init__(self, key: str) -> None:
        self.shown = key[:100].encode("utf-8", "backslashreplace").decode("utf-8")
        super().__init__(f'the key "{self.shown}" appears twice in one object')


class UnusableJsonError(ValueError):
    """Valid JSON that Python cannot hold: a number of over 4,300 digits (the interpreter's guard
    against slow conversions) or nesting deeper than its stack."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise DuplicateKeyError(key)
        seen.add(key)
    return dict(pairs)


def loads(text: str) -> Any:
    """``json.loads``, raising ``DuplicateKeyError`` for a key named twice in one object and
    ``UnusableJsonError`` for what Python cannot hold (its own errors name ``sys`` settings)."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except (json.JSONDecodeError, DuplicateKeyError):
        raise
    except ValueError as exc:
        raise UnusableJsonError(f"a number has more than {sys.get_int_max_str_digits():,} digits") from exc
    except RecursionError as exc:
        raise UnusableJsonError("arrays or objects nested too deeply to read") from exc
