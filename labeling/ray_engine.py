"""`needlens label --engine ray`: label a backlog of any size on a Ray cluster, through Ray Data.

A read task per input file parses it with the local engine's readers (``labeling.tables``),
so rows are numbered and bad rows marked exactly as there. An actor pool labels batches of
rows, each actor loading the model once, with the local engine's row logic
(``labeling.rows``): the same input gives the same output rows. Write tasks put
each batch into a Parquet or JSONL shard of the output folder, and the manifest
(``_manifest.json``: row counts, model version, input fingerprint, shards) is written last,
so a folder without one holds an unfinished run.

Faults are Ray's to handle: a killed actor is restarted and its batch retried; a batch
becomes output rows only when it finishes, so no row is lost or written twice. What Ray
cannot retry (the driver stopping) is not resumed: a rerun starts over (``--restart``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import shutil
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import ray
import ray.data
from ray.data import ActorPoolStrategy
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasink, Datasource, ReadTask, WriteResult

from classifier.errors import ModelLoadError
from classifier.inference import Predictor
from classifier.model_dir import read_json_file, resolve_model_dir
from classifier.modeling import WEIGHTS_FILE
from classifier.settings import Settings
from labeling.job import LabelSummary
from labeling.ray_plan import MANIFEST, InputFile, RayPlan, is_run_file, local_copy
from labeling.resilient import LabelingStopped
from labeling.rows import RowSpec, label_rows, predicted_fields
from labeling.tables import ColumnType, TableError, arrow_schema, arrow_table, iter_rows, jsonl_line

READERS_PER_ACTORS = 8
"""Files read at once per this many actors: one reader parses rows far faster than an actor labels them."""
_COUNTED = ("needs", "cause", "needs_review", "error_code")


@dataclass(frozen=True)
class PackedModel:
    """A model directory's files, carried to every actor through Ray's object store, so the
    model need not be on each machine's disk or on shared storage. Loading reads every file
    it needs at once, so each actor's copy lives only while its model loads."""

    version: str
    digest: str
    files: dict[str, bytes]

    @classmethod
    def pack(cls, path: Path, home: Path | None = None) -> PackedModel:
        """The model at ``path`` (a registry's active version for a registry); a folder that is
        no model fails here, on the driver, before any actor starts."""
        model_dir = resolve_model_dir(path, home)
        if not (model_dir / "config.json").is_file() or not (model_dir / WEIGHTS_FILE).is_file():
            raise ModelLoadError(
                f"{model_dir} is not a needlens model directory (config.json or {WEIGHTS_FILE} missing)"
            )
        files = {
            str(file.relative_to(model_dir)): file.read_bytes()
            for file in sorted(model_dir.rglob("*"))
            if file.is_file()
        }
        digest = hashlib.sha256()
        for name, data in files.items():
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        version = str(read_json_file(model_dir / "config.json").get("model_version", "untrained"))
        return cls(version, digest.hexdigest()[:16], files)

    @contextmanager
    def unpacked(self) -> Iterator[Path]:
        """The model directory in a temporary folder of this machine, removed once the model is loaded."""
        folder = Path(tempfile.mkdtemp(prefix="needlens-model-"))
        try:
            for name, data in self.files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(data)
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)


class RowLabeler:
    """One actor of the pool: loads the model once, then turns batches of input rows into output rows."""

    def __init__(
        self,
        model: PackedModel,
        settings: Settings,
        spec: RowSpec,
        columns: dict[str, ColumnType],
        shard_format: str,
        explain: bool,
    ) -> None:
        import torch

        torch.set_num_threads(1)  # one actor per CPU: threads would only compete
        # the driver's settings, but this machine's own cache folder (another home, another user)
        here = settings.model_copy(update={"threads": 1, "cache_dir": Settings().cache_dir})
        with model.unpacked() as model_dir:
            self.predictor = Predictor.load(model_dir, here)
        self.spec = spec
        self.columns = columns
        self.schema = arrow_schema(columns)
        self.shard_format = shard_format
        self.explain = explain

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.column("row").to_pylist()
        chunk = [
            (row, pickle.loads(record)) for row, record in zip(rows, batch.column("record").to_pylist(), strict=True)
        ]
        out = label_rows(chunk, self.spec, self.label)
        for record, name in zip(out, batch.column("file").to_pylist(), strict=True):
            record["file"] = name
        if self.shard_format == ".jsonl":
            return pa.table({"line": [jsonl_line(record, self.columns) for record in out]})
        return arrow_table(out, self.columns, self.schema)

    def label(self, texts: list[str]) -> list[dict[str, Any]]:
        return predicted_fields(self.predictor, texts, self.explain)


