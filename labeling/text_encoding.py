"""Which encoding a CSV, TSV or JSONL file is in, and reading its lines so one bad byte costs one row.

Excel in a Chinese locale saves "CSV" as GB18030 (GBK), other tools write UTF-8 with or
without a byte-order mark, and merged exports mix them. ``resolve_encoding`` picks one for
the whole file from a sample; ``TextLines`` then decodes with ``surrogateescape``, so a byte
that is not valid in that encoding becomes a marker character the readers turn into an error
row (with its byte offset) instead of an exception that stops the file.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

from classifier.labels import UNDECODABLE_BYTE

AUTO = "auto"
SAMPLE_BYTES = 1 << 20
"""How much of the file's start ``auto`` reads to decide."""
_AUTO_CHOICES = "UTF-8 (with or without BOM) or GB18030"
_GB_FAMILY = {"gb18030", "gbk", "gb2312"}
_BIG5_FAMILY = {"big5", "big5hkscs", "cp950"}
_MIN_GUESS_BYTES = 32
"""Non-ASCII bytes below which no detector tells GB18030 from Big5: a few characters decodable as
GB18030 (what mainland Excel writes) are read as GB18030, whatever the guess."""
_SYNTAX = '\n\r,\t"{}:'


class EncodingError(ValueError):
    """A file whose encoding cannot be used (the one-line reason names the file and what to pass)."""


@dataclass(frozen=True)
class Encoding:
    name: str
    """A Python codec whose bytes for newline, comma, tab and quote are the ASCII ones."""
    bom: bool = False
    """The file starts with a UTF-8 byte-order mark, which is skipped."""
    how: str = "given"
    """Why this one: "given" (--encoding) or what ``auto`` saw."""

    def describe(self) -> str:
        return f"{self.name}{' with BOM' if self.bom else ''} ({self.how})"


def resolve_encoding(path: Path, requested: str = AUTO) -> Encoding:
    """The encoding to read ``path`` with: ``requested`` checked, or, for ``auto``, detected on a sample."""
    head = _read_head(path)
    bom = head.startswith(codecs.BOM_UTF8)
    if requested.lower() != AUTO:
        name = _usable_codec(path, requested)
        return Encoding(name, bom=bom and name == "utf-8")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise EncodingError(f"{path}: UTF-16 text is not supported; save it as UTF-8 (or GB18030) CSV")
    if bom:
        return Encoding("utf-8", bom=True, how="detected: byte-order mark")
    sample = head if len(head) < SAMPLE_BYTES else head[: head.rfind(b"\n") + 1] or head
    cut_mid_line = len(head) == SAMPLE_BYTES and sample is head  # a first line longer than the sample
    if _mostly_utf8(sample, cut_mid_line):
        return Encoding("utf-8", how="detected")
    guess = from_bytes(sample).best()
    guessed = guess.encoding if guess is not None else None
    trust_big5 = guessed in _BIG5_FAMILY and len(sample.translate(None, bytes(range(128)))) >= _MIN_GUESS_BYTES
    if guessed in _GB_FAMILY or (not trust_big5 and _decodes(sample, "gb18030", cut_mid_line)):
        aside = "" if guessed in _GB_FAMILY else f"; charset-normalizer guessed {guessed or 'nothing'}"
        return Encoding("gb18030", how=f"detected{aside}")
    advice = (
        f"it looks like {guessed}: pass --encoding {guessed} (or another Python codec name)"
        if guessed is not None
        else "pass --encoding with its Python codec name (gb18030 for GBK with a few bad bytes)"
    )
    raise EncodingError(
        f"{path}: not {_AUTO_CHOICES} text; {advice}, "
        "or --encoding utf-8 to label it anyway with undecodable rows as error rows"
    )


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(SAMPLE_BYTES)
    except OSError as exc:
        raise EncodingError(f"{path}: cannot open ({exc.strerror})") from None


