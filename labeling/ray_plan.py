"""Everything `needlens label --engine ray` can check before Ray starts, checked on the driver.

INPUT is one file, a folder (its table files, in subfolders too), a glob (``*``, ``?``,
``**/``), or any of these as a URI that pyarrow's filesystems open (``s3://``, ``gs://``,
``hdfs://``, ``file://``). Every file gets the local engine's checks of its one input
(``labeling.plan.check_input``: type, encoding, text and id columns), so a missing
column in the thousandth file fails the job before its first row, in one line. The driver
reads little per file: a local file's header, or for a file behind a URI a local copy of
its first MB (text formats) or of its schema (Parquet).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import pyarrow.fs as pafs

from labeling.passthrough import KeptColumns
from labeling.plan import (
    LABEL_COLUMNS,
    LEAD_COLUMNS,
    check_input,
    check_writable,
    file_signature,
    kept_input_columns,
    renamed_columns_note,
)
from labeling.tables import FORMATS, ColumnType, TableError, column_kinds, table_format
from labeling.text_encoding import AUTO, SAMPLE_BYTES, Encoding

SHARD_FORMATS = (".parquet", ".jsonl")
MANIFEST = "_manifest.json"
"""Written last into the output folder: a folder without it holds an unfinished run."""
FILE_COLUMN: dict[str, ColumnType] = {"file": "string"}
"""First in every output row when INPUT is a folder or a glob: the file the row came from."""
_GLOB = re.compile(r"[*?]")
_RUN_FILE = re.compile(r"(?:part-\d{5,}\.(?:parquet|jsonl)|" + re.escape(MANIFEST) + ")")
"""What a run writes into its output folder, and all that ``--restart`` may delete there."""


@dataclass(frozen=True)
class InputFile:
    """One input file, as the read tasks open it."""

    filesystem: Any
    """A ``pyarrow.fs.FileSystem`` (picklable, so read tasks on other machines get it)."""
    path: str
    """The file within ``filesystem``."""
    name: str
    """Absolute path or URI: what the ``file`` column and the manifest say."""
    encoding: Encoding | None
    signature: str
    """Size and content hashes of a local file, size and modification time of a remote one."""


@dataclass(frozen=True)
class RayPlan:
    """A Ray label job whose inputs, output and options have all been checked."""

    input: str
    files: tuple[InputFile, ...]
    output: str
    output_filesystem: Any
    output_path: str
    text_column: str
    id_column: str
    kept: KeptColumns
    many: bool
    """INPUT named a folder or a glob: the output says which file each row came from."""
    skipped: int
    """Files in the folder or glob left alone: other types, empty, hidden, Office lock files."""

    @property
    def shard_format(self) -> str:
        return PurePosixPath(self.output_path).suffix.lower()

    @property
    def output_columns(self) -> dict[str, ColumnType]:
        return {**(FILE_COLUMN if self.many else {}), **LEAD_COLUMNS, **self.kept.kinds, **LABEL_COLUMNS}

    def fingerprint(self) -> str:
        """One hash over every input file's name and signature: the same inputs give the same value."""
        digest = hashlib.sha256()
        for source in self.files:
            digest.update(f"{source.name}\0{source.signature}\n".encode())
        return digest.hexdigest()

    def notes(self) -> list[str]:
        """What the user should know before the job runs."""
        notes = []
        read_as: dict[str, int] = {}
        for source in self.files:
            if source.encoding is not None:
                read_as[source.encoding.describe()] = read_as.get(source.encoding.describe(), 0) + 1
        if read_as:
            listed = ", ".join(f"{n} file(s) as {how}" if len(self.files) > 1 else how for how, n in read_as.items())
            notes.append(f"reading {listed}; --encoding overrides")
        notes.extend(renamed_columns_note(self.kept))
        if self.skipped:
            notes.append(
                f"not reading {self.skipped} other file(s) in {self.input} "
                "(not a table type, empty, hidden, or an Office lock file ~$…)"
            )
        return notes