class InputRows(Datasource):
    """One read task per input file, reading it as the local engine does. Rows travel pickled,
    so what a table format cannot hold (a lone surrogate, a date, a reader's row problem)
    reaches the actors intact."""

    def __init__(self, files: Iterable[InputFile], block_rows: int, text_column: str) -> None:
        super().__init__()
        self.files = list(files)
        self.block_rows = block_rows
        self.text_column = text_column

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(
        self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
    ) -> list[ReadTask]:
        return [
            ReadTask(
                partial(read_blocks, source, self.block_rows, self.text_column),
                BlockMetadata(num_rows=None, size_bytes=None, input_files=[source.name], exec_stats=None),
            )
            for source in self.files
        ]


def read_blocks(source: InputFile, block_rows: int, text_column: str) -> Iterator[pa.Table]:
    """The file's rows, numbered from 1, in blocks of ``block_rows``; ``text_column`` as ``iter_rows`` takes it."""
    with local_copy(source.filesystem, source.path, source.name) as path:
        rows = enumerate(iter_rows(path, encoding=source.encoding, text_column=text_column), start=1)
        while chunk := list(islice(rows, block_rows)):
            yield pa.table(
                {
                    "file": [source.name] * len(chunk),
                    "row": [number for number, _ in chunk],
                    "record": [pickle.dumps(row, protocol=pickle.HIGHEST_PROTOCOL) for _, row in chunk],
                }
            )


@dataclass
class ShardWritten:
    """What one write task reports back: its shard, its counts, and per input file its rows and last row number."""

    shard: str | None
    summary: LabelSummary
    rows_by_file: Counter[str] = field(default_factory=Counter)
    last_row_by_file: dict[str, int] = field(default_factory=dict)


