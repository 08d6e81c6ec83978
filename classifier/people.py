"""The one rule for a person's name as needlens records it (an annotator, a reviewer, an account).

A name is an identity: feedback batches, quarantine decisions and the annotators table group by
it. One that prints as nothing (a zero-width space), or holds a NUL that cuts it short in a
terminal or a CSV, would be someone of its own whom nobody can name back.
"""

from __future__ import annotations

import re

from classifier.labels import VISIBLE_CHARACTER

_HIDDEN = r"\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff0-\uffff"
HIDDEN_CHARACTER = re.compile(f"[{_HIDDEN}]")
"""Control characters, and those that print as nothing (zero-width, direction marks): "\u200bli"
would be a second li that looks like the first."""

NAME_PATTERN = rf"^[^{_HIDDEN}]*{VISIBLE_CHARACTER.pattern}[^{_HIDDEN}]*$"
"""The rule as a regular expression, for an API schema: clients and the fuzzer see what passes."""


def person_name(value: str) -> str:
    """``value`` stripped (sign-in strips what is typed, so " li" would be someone other than li),
    or ``ValueError`` saying why it names nobody."""
    if hidden := HIDDEN_CHARACTER.search(value):  # before stripping, which takes tabs and \x1f off the ends
        raise ValueError(
            f"has an invisible or control character (U+{ord(hidden.group()):04X}) at character {hidden.start() + 1}"
        )
    name = value.strip()
    if not VISIBLE_CHARACTER.search(name):
        raise ValueError("blank: give a name")
    return name
