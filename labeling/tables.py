"""Streaming reads and writes of feedback tables: CSV, TSV, JSONL, XLSX and Parquet.

Readers yield one row at a time (a huge file is never loaded whole); a row that cannot be
read (malformed, or holding bytes its file's encoding cannot decode) becomes a row with a
``_problem`` instead of stopping the job. Writers build the file beside its target and move
it into place when complete, so a failed write never leaves a partial file behind.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from classifier import json_text
from classifier.json_text import DuplicateKeyError, UnusableJsonError
from classifier.labels import LONE_SURROGATE
from labeling.text_encoding import AUTO, Encoding, EncodingError, TextLines, resolve_encoding, undecodable_index

STAGING_SUFFIX = ".tmp"
"""The output is written beside itself under this suffix, then renamed over it whole."""

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx", ".parquet": "parquet"}
TEXT_FORMATS = {"csv", "tsv", "jsonl"}
"""Formats read as encoded text (``--encoding`` applies); XLSX and Parquet carry their own."""
XLSX_MAX_ROWS = 1_048_576
"""Rows in one Excel worksheet, header included."""
XLSX_MAX_CELL_CHARS = 32_767
"""Characters in one Excel cell."""
MAX_CSV_RESTARTS = 100
"""Broken multi-line CSV/TSV records a file may hold; each costs reading its lines again."""
MAX_JSON_DEPTH = 64
"""A JSONL row nested deeper is an error row: its values could not be kept or written safely."""
PROBLEM = "_problem"
"""Key set on a row the reader could not read; the row is kept so numbering stays true."""
_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
"""How Excel writes characters XML cannot hold (control characters, lone surrogates) in a cell."""

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class TableError(ValueError):
    """A file that cannot be read or written at all (the one-line reason names it)."""


@dataclass(frozen=True)
class RowProblem:
    """Why the reader could not read a row: a ``code`` to count by, a message naming what and where."""

    code: str
    message: str

    def __str__(self) -> str:
        return self.message


def table_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise TableError(
            f"{path}: unsupported file type {path.suffix or '(none)'}; use one of {', '.join(sorted(FORMATS))}"
        )
    return fmt


def table_encoding(path: Path, requested: str = AUTO) -> Encoding | None:
    """The text encoding to read ``path`` with (None for XLSX and Parquet, which carry their own)."""
    if table_format(path) not in TEXT_FORMATS:
        return None
    try:
        return resolve_encoding(path, requested)
    except EncodingError as exc:
        raise TableError(str(exc)) from None


class ColumnNames(list[str]):
    """A header's column names, distinct, remembering which names the header itself repeated
    (renamed ``name.2``, …), so a command can refuse to guess which of them it was meant to read."""

    repeated: frozenset[str] = frozenset()


def unique_names(header: Iterable[Any]) -> ColumnNames:
    """Header cells as distinct column names: an empty cell is ``column_N`` (N counts from 1),
    a repeated name gets ``.2``, ``.3`` so no column's values are silently dropped."""
    names = ColumnNames()
    repeated: set[str] = set()
    for i, cell in enumerate(header, start=1):
        base = "" if cell is None else str(cell)
        name, k = base or f"column_{i}", 2
        while name in names:
            repeated.add(base)
            name, k = f"{base}.{k}", k + 1
        names.append(name)
    names.repeated = frozenset(repeated)
    return names


