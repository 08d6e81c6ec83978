"""`needlens label --engine ray` on a local Ray: the local engine's rows, checks before work, a killed actor."""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'needlens[ray]' to run the Ray engine tests")

from classifier.settings import Settings  # noqa: E402
from labeling.plan import check_input  # noqa: E402
from labeling.ray_engine import (  # noqa: E402
    RowLabeler,
    _actor_pool,
    _clear,
    _ray_data_console_quiet,
    label_on_ray,
    read_blocks,
)
from labeling.ray_plan import MANIFEST, InputFile, local_copy, plan_ray_job  # noqa: E402
from labeling.tables import iter_rows  # noqa: E402
from labeling.text_encoding import Encoding  # noqa: E402
from needlens.cli import app  # noqa: E402
from tests.conftest import write_csv  # noqa: E402
from tests.labeling.test_label_job import damaged_parquet  # noqa: E402
from tests.needlens.test_cli import one_line_error  # noqa: E402

runner = CliRunner()
TEXTS = ["屏幕坏了要求换货", "没人告诉我进度", "想参与新功能共创", "重复扣款请退回", "想了解电池原理"]
SMALL_JOBS = {"NEEDLENS_CHUNK_ROWS": "4", "NEEDLENS_MAX_CHARS": "1000"}
"""Small batches, so two actors share a small file; a limit a test text can exceed."""