def plan_ray_job(
    input: str,
    output: str,
    text_column: str = "text",
    id_column: str = "id",
    columns: list[str] | None = None,
    encoding: str = AUTO,
    restart: bool = False,
) -> RayPlan:
    """Check the job and describe it; ``columns`` names the input columns to keep (None: all).
    ``restart`` lets an output folder that holds an earlier run be replaced (by the engine)."""
    output_fs, output_path = filesystem(output)
    check_output(output, output_fs, output_path, restart)
    input_fs, input_path = filesystem(input)
    many, paths, skipped = _expand(input, input_fs, input_path, output_path)
    files: list[InputFile] = []
    available: list[str] = []
    kinds: dict[str, ColumnType] = {}
    for path in paths:
        source, found, found_kinds = _check_file(input_fs, path, _name(input, path), text_column, id_column, encoding)
        files.append(source)
        for column in found:
            if column not in kinds:
                available.append(column)
                kinds[column] = found_kinds[column]
            elif kinds[column] != found_kinds[column]:
                kinds[column] = "value"  # typed differently in different files: kept as each file has it
    lead = {**(FILE_COLUMN if many else {}), **LEAD_COLUMNS}
    kept = kept_input_columns(available, columns, kinds, id_column, lead)
    if isinstance(output_fs, pafs.LocalFileSystem):
        check_writable(Path(output_path))
    return RayPlan(input, tuple(files), output, output_fs, output_path, text_column, id_column, kept, many, skipped)


def filesystem(spec: str) -> tuple[Any, str]:
    """The pyarrow filesystem behind a path or URI, and the path within it."""
    if "://" not in spec:
        return pafs.LocalFileSystem(), str(Path(spec).expanduser().absolute())
    try:
        return pafs.FileSystem.from_uri(spec)
    except Exception as exc:  # an unknown scheme, a bucket that cannot be reached
        raise TableError(f"{spec}: cannot open ({type(exc).__name__}: {exc})") from None


def _name(spec: str, path: str) -> str:
    """``path`` as the user names it: an absolute local path, or a URI with its scheme."""
    if "://" not in spec:
        return path
    parsed = urlparse(spec)
    if parsed.scheme == "file":
        return path
    host = "" if path.startswith(parsed.netloc) else parsed.netloc  # s3://bucket/key: the path holds the bucket
    return f"{parsed.scheme}://{host}{path}"


def check_output(output: str, fs: Any, path: str, restart: bool) -> None:
    """The output folder must be new, empty, or hold an earlier run and nothing else: ``--restart``
    deletes a run's shards and manifest, and a folder holding anything more (a user's files, this
    job's own input) is refused even then, since emptying it lost them."""
    if PurePosixPath(path).suffix.lower() not in SHARD_FORMATS:
        raise TableError(
            f"{output}: the ray engine writes a folder of Parquet or JSONL shards; name it with their "
            "extension, e.g. labeled.parquet or labeled.jsonl"
        )
    kind = _kind(fs, path, output)
    if kind == pafs.FileType.File:
        raise TableError(f"{output}: is a file; the ray engine writes a folder of shards there")
    if kind != pafs.FileType.Directory:
        return
    listed = [info.path for info in _listing(fs, path, output)]
    if foreign := sorted(p for p in listed if not is_run_file(path, p)):
        shown = ", ".join(p[len(path) :].lstrip("/") for p in foreign[:5]) + (", …" if len(foreign) > 5 else "")
        raise TableError(
            f"{output}: holds {len(foreign)} file(s) no label run wrote ({shown}); the ray engine "
            "writes only its shards and _manifest.json there: name a new or empty folder"
        )
    if listed and not restart:
        finished = _kind(fs, f"{path}/{MANIFEST}", output) == pafs.FileType.File
        raise TableError(
            f"{output}: holds {'a finished' if finished else 'an unfinished'} earlier run; "
            "rerun with --restart to replace it, or name another folder"
        )


def is_run_file(folder: str, path: str) -> bool:
    """A shard or the manifest of a run, directly inside its output ``folder``."""
    return _inside(path, folder) and _RUN_FILE.fullmatch(path[len(folder.rstrip("/")) + 1 :]) is not None


