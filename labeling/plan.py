"""Everything `needlens label` can check before it labels a row, checked before the model loads.

A job that would fail at its end (an output type nobody can write, a folder that cannot be
written, more rows than an Excel sheet holds) fails at its start instead, in one line,
having done no work and written nothing.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifier.labels import CAUSES, NEEDS
from labeling.passthrough import KeptColumns, keep_columns
from labeling.tables import (
    XLSX_MAX_ROWS,
    ColumnType,
    TableError,
    check_columns,
    column_kinds,
    count_rows,
    readable_table,
    staging_path,
    table_format,
)
from labeling.text_encoding import AUTO, Encoding

LEAD_COLUMNS: dict[str, ColumnType] = {"row": "int", "id": "string"}
"""First in every output row: the data row number (header excluded) and the row's id."""
LABEL_COLUMNS: dict[str, ColumnType] = {
    "needs": "list",
    "cause": "string",
    **{f"p_{label}": "float" for label in (*NEEDS, *CAUSES)},
    "truncated": "bool",
    "needs_review": "list",
    "segments": "json",
    "evidence": "json",
    "model_version": "string",
    "error_code": "string",
    "error": "string",
}
"""Last in every output row, after the kept input columns."""


@dataclass(frozen=True)
class LabelPlan:
    """A label job whose input, output and options have all been checked."""

    source: Path
    output: Path
    text_column: str
    id_column: str
    encoding: Encoding | None
    """How the input's text is decoded (None for XLSX and Parquet)."""
    kept: KeptColumns
    total_rows: int
    input_columns: tuple[str, ...]
    """Every column of the input, as checked (for JSONL read with a pass over the file, so kept)."""

    @property
    def output_columns(self) -> dict[str, ColumnType]:
        return {**LEAD_COLUMNS, **self.kept.kinds, **LABEL_COLUMNS}

    def identity(self) -> dict[str, Any]:
        """What makes a rerun the same job, whose unfinished journal it may continue (model aside)."""
        return {
            "input": str(self.source.resolve()),
            "signature": file_signature(self.source),
            "text_column": self.text_column,
            "id_column": self.id_column,
            "encoding": self.encoding and [self.encoding.name, self.encoding.bom],
            "columns": self.kept.names,
        }

    def notes(self) -> list[str]:
        """What the user should know before the job runs."""
        notes = []
        if self.encoding is not None:
            notes.append(f"reading {self.source.name} as {self.encoding.describe()}; --encoding overrides")
        notes.extend(renamed_columns_note(self.kept))
        return notes


def renamed_columns_note(kept: KeptColumns) -> list[str]:
    """What a user must be told when a kept input column had to give its name to a label column,
    or had none to give (a JSONL key "")."""
    if not kept.renamed:
        return []
    pairs = ", ".join(f"{source or '(empty name)'} → {out}" for source, out in kept.renamed.items())
    return [f"input columns renamed in the output (a name a label column uses, or an empty one): {pairs}"]


def plan_label_job(
    source: Path,
    output: Path,
    text_column: str = "text",
    id_column: str = "id",
    columns: list[str] | None = None,
    encoding: str = AUTO,
) -> LabelPlan:
    """Check the job and describe it; ``columns`` names the input columns to keep (None: all)."""
    if source.is_dir():
        raise TableError(f"{source}: is a folder; name the file to label")
    if not source.is_file():
        raise TableError(f"{source}: no such file")
    table_format(source)
    output_format = check_output(output, {"the input": source})
    text_encoding, available = check_input(source, text_column, id_column, encoding)
    kept = kept_input_columns(available, columns, column_kinds(source, available), id_column)
    total = count_rows(source, text_encoding)
    if output_format == "xlsx" and total + 1 > XLSX_MAX_ROWS:
        raise TableError(
            f"{output}: {total} rows do not fit in an Excel sheet ({XLSX_MAX_ROWS - 1} at most); write .csv or .parquet"
        )
    return LabelPlan(source, output, text_column, id_column, text_encoding, kept, total, tuple(available))


def check_input(
    source: Path, text_column: str = "text", id_column: str = "id", encoding: str = AUTO
) -> tuple[Encoding | None, list[str]]:
    """How ``source`` is decoded (None for XLSX and Parquet) and its columns, once it is known
    to be readable and to hold the text column and the id column (``id_column`` "": none, the
    ``row`` number tells rows apart)."""
    available, text_encoding = readable_table(source, {}, encoding)
    if not any(name.strip() for name in available):
        why = {
            "jsonl": "an empty file, or no line is a JSON object",
            "xlsx": "the worksheet read, the active one, is empty",
        }
        raise TableError(f"{source}: no header and no rows ({why.get(table_format(source), 'an empty file')})")
    check_columns(source, available, {"text": text_column})
    try:
        check_columns(source, available, {"id": id_column} if id_column else {})
    except TableError as exc:
        raise TableError(
            f"{exc}; name it with --id-column, or pass --id-column '' to tell rows apart by their row number alone"
        ) from None
    return text_encoding, available


def kept_input_columns(
    available: list[str],
    wanted: list[str] | None,
    kinds: dict[str, ColumnType],
    id_column: str,
    lead: dict[str, ColumnType] = LEAD_COLUMNS,
) -> KeptColumns:
    """The input columns an output keeps beside ``lead`` and the label columns (``wanted``, or all)."""
    return keep_columns(
        available,
        wanted,
        kinds,
        reserved=[*lead, *LABEL_COLUMNS],
        skip=[id_column] if id_column == "id" else [],  # the output's own id column carries it
    )


def check_output(output: Path, protected: Mapping[str, Path]) -> str:
    """Refuse, before any work, an output that is a folder, has no table format, cannot be
    written, or would replace one of the ``protected`` files a command reads (its input, the
    label store): as itself, or as the staging file written first and renamed over it (SQLite's
    -wal and -shm files have no table format to be written as). Returns the output's format."""
    if output.is_dir():
        raise TableError(f"{output}: is a folder; name the file to write, e.g. {output / 'labeled.csv'}")
    output_format = table_format(output)
    written = {output.resolve(), staging_path(output).resolve()}  # the table is written beside itself first
    for what, path in protected.items():
        if path.resolve() in written:
            raise TableError(f"{output}: writing it would overwrite {what} ({path})")
    check_writable(output.parent)
    return output_format


def check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:  # "File exists" alone did not say that a file stands where a folder must
        in_the_way = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), None)
        reason = f"{in_the_way} is a file, not a folder" if in_the_way else exc.strerror
        raise TableError(f"{folder}: cannot write the output there ({reason})") from None


def file_signature(path: Path) -> str:
    """Cheap identity of an input file: size plus hashes of its head and tail."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 16))
        handle.seek(max(0, size - (1 << 16)))
        digest.update(handle.read())
    return digest.hexdigest()