@pytest.fixture(scope="module")
def local_ray():
    """One Ray instance for every job in this module: starting Ray costs seconds."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def label(toy_model, source, output, *extra, env=None):
    args = ["label", str(source), "-o", str(output), "-m", str(toy_model[0]), "--no-progress", *extra]
    return runner.invoke(app, args, env=env)


def split_probabilities(rows: list[dict]) -> tuple[list[dict], np.ndarray]:
    """Rows without their p_ columns, and those columns (NaN for an error row's empty ones).

    Probabilities are compared to within float32 rounding: a batch's composition (which rows
    share it, which token ids filled the cache together) moves the network's last bits on some
    CPUs, and so a sixth decimal now and then."""
    names = sorted(k for k in rows[0] if k.startswith("p_"))
    rest = [{k: v for k, v in row.items() if not k.startswith("p_")} for row in rows]
    return rest, np.array([[np.nan if row[k] is None else row[k] for k in names] for row in rows])


def shard_rows(folder: Path) -> list[dict]:
    """Every row of a Ray output folder, in input order."""
    rows = []
    for shard in sorted(folder.glob("part-*")):
        if shard.suffix == ".parquet":
            rows += pq.read_table(shard).to_pylist()
        else:
            rows += [json.loads(line) for line in shard.read_text(encoding="utf-8").splitlines()]
    return sorted(rows, key=lambda r: (r.get("file", ""), r["row"]))


def hostile_jsonl(path: Path) -> Path:
    """Good texts among rows the local engine turns into error rows, and columns it keeps."""
    long_note = "。".join(TEXTS * 8)  # over 300 characters: labeled by segments
    lines = [
        json.dumps({"id": i, "text": TEXTS[i % 5] + str(i), "needs": "x", "门店": {"城市": "上海"}}) for i in range(9)
    ]
    lines += [
        json.dumps({"id": "long", "text": long_note, "门店": 3.5}, ensure_ascii=False),
        '{"id": "surrogate", "text": "\\ud800坏了"}',
        json.dumps({"id": "number", "text": 42}),
        "{broken",
        json.dumps({"id": "no-text"}),
        json.dumps({"id": "blank", "text": "\u200b\x00 "}),
        json.dumps({"id": "too-long", "text": "长" * 1001}, ensure_ascii=False),
        json.dumps({"id": None, "text": TEXTS[3], "needs": None}, ensure_ascii=False),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_ray_engine_writes_exactly_the_local_engines_rows(toy_model, local_ray, tmp_path):
    source = hostile_jsonl(tmp_path / "in.jsonl")
    local = label(toy_model, source, tmp_path / "local.parquet", env=SMALL_JOBS)
    assert local.exit_code == 0, local.output
    result = label(toy_model, source, tmp_path / "ray.parquet", "--engine", "ray", "--actors", "2", env=SMALL_JOBS)
    assert result.exit_code == 0, result.output
    assert "needs → input_needs" in result.stderr and "17 rows" in result.stdout

    expected = pq.read_table(tmp_path / "local.parquet")
    shards = sorted((tmp_path / "ray.parquet").glob("part-*.parquet"))
    assert all(pq.read_schema(shard) == expected.schema for shard in shards)
    rows = shard_rows(tmp_path / "ray.parquet")
    (rest, probs), (expected_rest, expected_probs) = (
        split_probabilities(rows),
        split_probabilities(expected.to_pylist()),
    )
    assert rest == expected_rest  # every other column of every row
    assert np.allclose(probs, expected_probs, atol=2e-6, equal_nan=True)
    codes = [row["error_code"] for row in rows]
    assert codes[9:16] == [None, "invalid_unicode", "not_text", "unparseable", "missing", "empty", "too_long"]
    assert json.loads(rows[9]["segments"]) and rows[0]["input_needs"] == "x"

    manifest = json.loads((tmp_path / "ray.parquet" / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["rows"] == 17 and manifest["labeled"] == 11 and manifest["format"] == "parquet"
    assert manifest["model_version"] == rows[0]["model_version"]
    assert manifest["files"] == [{"file": str(source), "signature": manifest["files"][0]["signature"], "rows": 17}]
    assert sum(shard["rows"] for shard in manifest["shards"]) == 17


def test_a_folder_of_files_is_labeled_into_jsonl_shards_that_name_each_rows_file(toy_model, local_ray, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "2024").mkdir(parents=True)
    excel = write_csv(inbox / "excel.csv", [[f"e{i}", TEXTS[i % 5]] for i in range(6)], encoding="gb18030")
    lake = inbox / "2024" / "part.parquet"
    pq.write_table(pa.table({"id": ["p1", "p2"], "text": [TEXTS[0], ""], "file": ["a", "b"]}), lake)
    (inbox / "README.txt").write_text("not a table", encoding="utf-8")
    (inbox / "~$excel.xlsx").write_bytes(b"\x0bowner")  # Excel's lock file beside an open workbook: not a zip
    (inbox / ".draft.csv").write_text("id,body\n1,x\n", encoding="utf-8")  # hidden, and without a text column
    (inbox / "2024" / "empty.csv").touch()
    (inbox / ".ipynb_checkpoints").mkdir()  # a notebook's checkpoint copy: its rows would be labeled twice
    write_csv(inbox / ".ipynb_checkpoints" / "excel-checkpoint.csv", [["e0", TEXTS[0]]])
    output = tmp_path / "labeled.jsonl"
    output.mkdir()
    (output / "part-99999.jsonl").write_text('{"row": 1}\n', encoding="utf-8")  # a run that never finished

    one_line_error(label(toy_model, inbox, output, "--engine", "ray"), "holds an unfinished earlier run", "--restart")
    result = label(toy_model, inbox, output, "--engine", "ray", "--restart", env=SMALL_JOBS)
    assert result.exit_code == 0, result.output
    assert "1 file(s) as gb18030" in result.stderr and "not reading 5 other file(s)" in result.stderr

    rows = shard_rows(output)
    assert [(r["file"], r["row"], r["id"]) for r in rows] == [(str(lake), 1, "p1"), (str(lake), 2, "p2")] + [
        (str(excel), i + 1, f"e{i}") for i in range(6)
    ]
    assert [r["input_file"] for r in rows[:3]] == ["a", "b", None]  # an input column named like the file column
    assert rows[1]["error_code"] == "empty" and isinstance(rows[0]["needs"], list)
    manifest = json.loads((output / MANIFEST).read_text(encoding="utf-8"))
    assert {f["file"]: f["rows"] for f in manifest["files"]} == {str(excel): 6, str(lake): 2}
    plan = plan_ray_job(str(inbox), str(tmp_path / "other.jsonl"))
    assert manifest["input_fingerprint"] == plan.fingerprint() and manifest["errors"] == {"empty": 1}
    assert not (output / "part-99999.jsonl").exists()
    one_line_error(label(toy_model, inbox, output, "--engine", "ray"), "holds a finished earlier run")


class DiesOnce(RowLabeler):
    """The first actor to get its second batch is killed (SIGKILL: no clean-up, as the OOM killer does)."""

    marker: str = ""

    def __call__(self, batch):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 2:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(batch)


def test_an_actor_killed_mid_job_is_replaced_and_every_row_is_written_once(toy_model, local_ray, tmp_path):
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # actors cannot import this test module
    source = write_csv(tmp_path / "in.csv", [[str(i), TEXTS[i % 5] + str(i)] for i in range(60)])
    killed = type("DiesOnceHere", (DiesOnce,), {"marker": str(tmp_path / "killed")})
    plan = plan_ray_job(str(source), str(tmp_path / "out.parquet"))
    summary = label_on_ray(plan, Settings(chunk_rows=5), toy_model[0], actors=2, progress=False, labeler=killed)
    assert (tmp_path / "killed").exists()  # an actor really died with a batch in hand
    rows = shard_rows(tmp_path / "out.parquet")
    assert [r["row"] for r in rows] == list(range(1, 61))
    assert [r["id"] for r in rows] == [str(i) for i in range(60)] and all(r["needs"] for r in rows)
    assert summary.rows == summary.labeled == 60


def test_a_file_unreadable_past_its_header_stops_the_job_in_one_line(toy_model, local_ray, tmp_path):
    source = damaged_parquet(tmp_path / "damaged.parquet")
    result = label(toy_model, source, tmp_path / "out.parquet", "--engine", "ray", "--actors", "1")
    one_line_error(result, f"{source}: cannot read (Couldn't deserialize thrift")
    assert not (tmp_path / "out.parquet" / MANIFEST).exists()


def test_a_missing_column_in_any_file_fails_before_ray_starts(toy_model, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_csv(inbox / "a.csv", [["1", TEXTS[0]]])
    write_csv(inbox / "b.csv", [["1", TEXTS[0]]], header=("id", "body"))
    result = label(toy_model, inbox, tmp_path / "out.parquet", "--engine", "ray")
    one_line_error(result, f"{inbox / 'b.csv'}: no text column 'text'")
    assert not (tmp_path / "out.parquet").exists()


def test_unreadable_inputs_and_unusable_outputs_are_one_line(toy_model, tmp_path):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    good = write_csv(tmp_path / "in.csv", [["1", TEXTS[0]]])
    one_line_error(label(toy_model, tmp_path / "nothing", tmp_path / "o.parquet", "--engine", "ray"), "no such file")
    one_line_error(label(toy_model, broken, tmp_path / "o.parquet", "--engine", "ray"), "unreadable parquet file")
    one_line_error(label(toy_model, good, tmp_path / "o.csv", "--engine", "ray"), "folder of Parquet or JSONL shards")
    one_line_error(label(toy_model, tmp_path / "*.tsv", tmp_path / "o.jsonl", "--engine", "ray"), "no table files")
    one_line_error(
        label(toy_model, good, tmp_path / "o.jsonl", "--engine", "ray", "-m", str(tmp_path)), "not a needlens model"
    )


def test_restart_deletes_only_an_earlier_runs_files_and_refuses_a_folder_holding_others(toy_model, tmp_path):
    output = tmp_path / "labeled.parquet"
    output.mkdir()
    (output / "part-00000.parquet").write_bytes(b"an earlier run's shard")
    (output / MANIFEST).write_text("{}", encoding="utf-8")
    notes = output / "notes.txt"
    notes.write_text("mine", encoding="utf-8")
    inside = write_csv(output / "input.csv", [["1", TEXTS[0]]])
    for source in (inside, write_csv(tmp_path / "in.csv", [["1", TEXTS[0]]])):
        result = label(toy_model, source, output, "--engine", "ray", "--restart")
        one_line_error(result, "file(s) no label run wrote", "input.csv", "notes.txt")
    # --restart used to empty the whole folder, this job's own input included
    assert notes.read_text(encoding="utf-8") == "mine" and inside.exists()
    notes.unlink()
    one_line_error(label(toy_model, inside, output, "--engine", "ray"), "file(s) no label run wrote (input.csv)")
    inside.rename(tmp_path / "moved.csv")

    plan = plan_ray_job(str(tmp_path / "moved.csv"), str(output), restart=True)
    (output / "later.txt").write_text("appeared after the plan", encoding="utf-8")
    _clear(plan)
    assert sorted(p.name for p in output.iterdir()) == ["later.txt"]


def test_a_second_job_on_an_output_a_job_holds_is_refused_before_ray_starts(toy_model, tmp_path, monkeypatch):
    from filelock import FileLock

    def no_ray(**_):
        pytest.fail("Ray started although another job holds the output")

    monkeypatch.setattr(ray, "init", no_ray)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    source = write_csv(tmp_path / "in.csv", [["1", TEXTS[0]]])
    output = tmp_path / "labeled.parquet"
    with FileLock(tmp_path / "labeled.parquet.lock"):  # the lock a running job holds
        result = label(toy_model, source, output, "--engine", "ray")
    one_line_error(result, "another `needlens label` job is writing it")


def test_a_ray_that_cannot_be_started_or_reached_is_one_line(toy_model, tmp_path, monkeypatch):
    def unreachable(**_):
        raise ConnectionError("Could not find any running Ray instance.\nPlease specify the one to connect to")

    shut = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", unreachable)
    monkeypatch.setattr(ray, "shutdown", lambda: shut.append(True))  # leaves no half-started Ray behind
    source = write_csv(tmp_path / "in.csv", [["1", TEXTS[0]]])
    result = label(toy_model, source, tmp_path / "out.parquet", "--engine", "ray", "--address", "auto")
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1:] == [
        "error: cannot start or reach the Ray cluster at 'auto' (Could not find any running Ray instance. "
        "Please specify the one to connect to)"
    ]
    assert shut == [True]


def test_a_ray_started_here_runs_no_more_actors_than_its_cpus(local_ray):
    notes: list[str] = []
    assert _actor_pool(None, True, notes.append) == 2 and _actor_pool(1, True, notes.append) == 1 and not notes
    assert _actor_pool(1000, True, notes.append) == 2
    assert notes == ["running 2 actors, not 1000: Ray started here has 2 CPUs, one actor each"]
    assert _actor_pool(5, False, notes.append) == 5 and "until it grows" in notes[-1]  # a cluster may scale up


def test_ray_datas_console_stays_quiet_during_a_job_and_is_restored():
    console = [h for h in logging.getLogger("ray.data").handlers if isinstance(h, logging.StreamHandler)]
    assert console, "Ray Data logs to the console: the job must quiet it"
    before = [h.level for h in console]
    with _ray_data_console_quiet():
        assert all(h.level == logging.CRITICAL for h in console)
    assert [h.level for h in console] == before
    with pytest.raises(RuntimeError), _ray_data_console_quiet():
        raise RuntimeError("a job that fails")
    assert [h.level for h in console] == before


def test_a_glob_matches_as_a_shell_does(tmp_path):
    for name in ("a.csv", "b.csv", "sub/c.csv"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        write_csv(tmp_path / name, [["1", TEXTS[0]]])
    (tmp_path / "sub" / "d.jsonl").write_text('{"id": 1, "text": "好"}\n', encoding="utf-8")
    output = str(tmp_path / "out.parquet")

    def names(pattern):
        return [
            Path(f.name).relative_to(tmp_path).as_posix() for f in plan_ray_job(str(tmp_path / pattern), output).files
        ]

    assert names("*.csv") == ["a.csv", "b.csv"]
    assert names("**/*.csv") == ["a.csv", "b.csv", "sub/c.csv"]
    assert names("sub/?.*") == ["sub/c.csv", "sub/d.jsonl"]


def test_a_file_behind_a_uri_is_checked_on_its_head_and_read_whole(tmp_path):
    from pyarrow.fs import _MockFileSystem

    remote = _MockFileSystem()
    original = write_csv(tmp_path / "excel.csv", [[str(i), TEXTS[i % 5] * 3000] for i in range(40)], encoding="gb18030")
    remote.create_dir("bucket")
    with remote.open_output_stream("bucket/excel.csv") as handle:
        handle.write(original.read_bytes())
    with local_copy(remote, "bucket/excel.csv", "mock://bucket/excel.csv", head_only=True) as head:
        assert head.stat().st_size == 1 << 20 < original.stat().st_size
        encoding, columns = check_input(head)
    assert encoding is not None and encoding.name == "gb18030" and columns == ["id", "text"]
    source = InputFile(remote, "bucket/excel.csv", "mock://bucket/excel.csv", Encoding("gb18030"), "")
    read = [row for block in read_blocks(source, 7, "text") for row in block.to_pylist()]
    assert [r["row"] for r in read] == list(range(1, 41)) and read[0]["file"] == "mock://bucket/excel.csv"
    assert [pickle.loads(r["record"]) for r in read] == list(iter_rows(original, encoding=Encoding("gb18030")))