def read_columns(path: Path, encoding: Encoding | None = None) -> list[str]:
    """Column names: the header's, or every key of a JSONL file's objects in first-seen order (one
    pass over the file); [] for an empty file."""
    fmt = table_format(path)
    try:
        if fmt in ("csv", "tsv"):
            lines = _text_lines(path, encoding)
            try:
                header = next(csv.reader(lines, delimiter=_delimiter(fmt), strict=True), [])
            except csv.Error as exc:
                raise TableError(f"{path}: the header row is not valid {fmt.upper()} ({exc})") from None
            if lines.problem():
                raise TableError(f"{path}: the header row has {lines.problem()}")
            names = unique_names(header)
        elif fmt == "jsonl":  # every readable object's keys: a field the first object lacks is still a column
            rows = _jsonl_rows(_text_lines(path, encoding))
            names = list(dict.fromkeys(key for row in rows if PROBLEM not in row for key in row))
        elif fmt == "xlsx":
            workbook = _open_xlsx(path)
            try:
                header = _xlsx_header(workbook.active.iter_rows(values_only=True))
            finally:
                workbook.close()
            names = [] if header is None else unique_names(_xlsx_value(c) for c in header)
        else:
            import pyarrow.parquet as pq

            names = list(pq.ParquetFile(path).schema_arrow.names)
    except TableError:
        raise
    except OSError as exc:
        raise TableError(f"{path}: cannot open ({exc.strerror})") from None
    except Exception as exc:  # a corrupt file of any format: one clear line, not a traceback
        raise TableError(f"{path}: unreadable {fmt} file ({type(exc).__name__}: {exc})") from None
    for name in names:
        if LONE_SURROGATE.search(name):  # lone surrogates, and the bytes surrogateescape kept
            raise TableError(f"{path}: column name {name!a} is not valid text")
    return names


def _text_lines(path: Path, encoding: Encoding | None) -> TextLines:
    resolved = encoding or table_encoding(path)
    assert resolved is not None  # a text format always has one
    return TextLines(path, resolved)


def readable_table(path: Path, wanted: dict[str, str], requested: str = AUTO) -> tuple[list[str], Encoding | None]:
    """The file's columns, once the wanted ones are among them (``wanted`` maps role to column
    name; a missing one fails with one line naming both), and the encoding its rows are read in
    (``requested``: auto or a codec name, as `--encoding` gives it)."""
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    encoding = table_encoding(path, requested)
    return check_columns(path, read_columns(path, encoding), wanted), encoding


def check_columns(path: Path, columns: list[str], wanted: dict[str, str]) -> list[str]:
    """``columns`` (already read from ``path``), once each wanted one is among them, and once: of
    two columns both named ``needs`` the first was read without a word."""
    for role, name in wanted.items():
        if name not in columns:
            raise TableError(f"{path}: no {role} column {name!r} (columns: {column_names(columns)}{_sheet_note(path)})")
        if name in getattr(columns, "repeated", ()):
            raise TableError(
                f"{path}: the header names {name!r} more than once (read as {name!r}, {name + '.2'!r}, …"
                f"{_sheet_note(path)}); which holds the {role}? rename the others"
            )
    return columns


def _sheet_note(path: Path) -> str:
    """``; worksheet 'Notes'`` for an XLSX file, "" otherwise: only the active worksheet is read,
    so a workbook whose columns sit on another sheet would otherwise look like it lacks them."""
    if table_format(path) != "xlsx":
        return ""
    try:
        workbook = _open_xlsx(path)
    except Exception:  # the error being reported matters more than this note
        return ""
    try:
        return f"; worksheet {workbook.active.title!r}"
    finally:
        workbook.close()


def column_names(columns: list[str], shown: int = 20) -> str:
    """Columns listed for an error message: the first ``shown`` and how many more, since a JSONL
    file whose lines each bring a new key can have a million of them."""
    if not columns:
        return "none"
    more = f", … and {len(columns) - shown:,} more" if len(columns) > shown else ""
    return ", ".join(columns[:shown]) + more


def _open_xlsx(path: Path):  # type: ignore[no-untyped-def]
    from openpyxl import load_workbook

    return load_workbook(path, read_only=True, data_only=True)


def count_rows(path: Path, encoding: Encoding | None = None) -> int:
    """Data rows (header excluded), for the progress bar's ETA; one fast pass, no parsing of texts."""
    fmt = table_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    return sum(1 for _ in iter_rows(path, encoding=encoding))