class Shards(Datasink[ShardWritten]):
    """The output folder: one shard per write task, named by the task, so a retried task
    overwrites its own file; then the manifest, once every shard is written and every input
    row is accounted for exactly once."""

    def __init__(self, plan: RayPlan, manifest: dict[str, Any]) -> None:
        self.plan = plan
        self.manifest = manifest
        self.summary: LabelSummary | None = None

    def write(self, blocks: Iterable[pa.Table], ctx: Any) -> ShardWritten:
        written = ShardWritten(None, LabelSummary(output=self.plan.output))
        tables = [block for block in blocks if block.num_rows]
        if not tables:
            return written
        table = pa.concat_tables(tables)
        written.shard = f"part-{ctx.task_idx:05d}{self.plan.shard_format}"
        with self.plan.output_filesystem.open_output_stream(f"{self.plan.output_path}/{written.shard}") as stream:
            if self.plan.shard_format == ".jsonl":
                lines = table.column("line").to_pylist()
                stream.write("".join(lines).encode("utf-8"))
                rows = [json.loads(line) for line in lines]
            else:
                pq.write_table(table, stream)
                rows = table.select([c for c in ("file", "row", *_COUNTED) if c in table.column_names]).to_pylist()
        for row in rows:
            written.summary.count(row)
            source = row.get("file") or self.plan.files[0].name
            written.rows_by_file[source] += 1
            written.last_row_by_file[source] = max(written.last_row_by_file.get(source, 0), row["row"])
        return written

    def on_write_complete(self, write_result: WriteResult[ShardWritten]) -> None:
        summary = LabelSummary(output=self.plan.output)
        rows_by_file: Counter[str] = Counter()
        last_row: dict[str, int] = {}
        shards = []
        for written in write_result.write_returns:
            summary.merge(written.summary)
            rows_by_file.update(written.rows_by_file)
            for source, row in written.last_row_by_file.items():
                last_row[source] = max(last_row.get(source, 0), row)
            if written.shard:
                shards.append({"shard": written.shard, "rows": written.summary.rows})
        _check_once(rows_by_file, last_row, [shard["shard"] for shard in shards])
        files = [{"file": f.name, "signature": f.signature, "rows": rows_by_file[f.name]} for f in self.plan.files]
        self.manifest |= {
            "rows": summary.rows,
            "labeled": summary.labeled,
            "errors": dict(sorted(summary.error_counts.items())),
            "files": files,
            "shards": sorted(shards, key=lambda s: s["shard"]),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with self.plan.output_filesystem.open_output_stream(f"{self.plan.output_path}/{MANIFEST}") as handle:
            handle.write(json.dumps(self.manifest, ensure_ascii=False, indent=2).encode("utf-8"))
        self.summary = summary


def _check_once(rows_by_file: Counter[str], last_row: dict[str, int], shards: list[str]) -> None:
    """Rows 1..n of every file written once each, in shards that do not overwrite one another:
    anything else is a lost or doubled row, and no manifest may vouch for it."""
    for source, rows in rows_by_file.items():
        if rows != last_row[source]:
            raise LabelingStopped(
                f"{source}: {rows} output rows for its rows 1..{last_row[source]}; rerun with --restart"
            )
    if len(set(shards)) != len(shards):
        raise LabelingStopped("two write tasks wrote the same shard; rerun with --restart")


def label_on_ray(
    plan: RayPlan,
    settings: Settings,
    model: Path,
    actors: int | None = None,
    address: str | None = None,
    explain: bool = False,
    progress: bool = True,
    restart: bool = False,
    log: Callable[[str], None] | None = None,
    labeler: type[RowLabeler] = RowLabeler,
) -> LabelSummary:
    """Run a checked Ray label job; Ray is started here unless it already runs in this process
    or ``address`` names a cluster; ``log`` hears the plan's notes once the model is found.
    ``restart`` deletes an earlier run's shards and manifest first. Stops with ``LabelingStopped`` (one line)
    when Ray gives up, with ``TableError`` when an input turns out unreadable past its header."""
    started = time.monotonic()
    packed = PackedModel.pack(model, settings.home)
    for note in plan.notes() if log else []:
        log(note)
    own_ray = not ray.is_initialized()
    # a Ray started here has no autoscaler; RAY_ADDRESS (Ray Jobs set it) or a Ray this process
    # already runs may be a cluster that grows
    local = own_ray and address is None and not os.environ.get("RAY_ADDRESS")
    if own_ray:
        _start_ray(address, local)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress
        context.enable_operator_progress_bars = progress
        pool = _actor_pool(actors, local, log)
        if restart:
            _clear(plan)
        spec = RowSpec(plan.text_column, plan.id_column, plan.kept.names, settings.max_chars, packed.version)
        sink = Shards(plan, _manifest_head(plan, packed, explain, pool))
        # reading and writing take no CPU slot of their own: every CPU goes to an actor, and an
        # actor pool holding every slot would otherwise leave a read task waiting forever
        rows = ray.data.read_datasource(
            InputRows(plan.files, settings.chunk_rows, plan.text_column),
            num_cpus=0,
            concurrency=min(len(plan.files), -(-pool // READERS_PER_ACTORS)),
            override_num_blocks=len(plan.files),
        )
        labeled = rows.map_batches(
            labeler,
            batch_size=settings.chunk_rows,
            batch_format="pyarrow",
            compute=ActorPoolStrategy(size=pool),
            fn_constructor_kwargs={
                "model": packed,
                "settings": settings,
                "spec": spec,
                "columns": plan.output_columns,
                "shard_format": plan.shard_format,
                "explain": explain,
            },
            num_cpus=1,  # Ray Data's actors restart when killed and retry the batch they held
        )
        try:
            with warnings.catch_warnings(), _ray_data_console_quiet():
                # Ray counts a pool's inputs as read tasks, not as the many blocks one file's task yields
                warnings.filterwarnings("ignore", "The minimum number of concurrent actors", UserWarning)
                labeled.write_datasink(sink, ray_remote_args={"num_cpus": 0})
        except Exception as exc:
            raise _one_line(exc) from None
    finally:
        if own_ray:
            ray.shutdown()
    assert sink.summary is not None
    sink.summary.seconds = time.monotonic() - started
    return sink.summary


def _start_ray(address: str | None, local: bool) -> None:
    """Ray started here, or joined at ``address`` (or RAY_ADDRESS); failing that, one line naming
    it rather than Ray's traceback (no cluster at "auto", Ray Client not installed), and no
    half-started Ray left behind."""
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, configure_logging=True)
    except Exception as exc:
        ray.shutdown()
        reason = " ".join(str(exc).split())
        where = "Ray on this machine" if local else f"the Ray cluster at {address or os.environ.get('RAY_ADDRESS')!r}"
        raise LabelingStopped(f"cannot start or reach {where} ({reason[:300]})") from None


def _actor_pool(actors: int | None, local: bool, log: Callable[[str], None] | None) -> int:
    """One actor per CPU by default. A Ray started here has no autoscaler, so actors beyond its
    CPUs never get one (1,000 of them aborted workers); a cluster may grow, so there more are
    only noted."""
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    if actors is None or actors <= cpus:
        return actors or cpus
    if local:
        if log:
            log(f"running {cpus} actors, not {actors}: Ray started here has {cpus} CPUs, one actor each")
        return cpus
    if log:
        log(f"{actors} actors asked for; the cluster has {cpus} CPUs now, so some wait until it grows")
    return actors


@contextmanager
def _ray_data_console_quiet() -> Iterator[None]:
    """Ray Data prints a failed task's traceback on the console, twice, and notices meant for its
    Python users; the job ends in one line of ours instead. Its session log file keeps it all."""
    console = [h for h in logging.getLogger("ray.data").handlers if isinstance(h, logging.StreamHandler)]
    levels = [h.level for h in console]
    for handler in console:
        handler.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for handler, level in zip(console, levels, strict=True):
            handler.setLevel(level)


def _manifest_head(plan: RayPlan, packed: PackedModel, explain: bool, actors: int) -> dict[str, Any]:
    return {
        "engine": "ray",
        "format": plan.shard_format.lstrip("."),
        "model_version": packed.version,
        "model_digest": packed.digest,
        "input": plan.input,
        "input_fingerprint": plan.fingerprint(),
        "text_column": plan.text_column,
        "id_column": plan.id_column,
        "columns": list(plan.output_columns),
        "explain": explain,
        "actors": actors,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _clear(plan: RayPlan) -> None:
    """Remove an earlier run's shards and manifest (``--restart``), and nothing else: the plan
    refused a folder holding other files, and one that appeared since is left alone."""
    fs = plan.output_filesystem
    if fs.get_file_info(plan.output_path).type != pafs.FileType.Directory:
        return
    selector = pafs.FileSelector(plan.output_path, recursive=False)
    for info in fs.get_file_info(selector):
        if info.type == pafs.FileType.File and is_run_file(plan.output_path, info.path):
            fs.delete_file(info.path)


def _one_line(exc: BaseException) -> Exception:
    """The error a user should read, out of Ray's wrapping: a user error (an input unreadable
    past its header, a model that does not load) as itself, anything else as ``LabelingStopped``.
    Ray re-raises a task's exception with its own advice appended: only the first line is ours."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        ours = isinstance(current, TableError | ModelLoadError | LabelingStopped)
        if ours and not isinstance(current, ray.exceptions.RayError):  # not Ray's traceback-carrying twin
            return type(current)(str(current).splitlines()[0])
        cause = getattr(current, "cause", None)
        current = cause if isinstance(cause, BaseException) else current.__cause__ or current.__context__
    detail = " ".join(f"{type(exc).__name__}: {exc}".split())
    return LabelingStopped(f"the Ray job failed ({detail[:300]}{'…' if len(detail) > 300 else ''})")
