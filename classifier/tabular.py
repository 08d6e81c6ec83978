"""Streaming reads and writes of feedback tables: CSV, TSV, JSONL, XLSX and Parquet.

Readers yield one row at a time (a huge file is never loaded whole); a row that cannot be
parsed becomes a row with a ``_problem`` instead of stopping the job.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, Literal

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx", ".parquet": "parquet"}
PROBLEM = "_problem"
"""Key set on a row the reader could not parse; the row is kept so numbering stays true."""

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class TableError(ValueError):
    """A file that cannot be read or written at all (the one-line reason names it)."""


def table_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise TableError(
            f"{path}: unsupported file type {path.suffix or '(none)'}; use one of {', '.join(sorted(FORMATS))}"
        )
    return fmt


def _open_text(path: Path):  # type: ignore[no-untyped-def]
    try:
        return path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise TableError(f"{path}: cannot open ({exc.strerror})") from None


def read_columns(path: Path) -> list[str]:
    """Column names, read from the header (or the first JSON object) only."""
    fmt = table_format(path)
    try:
        if fmt in ("csv", "tsv"):
            with _open_text(path) as handle:
                return next(csv.reader(handle, delimiter="\t" if fmt == "tsv" else ","), [])
        if fmt == "jsonl":
            with _open_text(path) as handle:
                for line in handle:
                    if line.strip():
                        first = json.loads(line)
                        return list(first) if isinstance(first, dict) else []
            return []
        if fmt == "xlsx":
            workbook = _open_xlsx(path)
            header = next(workbook.active.iter_rows(max_row=1, values_only=True), ())
            workbook.close()
            return [str(c) for c in header if c is not None]
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    except TableError:
        raise
    except UnicodeDecodeError:
        raise TableError(f"{path}: not UTF-8 text") from None
    except Exception as exc:  # a corrupt file of any format: one clear line, not a traceback
        raise TableError(f"{path}: unreadable {fmt} file ({type(exc).__name__}: {exc})") from None


def require_columns(path: Path, wanted: dict[str, str]) -> None:
    """Fail with one line naming the file and the missing column; ``wanted`` maps role to column name."""
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    columns = read_columns(path)
    for role, name in wanted.items():
        if name not in columns:
            raise TableError(f"{path}: no {role} column {name!r} (columns: {', '.join(columns) or 'none'})")


def _open_xlsx(path: Path):  # type: ignore[no-untyped-def]
    from openpyxl import load_workbook

    return load_workbook(path, read_only=True, data_only=True)


def count_rows(path: Path) -> int:
    """Data rows (header excluded), for the progress bar's ETA; one fast pass, no parsing of texts."""
    fmt = table_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    return sum(1 for _ in iter_rows(path))


def iter_rows(path: Path, skip: int = 0) -> Iterator[dict[str, Any]]:
    """Data rows as dicts, in file order, after skipping the first ``skip`` of them."""
    fmt = table_format(path)
    rows = {"csv": _csv_rows, "tsv": _csv_rows, "jsonl": _jsonl_rows, "xlsx": _xlsx_rows, "parquet": _parquet_rows}[fmt]
    try:
        yield from islice(rows(path, fmt), skip, None)
    except UnicodeDecodeError:
        raise TableError(f"{path}: not UTF-8 text") from None


def _csv_rows(path: Path, fmt: str) -> Iterator[dict[str, Any]]:
    with _open_text(path) as handle:
        reader = csv.reader(handle, delimiter="\t" if fmt == "tsv" else ",")
        header = next(reader, None)
        if header is None:
            return
        for values in reader:
            row: dict[str, Any] = dict(zip(header, values, strict=False))
            if len(values) > len(header):  # keep the leading fields (the id) so the error row is traceable
                row[PROBLEM] = f"row has {len(values)} fields, the header has {len(header)}"
            yield row


def _jsonl_rows(path: Path, fmt: str) -> Iterator[dict[str, Any]]:
    with _open_text(path) as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield {PROBLEM: f"not valid JSON ({exc.msg})"}
                continue
            yield value if isinstance(value, dict) else {PROBLEM: f"expected a JSON object, got {type(value).__name__}"}


def _xlsx_rows(path: Path, fmt: str) -> Iterator[dict[str, Any]]:
    workbook = _open_xlsx(path)
    try:
        rows = workbook.active.iter_rows(values_only=True)
        header = [str(c) if c is not None else "" for c in next(rows, ())]
        for values in rows:
            if all(v is None for v in values):
                continue
            yield dict(zip(header, values, strict=False))
    finally:
        workbook.close()


def _parquet_rows(path: Path, fmt: str) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
        yield from batch.to_pylist()


ColumnType = Literal["string", "float", "int", "bool", "list", "json"]


def write_table(rows: Iterable[dict[str, Any]], path: Path, columns: dict[str, ColumnType]) -> None:
    """Stream rows into ``path`` in its format. Flat formats (CSV, TSV, XLSX) get lists as ``a|b``
    and nested values as JSON text; JSONL keeps both nested; Parquet has list columns and JSON text."""
    fmt = table_format(path)

    def cell(kind: ColumnType, value: Any) -> Any:
        if value is None:
            return None
        if kind == "list":
            return "|".join(value)
        if kind == "json":
            return json.dumps(value, ensure_ascii=False)
        return value

    def flat(row: dict[str, Any]) -> list[Any]:
        return [cell(kind, row.get(c)) for c, kind in columns.items()]

    if fmt in ("csv", "tsv"):
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t" if fmt == "tsv" else ",")
            writer.writerow(list(columns))
            writer.writerows(flat(row) for row in rows)
    elif fmt == "jsonl":
        with path.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps({c: row.get(c) for c in columns}, ensure_ascii=False) + "\n")
    elif fmt == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet()
        sheet.append(list(columns))
        for row in rows:
            sheet.append(flat(row))
        workbook.save(path)
    else:
        _write_parquet(rows, path, columns)


def _write_parquet(
    rows: Iterable[dict[str, Any]], path: Path, columns: dict[str, ColumnType], batch: int = 4096
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = {
        "string": pa.string(),
        "float": pa.float64(),
        "int": pa.int64(),
        "bool": pa.bool_(),
        "list": pa.list_(pa.string()),
        "json": pa.string(),
    }
    schema = pa.schema([(c, arrow[kind]) for c, kind in columns.items()])

    def value(kind: ColumnType, v: Any) -> Any:
        return json.dumps(v, ensure_ascii=False) if kind == "json" and v is not None else v

    iterator = iter(rows)
    with pq.ParquetWriter(path, schema) as writer:
        while chunk := list(islice(iterator, batch)):
            records = [{c: value(kind, r.get(c)) for c, kind in columns.items()} for r in chunk]
            writer.write_table(pa.Table.from_pylist(records, schema=schema))