def _usable_codec(path: Path, requested: str) -> str:
    try:
        name = codecs.lookup(requested).name
    except LookupError:
        raise EncodingError(
            f"unknown encoding {requested!r}; use auto, utf-8, gb18030 or another Python codec name"
        ) from None
    name = "utf-8" if name == "utf-8-sig" else name
    try:
        ascii_compatible = _SYNTAX.encode(name) == _SYNTAX.encode("ascii")
    except (UnicodeError, LookupError):
        ascii_compatible = False
    if not ascii_compatible:  # UTF-16/32: a line is not a run of bytes ending in b"\n"
        raise EncodingError(f"{path}: encoding {requested!r} is not supported for tables; save the file as UTF-8")
    return name


def _mostly_utf8(sample: bytes, cut_mid_line: bool = False) -> bool:
    """UTF-8 unless most lines holding non-ASCII bytes fail to decode as UTF-8: a few bad
    lines in a UTF-8 file are error rows, not a reason to read every row wrongly.
    ``cut_mid_line``: the sample ends inside its last line, maybe inside a character."""
    non_ascii = failing = 0
    lines = sample.splitlines()
    for i, line in enumerate(lines):
        if line.isascii():
            continue
        non_ascii += 1
        failing += not _decodes(line, "utf-8", cut_mid_line and i == len(lines) - 1)
    return failing * 2 < non_ascii or non_ascii == 0


def _decodes(data: bytes, name: str, cut: bool = False) -> bool:
    """Whether ``data`` is text in ``name``; ``cut``: it may end partway through a character."""
    try:
        codecs.getincrementaldecoder(name)().decode(data, final=not cut)
    except UnicodeDecodeError:
        return False
    return True


def undecodable_index(text: str) -> int | None:
    """Where the first byte the decoder could not read sits in ``text``, or None."""
    found = UNDECODABLE_BYTE.search(text)
    return found.start() if found else None


class TextLines:
    """A text file's lines, decoded one at a time, that remember where in bytes the first
    undecodable byte since ``mark()`` was. Newlines are kept (as ``csv`` wants them) and
    ``\\r``-only line ends (old Mac Excel) still split lines."""

    def __init__(self, path: Path, encoding: Encoding, start: int = 0) -> None:
        self.path = path
        self.encoding = encoding
        self.start = start
        """Byte offset of a line start to read from (0: the file's start, after any BOM)."""
        self.offset = start
        self.bad_offset: int | None = None
        self.first_line_end: int | None = None
        """Where the first line read since ``mark()`` ends: a reader that must drop a broken
        multi-line record restarts there (``after_first_line``), losing one line, not the rest."""

    def mark(self) -> None:
        """Start a new record: forget the bad byte and the first line of the previous one."""
        self.bad_offset = None
        self.first_line_end = None

    def after_first_line(self) -> TextLines:
        """The same file's lines from the one after the current record's first line."""
        assert self.first_line_end is not None, "no line read since mark()"
        return TextLines(self.path, self.encoding, start=self.first_line_end)

    def __iter__(self) -> Iterator[str]:
        with self.path.open("rb") as raw:
            if self.start:
                raw.seek(self.start)
            elif self.encoding.bom:
                self.offset = len(raw.read(len(codecs.BOM_UTF8)))
            text = io.TextIOWrapper(raw, encoding=self.encoding.name, errors="surrogateescape", newline="")
            for line in text:
                bad = undecodable_index(line)
                size = len(line.encode(self.encoding.name, "surrogateescape"))
                if bad is not None and self.bad_offset is None:
                    self.bad_offset = self.offset + len(line[:bad].encode(self.encoding.name, "surrogateescape"))
                self.offset += size
                if self.first_line_end is None:
                    self.first_line_end = self.offset
                yield line

    def problem(self) -> str | None:
        """The message for a record that held an undecodable byte, or None."""
        if self.bad_offset is None:
            return None
        hint = "; if the whole file is GB18030, pass --encoding gb18030" if self.encoding.name == "utf-8" else ""
        return f"bytes that are not valid {self.encoding.name} at byte {self.bad_offset}{hint}"