def _expand(spec: str, fs: Any, path: str, output_path: str) -> tuple[bool, list[str], int]:
    """Whether INPUT names several files, the table files it names (sorted), and how many others it holds."""
    if wildcard := _GLOB.search(path):
        root = path[: wildcard.start()].rpartition("/")[0] or "/"
        pattern = _glob_pattern(path)
        listed = [info for info in _listing(fs, root, spec) if pattern.fullmatch(info.path)]
    else:
        kind = _kind(fs, path, spec)
        if kind == pafs.FileType.File:
            table_format(Path(path))  # a single file must be a table: say so if it is not
            return False, [path], 0
        if kind != pafs.FileType.Directory:
            raise TableError(f"{spec}: no such file or folder")
        root = path
        listed = _listing(fs, path, spec)
    outside = [info for info in listed if not _inside(info.path, output_path)]
    tables = sorted(info.path for info in outside if _is_table(info, root))
    if not tables:
        kinds = ", ".join(sorted(FORMATS))
        raise TableError(f"{spec}: no table files ({kinds}) here ({len(outside)} other files)")
    return True, tables, len(outside) - len(tables)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _is_table(info: Any, base: str) -> bool:
    """A file a folder or glob input labels: a table type, not empty, neither hidden nor in a
    hidden folder below ``base`` (.git, .ipynb_checkpoints: as Spark and pyarrow skip them), and
    not the ``~$name.xlsx`` lock file Excel keeps beside an open workbook, so one such file does
    not fail every good file beside it, nor a checkpoint copy label its rows twice."""
    below = PurePosixPath(info.path).relative_to(base).parts if _inside(info.path, base) else ()
    hidden = any(part.startswith((".", "~$")) for part in below)
    return not hidden and info.size != 0 and PurePosixPath(info.path).suffix.lower() in FORMATS


def _kind(fs: Any, path: str, spec: str) -> Any:
    """What is at ``path``: a ``pyarrow.fs.FileType``."""
    try:
        return fs.get_file_info(path).type
    except OSError as exc:  # no permission, a store that cannot be reached
        raise TableError(f"{spec}: cannot open ({' '.join(str(exc).split())})") from None


def _listing(fs: Any, base: str, spec: str) -> list[Any]:
    """The files under ``base``, in subfolders too."""
    try:
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    except OSError as exc:
        raise TableError(f"{spec}: cannot list ({' '.join(str(exc).split())})") from None
    return [info for info in infos if info.type == pafs.FileType.File]


def _glob_pattern(glob: str) -> re.Pattern[str]:
    """A glob as a regular expression: ``*`` and ``?`` stay within one folder, ``**/`` spans any."""
    parts = re.split(r"(\*\*/|\*|\?)", glob)
    return re.compile("".join({"**/": "(?:.*/)?", "*": "[^/]*", "?": "[^/]"}.get(p, re.escape(p)) for p in parts))


def _check_file(
    fs: Any, path: str, name: str, text_column: str, id_column: str, encoding: str
) -> tuple[InputFile, list[str], dict[str, ColumnType]]:
    """Check one input file as the local engine checks its input; errors name the file as the user does."""
    with local_copy(fs, path, name, head_only=True) as local:
        try:
            text_encoding, available = check_input(local, text_column, id_column, encoding)
            kinds = column_kinds(local, available)
        except TableError as exc:
            raise TableError(str(exc).replace(str(local), name)) from None
    if isinstance(fs, pafs.LocalFileSystem):
        signature = file_signature(Path(path))
    else:
        info = fs.get_file_info(path)
        signature = f"size {info.size}, modified {info.mtime_ns}"
    return InputFile(fs, path, name, text_encoding, signature), available, kinds


@contextmanager
def local_copy(fs: Any, path: str, name: str, head_only: bool = False) -> Iterator[Path]:
    """A local path to read the file through ``labeling.tables``: the file itself on a local
    filesystem, else a temporary copy, removed afterwards, of the whole file or (``head_only``)
    of what the checks read: a text file's first MB, a Parquet file's schema."""
    if isinstance(fs, pafs.LocalFileSystem):
        yield Path(path)
        return
    suffix = PurePosixPath(path).suffix.lower()
    folder = Path(tempfile.mkdtemp(prefix="needlens-input-"))
    local = folder / f"input{suffix}"
    try:
        try:
            if head_only and suffix == ".parquet":
                import pyarrow.parquet as pq

                with fs.open_input_file(path) as handle:
                    pq.write_table(pq.read_schema(handle).empty_table(), local)
            else:
                with fs.open_input_stream(path) as source, local.open("wb") as target:
                    if head_only and FORMATS.get(suffix) in ("csv", "tsv", "jsonl"):
                        target.write(source.read(SAMPLE_BYTES))
                    else:
                        shutil.copyfileobj(source, target, 1 << 20)
        except OSError as exc:
            raise TableError(f"{name}: cannot read ({exc})") from None
        yield local
    finally:
        shutil.rmtree(folder, ignore_errors=True)