def iter_rows(
    path: Path, skip: int = 0, encoding: Encoding | None = None, text_column: str | None = None
) -> Iterator[dict[str, Any]]:
    """Data rows as dicts, in file order, after skipping the first ``skip`` of them.

    ``encoding`` is for CSV, TSV and JSONL; without it the file's encoding is detected. In an
    XLSX file, a number in ``text_column`` is read as text (``_xlsx_text``), as
    a CSV would give it; the other columns keep their numbers, which outputs write as numbers."""
    fmt = table_format(path)
    if fmt in TEXT_FORMATS:
        lines = _text_lines(path, encoding)
        rows = _jsonl_rows(lines) if fmt == "jsonl" else _csv_rows(lines, _delimiter(fmt))
    else:
        rows = _xlsx_rows(path, text_column) if fmt == "xlsx" else _parquet_rows(path)
    done = skip
    try:
        for row in islice(rows, skip, None):
            yield row
            done += 1
    except TableError:
        raise
    except OSError as exc:  # a disk error has a strerror; Parquet corruption is an OSError with only a message
        raise TableError(f"{path}: cannot read ({exc.strerror or ' '.join(str(exc).split())})") from None
    except Exception as exc:  # XML or Parquet corruption past the header cannot be skipped row by row
        raise TableError(f"{path}: unreadable {fmt} file after row {done} ({type(exc).__name__}: {exc})") from None


def _delimiter(fmt: str) -> str:
    return "\t" if fmt == "tsv" else ","


def _csv_rows(lines: TextLines, delimiter: str) -> Iterator[dict[str, Any]]:
    """Rows parsed strictly: a lenient parser would quietly drop a stray quote from a text, or let
    one unclosed quote swallow every row after it into one field. A record that fails to parse
    is one error row. When it ran over several lines, reading starts again on the line after its
    first, so the rows an unclosed quote swallowed are kept; the error says which lines were
    read again, since a real multi-line field followed by stray text leaves its later lines as
    rows of their own."""
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    header = next(reader, None)
    if header is None:
        return
    names = unique_names(header)
    restarts = 0
    while True:
        lines.mark()
        read_before = reader.line_num
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            spanned = reader.line_num - read_before
            if spanned <= 1:
                yield {PROBLEM: RowProblem("unparseable", f"not valid CSV ({exc})")}
                continue
            restarts += 1
            if restarts > MAX_CSV_RESTARTS:
                raise TableError(
                    f"{lines.path}: more than {MAX_CSV_RESTARTS} quoted fields run over lines and break; "
                    "the file is not quoted as CSV (RFC 4180) is"
                ) from None
            yield {
                PROBLEM: RowProblem(
                    "unparseable",
                    f"not valid CSV ({exc}) in a quoted field opened on this row's first line, which ran on over "
                    f"{spanned} lines; the next {spanned - 1} line(s) are read again as rows of their own "
                    "(check them if this row's text was meant to span them)",
                )
            }
            lines = lines.after_first_line()
            reader = csv.reader(lines, delimiter=delimiter, strict=True)
            continue
        if not values:  # a blank line is not a row (as in XLSX and JSONL)
            continue
        row: dict[str, Any] = dict(zip(names, values, strict=False))
        if bad := lines.problem():
            row[PROBLEM] = RowProblem("invalid_encoding", f"row has {bad}")
        elif len(values) > len(names):  # keep the leading fields (the id) so the error row is traceable
            row[PROBLEM] = RowProblem("unparseable", f"row has {len(values)} fields, the header has {len(names)}")
        yield row


