"""The one rule for a person's name as needlens records it (an annotator, a reviewer, an account).

A name is an identity: feedback batches, quarantine decisions and the annotators table group by
it. One that prints as nothing (a zero-width space), or holds a NUL that cuts it short in a
terminal or a CSV, would be someone of its own whom nobody can name back.
"""

from __future__ import annotations

import re

from classifier.labels import VISIBLE_CHARACTER

_CONTROLS = r"\x00-\x1f\x7f-\x9f"
CONTROL_CHARACTER = re.compile(f"[{_CONTROLS}]")

NAME_PATTERN = rf"^[^{_CONTROLS}]*{VISIBLE_CHARACTER.pattern}[^{_CONTROLS}]*$"
"""The rule as a regular expression, for an API schema: clients and the fuzzer see what passes."""


def person_name(value: str) -> str:
    """``value`` stripped (sign-in strips what is typed, so " li" would be someone other than li),
    or ``ValueError`` saying why it names nobody."""
    if control := CONTROL_CHARACTER.search(value):  # before stripping, which takes tabs and \x1f off the ends
        raise ValueError(f"has a control character (U+{ord(control.group()):04X}) at character {control.start() + 1}")
    name = value.strip()
    if not VISIBLE_CHARACTER.search(name):
        raise ValueError("blank (only white space or invisible characters): give a name")
    return name