def _jsonl_rows(lines: TextLines) -> Iterator[dict[str, Any]]:
    for line in lines:
        bad = lines.problem()
        lines.mark()
        if not line.strip():
            continue
        try:
            value = json_text.loads(line)
        except json.JSONDecodeError as exc:
            value = {PROBLEM: RowProblem("unparseable", f"not valid JSON ({exc.msg}, column {exc.colno})")}
        except DuplicateKeyError as exc:
            value = {PROBLEM: RowProblem("unparseable", str(exc))}
        except UnusableJsonError as exc:
            value = {PROBLEM: RowProblem("unparseable", f"not usable JSON: {exc}")}
        if _nested_deeper_than(value, MAX_JSON_DEPTH):
            value = {PROBLEM: RowProblem("unparseable", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")}
        if not isinstance(value, dict):
            value = {PROBLEM: RowProblem("unparseable", f"expected a JSON object, got {type(value).__name__}")}
        elif bad_key := next((key for key in value if LONE_SURROGATE.search(key)), None):
            value = {PROBLEM: RowProblem("invalid_unicode", f"key {bad_key!a} is not valid text (a lone surrogate)")}
        if bad:
            value[PROBLEM] = RowProblem("invalid_encoding", f"line has {bad}")
        yield value


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and objects nest past ``limit`` (checked without recursion, so any depth is safe)."""
    level = [value]
    for _ in range(limit + 1):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return False
    return True


def _xlsx_value(value: Any) -> Any:
    """A cell as Excel shows it: ``_x000D_``-style escapes decoded (openpyxl leaves them)."""
    if isinstance(value, str) and "_x" in value:
        return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)
    return value


def _xlsx_text(value: Any) -> Any:
    """A number in the text column as text: a review of just ``666`` or ``3.5`` is text a CSV
    would have given as such, so it is labeled, not refused as ``not_text``. Integers, and
    integral floats (``3.0`` is ``3``), are written out in full; other floats with Excel's 15
    significant digits, so ``0.1 + 0.2`` is ``0.3``. Excel's own General format would show a
    long number in exponent form (1E+16); a review of such a number is rare enough not to copy it.

    Booleans and dates are left as they are (the row becomes a ``not_text`` error): a TRUE or a
    date in the text column is a misplaced or computed cell, not feedback, and what Excel shows
    for a date depends on a number format the reader does not keep, so any text made here could
    differ from what the user sees."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if isinstance(value, int) else format(value, ".15g")


def _xlsx_blank(values: tuple[Any, ...]) -> bool:
    """A row with no value in any cell: not a row of the table (Excel shows it as nothing)."""
    return all(v is None for v in values)


def _xlsx_header(rows: Iterator[tuple[Any, ...]]) -> tuple[Any, ...] | None:
    """The first row holding a value, consumed from ``rows`` (None: the sheet has none). Excel
    exports often start with a blank row, or several, above the header; the data rows are
    those after it, numbered from 1 as in every format."""
    return next((values for values in rows if not _xlsx_blank(values)), None)


def _xlsx_rows(path: Path, text_column: str | None = None) -> Iterator[dict[str, Any]]:
    workbook = _open_xlsx(path)
    try:
        rows = workbook.active.iter_rows(values_only=True)
        header = _xlsx_header(rows)
        if header is None:
            return
        names = unique_names(_xlsx_value(c) for c in header)
        for values in rows:
            if _xlsx_blank(values):
                continue
            row = dict(zip(names, (_xlsx_value(v) for v in values), strict=False))
            if text_column in row:
                row[text_column] = _xlsx_text(row[text_column])
            yield row
    finally:
        workbook.close()


def _parquet_rows(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
        names = batch.schema.names
        columns = [_arrow_values(column) for column in batch.columns]
        for i in range(batch.num_rows):
            row: dict[str, Any] = {name: values[i] for name, (values, _) in zip(names, columns, strict=True)}
            broken = [name for name, (_, problems) in zip(names, columns, strict=True) if i in problems]
            if broken:
                row[PROBLEM] = RowProblem(
                    "invalid_encoding", f"column {broken[0]!r} holds bytes that are not valid UTF-8 text"
                )
            yield row


def _arrow_values(column: Any) -> tuple[list[Any], set[int]]:
    """A Parquet column's values, and the rows whose value is not valid UTF-8 (kept, marked)."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        raw = column.cast(pa.large_binary()).to_pylist()
        values = [None if v is None else v.decode("utf-8", "surrogateescape") for v in raw]
        return values, {i for i, v in enumerate(values) if v is not None and undecodable_index(v) is not None}
    try:
        return column.to_pylist(), set()
    except UnicodeDecodeError:  # invalid UTF-8 nested in a list or struct: lose only those values
        values, problems = [], set()
        for i in range(len(column)):
            try:
                values.append(column[i].as_py())
            except UnicodeDecodeError:
                values.append(None)
                problems.add(i)
        return values, problems


ColumnType = Literal["string", "float", "int", "bool", "list", "json", "value"]
"""How a column is written: ``list`` is ``a|b`` in flat formats; ``json`` is JSON text in flat
formats and nested in JSONL; ``value`` (an input column passed through) keeps text as text,
numbers as numbers where the format has them, and anything else as JSON text."""


def column_kinds(path: Path, columns: Iterable[str]) -> dict[str, ColumnType]:
    """How each input column is written back out: Parquet's plain scalar columns keep their
    type, CSV and TSV cells are text, XLSX and JSONL values may differ row to row."""
    fmt = table_format(path)
    if fmt in ("csv", "tsv"):
        return dict.fromkeys(columns, "string")
    if fmt in ("xlsx", "jsonl"):
        return dict.fromkeys(columns, "value")
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.ParquetFile(path).schema_arrow

    def kind(arrow_type: Any) -> ColumnType:
        if pa.types.is_boolean(arrow_type):
            return "bool"
        if pa.types.is_integer(arrow_type) and arrow_type != pa.uint64():
            return "int"
        if pa.types.is_floating(arrow_type):
            return "float"
        if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
            return "string"
        return "value"  # dates become ISO 8601 text, nested values JSON text (nested in JSONL)

    return {name: kind(schema.field(name).type) for name in columns}


def staging_path(path: Path) -> Path:
    """Where ``write_table`` writes ``path`` before renaming it over ``path`` whole."""
    return path.with_name(path.name + STAGING_SUFFIX)


def write_table(rows: Iterable[dict[str, Any]], path: Path, columns: dict[str, ColumnType]) -> list[str]:
    """Stream rows into ``path`` in its format. Flat formats (CSV, TSV, XLSX) get lists as ``a|b``
    and nested values as JSON text; JSONL keeps both nested; Parquet has list columns and JSON text.
    Returns notes on what the format could not hold as given, for the command to show."""
    fmt = table_format(path)
    staging = staging_path(path)
    try:
        notes = _WRITERS[fmt](rows, staging, columns, fmt) or []
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return [f"{path}: {note}" for note in notes]


def _cell(kind: ColumnType, value: Any, native_numbers: bool = False) -> Any:
    if value is None:
        return None
    if kind == "list":
        return "|".join(value)
    if kind == "json" or (kind == "value" and not isinstance(value, str)):
        if native_numbers and isinstance(value, int | float):
            return value
        return json.dumps(value, ensure_ascii=False)
    return value


def _write_csv(rows: Iterable[dict[str, Any]], path: Path, columns: dict[str, ColumnType], fmt: str) -> None:
    """UTF-8 with a byte-order mark: without it Excel, where analysts open these files, reads
    them in the machine's ANSI code page and shows the Chinese as mojibake. Every reader here
    and pandas' ``utf-8-sig`` skip the mark."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=_delimiter(fmt))
        writer.writerow(list(columns))
        writer.writerows([_cell(kind, row.get(c)) for c, kind in columns.items()] for row in rows)


def jsonl_line(row: dict[str, Any], columns: dict[str, ColumnType]) -> str:
    """``row`` as one line of a JSONL output (newline included): lists and nested values stay nested."""
    return json.dumps({c: row.get(c) for c in columns}, ensure_ascii=False) + "\n"


def _write_jsonl(rows: Iterable[dict[str, Any]], path: Path, columns: dict[str, ColumnType], fmt: str) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.writelines(jsonl_line(row, columns) for row in rows)


def _write_xlsx(rows: Iterable[dict[str, Any]], path: Path, columns: dict[str, ColumnType], fmt: str) -> list[str]:
    """openpyxl cuts a cell to Excel's 32,767 characters without a word: each cut is counted and
    the first named, so a long interview note is not shortened unseen."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    cut: list[tuple[int, str]] = []  # (data row, column) of each cell over the limit

    def cell(value: Any) -> Any:
        """``value`` as the worksheet stores it, text always as text. openpyxl makes a string
        starting with ``=`` a live formula and one like ``#N/A`` an error value: a customer's
        ``=HYPERLINK(…)`` would run in the analyst's Excel and read back as no text at all."""
        if not isinstance(value, str):
            return value
        # control characters cannot be stored in a worksheet: show where one was
        text = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub("\ufffd", value))
        text.data_type = "s"
        return text

    sheet.append([cell(name) for name in columns])
    for row_no, row in enumerate(rows, start=1):
        values = {c: _cell(kind, row.get(c), native_numbers=True) for c, kind in columns.items()}
        cut += [(row_no, c) for c, v in values.items() if isinstance(v, str) and len(v) > XLSX_MAX_CELL_CHARS]
        sheet.append([cell(v) for v in values.values()])
    workbook.save(path)
    if not cut:
        return []
    row_no, column = cut[0]
    return [
        f"{len(cut)} cell(s) over Excel's limit of {XLSX_MAX_CELL_CHARS:,} characters were cut to it (the first: "
        f"row {row_no}, column {column!r}); write .csv, .jsonl or .parquet to keep them whole"
    ]


def arrow_schema(columns: dict[str, ColumnType]) -> Any:
    """The ``pyarrow.Schema`` of a Parquet output: lists as string lists, JSON and passed-through values as text."""
    import pyarrow as pa

    arrow = {
        "string": pa.string(),
        "float": pa.float64(),
        "int": pa.int64(),
        "bool": pa.bool_(),
        "list": pa.list_(pa.string()),
        "json": pa.string(),
        "value": pa.string(),
    }
    return pa.schema([(c, arrow[kind]) for c, kind in columns.items()])


def arrow_table(rows: list[dict[str, Any]], columns: dict[str, ColumnType], schema: Any = None) -> Any:
    """``rows`` as the ``pyarrow.Table`` a Parquet output holds (``schema`` from ``arrow_schema``)."""
    import pyarrow as pa

    def value(kind: ColumnType, v: Any) -> Any:
        return _cell(kind, v) if kind in ("json", "value") else v

    records = [{c: value(kind, r.get(c)) for c, kind in columns.items()} for r in rows]
    return pa.Table.from_pylist(records, schema=schema or arrow_schema(columns))


def _write_parquet(
    rows: Iterable[dict[str, Any]], path: Path, columns: dict[str, ColumnType], fmt: str, batch: int = 4096
) -> None:
    import pyarrow.parquet as pq

    schema = arrow_schema(columns)
    iterator = iter(rows)
    with pq.ParquetWriter(path, schema) as writer:
        while chunk := list(islice(iterator, batch)):
            writer.write_table(arrow_table(chunk, columns, schema))


_WRITERS: dict[str, Callable[[Iterable[dict[str, Any]], Path, dict[str, ColumnType], str], list[str] | None]] = {
    "csv": _write_csv,
    "tsv": _write_csv,
    "jsonl": _write_jsonl,
    "xlsx": _write_xlsx,
    "parquet": _write_parquet,
}
