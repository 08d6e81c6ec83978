"""`label` on real files: bad rows become error rows, every format round-trips, and a stop resumes."""

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook, load_workbook

from labeling.job import Journal, LabelJob
from labeling.plan import plan_label_job
from labeling.tables import TableError
from tests.conftest import read_csv, write_csv

TEXTS = ["屏幕坏了要求换货", "没人告诉我进度", "想参与新功能共创", "重复扣款请退回", "想了解电池原理"]


def label_file(job, source, output, restart=False, **options):
    """Plan and run one label job, as `needlens label` does."""
    return job.run(plan_label_job(source, output, **options), restart=restart, progress=False)


def test_bad_rows_get_error_fields_and_the_job_finishes(predictor, tmp_path):
    source = write_csv(
        tmp_path / "in.csv", [["1", TEXTS[0]], ["2", ""], ["3", "   "], ["4", "长" * 60], ["5", TEXTS[2]]]
    )
    with source.open("a", encoding="utf-8") as handle:
        handle.write('6,"too",many,fields\n')
    summary = label_file(LabelJob(predictor, chunk_rows=2, max_chars=50), source, tmp_path / "out.csv")
    rows = read_csv(tmp_path / "out.csv")
    assert [r["id"] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    assert [r["error_code"] for r in rows] == ["", "empty", "empty", "too_long", "", "unparseable"]
    assert "over the limit of 50" in rows[3]["error"]
    assert rows[0]["needs"] and rows[0]["cause"] and float(rows[0]["p_surface"]) > 0
    assert summary.rows == 6 and summary.labeled == 2 and summary.errors == 4
    assert summary.error_counts == {"empty": 2, "too_long": 1, "unparseable": 1}
    assert not (tmp_path / "out.csv.partial.jsonl").exists()


def test_jsonl_non_text_and_broken_lines_are_row_errors(predictor, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        "\n".join(
            [
                json.dumps({"id": 1, "text": TEXTS[0]}),
                json.dumps({"id": 2, "text": 42}),
                "{broken",
                json.dumps({"id": 4}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    label_file(LabelJob(predictor, 10, 1000), source, tmp_path / "out.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["error_code"] for r in rows] == [None, "not_text", "unparseable", "missing"]
    assert rows[0]["id"] == "1" and isinstance(rows[0]["needs"], list)


@pytest.mark.parametrize("suffix", [".tsv", ".xlsx", ".parquet"])
def test_every_format_in_and_out(predictor, tmp_path, suffix):
    source = tmp_path / f"in{suffix}"
    rows = [(f"r{i}", text) for i, text in enumerate(TEXTS)]
    if suffix == ".tsv":
        write_csv(tmp_path / "tmp.csv", rows)
        source.write_text((tmp_path / "tmp.csv").read_text(encoding="utf-8").replace(",", "\t"), encoding="utf-8")
    elif suffix == ".xlsx":
        book = Workbook()
        book.active.append(["id", "text"])
        for row in rows:
            book.active.append(list(row))
        book.save(source)
    else:
        pq.write_table(pa.table({"id": [r[0] for r in rows], "text": [r[1] for r in rows]}), source)
    output = tmp_path / f"out{suffix}"
    label_file(LabelJob(predictor, 2, 1000), source, output)
    if suffix == ".xlsx":
        values = list(load_workbook(output).active.iter_rows(values_only=True))
        header, body = values[0], values[1:]
        ids = [row[header.index("id")] for row in body]
    elif suffix == ".parquet":
        table = pq.read_table(output).to_pylist()
        ids = [row["id"] for row in table]
        assert all(isinstance(row["needs"], list) and row["needs"] for row in table)
    else:
        with output.open(encoding="utf-8-sig") as handle:
            ids = [row["id"] for row in csv.DictReader(handle, delimiter="\t")]
    assert ids == [r[0] for r in rows]


def test_csv_output_opens_in_excel_and_labels_again(predictor, tmp_path):
    """The byte-order mark is what makes Excel read UTF-8; the output must still be valid input."""
    source = write_csv(tmp_path / "in.csv", [["1", TEXTS[0]], ["2", TEXTS[1]]], header=("编号", "text"))
    first = tmp_path / "out.csv"
    label_file(LabelJob(predictor, 2, 1000), source, first, id_column="编号")
    assert first.read_bytes().startswith(b"\xef\xbb\xbfrow,id,\xe7\xbc\x96\xe5\x8f\xb7,")  # BOM, then the header
    again = tmp_path / "again.csv"
    label_file(LabelJob(predictor, 2, 1000), first, again, id_column="编号")
    assert [r["编号"] for r in read_csv(again)] == ["1", "2"]


def test_interrupted_run_resumes_without_losing_or_duplicating_rows(predictor, tmp_path):
    rows = [[str(i), TEXTS[i % len(TEXTS)] + str(i)] for i in range(23)]
    source = write_csv(tmp_path / "in.csv", rows)
    output = tmp_path / "out.csv"

    class Crash(BaseException):  # a kill or Ctrl-C, which no fallback catches
        pass

    calls = {"n": 0}
    real_predict = predictor.predict

    def predict_then_crash(texts, explain=False):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash
        return real_predict(texts, explain)

    job = LabelJob(predictor, chunk_rows=5, max_chars=1000)
    job.predictor = type("Flaky", (), {"predict": staticmethod(predict_then_crash), "version": predictor.version})()
    with pytest.raises(Crash):
        label_file(job, source, output)
    journal = Journal(output)
    assert journal.path.exists() and not output.exists()
    with journal.path.open("a", encoding="utf-8") as handle:
        handle.write('{"row": 11, "id": "half-writ')  # a line cut off by the crash

    summary = label_file(LabelJob(predictor, chunk_rows=5, max_chars=1000), source, output)
    assert summary.resumed_rows == 10
    assert [r["id"] for r in read_csv(output)] == [r[0] for r in rows]
    assert summary.rows == 23 and summary.labeled == 23


def test_a_journal_from_another_input_is_refused(predictor, tmp_path):
    output = tmp_path / "out.csv"
    Journal(output).resume({"input": "elsewhere"})
    source = write_csv(tmp_path / "in.csv", [["1", TEXTS[0]]])
    with pytest.raises(TableError, match="different job"):
        label_file(LabelJob(predictor, 5, 1000), source, output)


def test_missing_column_and_unsupported_file_are_table_errors(predictor, tmp_path):
    source = write_csv(tmp_path / "in.csv", [["1", TEXTS[0]]], header=("id", "body"))
    with pytest.raises(TableError, match="no text column 'text'"):
        plan_label_job(source, tmp_path / "out.csv")
    with pytest.raises(TableError, match=r"unsupported file type \.txt"):
        plan_label_job(source, tmp_path / "out.txt", text_column="body")


def test_worker_processes_give_the_same_rows_in_the_same_order(predictor, toy_model, tmp_path):
    from classifier.settings import Settings
    from labeling.workers import WorkerPool, balanced_parts

    rows = [[str(i), TEXTS[i % len(TEXTS)] * (1 + i % 3)] for i in range(30)] + [["30", ""]]
    source = write_csv(tmp_path / "in.csv", rows)
    label_file(LabelJob(predictor, chunk_rows=8, max_chars=50), source, tmp_path / "one.csv")
    pool = WorkerPool(toy_model[0], Settings(runtime="torch"), workers=2)
    try:
        job = LabelJob(predictor, chunk_rows=8, max_chars=50, pool=pool)
        summary = label_file(job, source, tmp_path / "two.csv")
    finally:
        pool.close()
    single, parallel = read_csv(tmp_path / "one.csv"), read_csv(tmp_path / "two.csv")
    assert [(r["id"], r["needs"], r["cause"], r["error_code"]) for r in parallel] == [
        (r["id"], r["needs"], r["cause"], r["error_code"]) for r in single
    ]
    assert summary.labeled == 30 and summary.errors == 1

    parts = balanced_parts(["a" * 10, "b", "c", "d" * 10, "e"], 2)
    assert [t for part in parts for t in part] == ["a" * 10, "b", "c", "d" * 10, "e"] and len(parts) == 2
    assert balanced_parts([], 2) == []


def test_a_resumed_job_keeps_passthrough_columns_as_an_uninterrupted_one_does(predictor, tmp_path):
    import datetime

    n = 12
    source = tmp_path / "in.parquet"
    times = [datetime.datetime(2024, 5, 1, 8, 0) + datetime.timedelta(hours=i) for i in range(n)]
    pq.write_table(
        pa.table(
            {
                "id": [f"r{i}" for i in range(n)],
                "text": [TEXTS[i % len(TEXTS)] for i in range(n)],
                "时间": times,
                "门店": [["上海", "北京"][i % 2] for i in range(n)],
                "金额": list(range(n)),
            }
        ),
        source,
    )
    label_file(LabelJob(predictor, chunk_rows=5, max_chars=1000), source, tmp_path / "whole.parquet")

    class Kill(BaseException):
        pass

    calls = {"n": 0}

    def predict_then_die(texts, explain=False):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Kill
        return predictor.predict(texts, explain)

    job = LabelJob(predictor, chunk_rows=5, max_chars=1000)
    job.predictor = type("Dying", (), {"predict": staticmethod(predict_then_die), "version": predictor.version})()
    with pytest.raises(Kill):
        label_file(job, source, tmp_path / "resumed.parquet")
    summary = label_file(LabelJob(predictor, chunk_rows=5, max_chars=1000), source, tmp_path / "resumed.parquet")
    assert summary.resumed_rows == 5
    whole, resumed = pq.read_table(tmp_path / "whole.parquet"), pq.read_table(tmp_path / "resumed.parquet")
    assert resumed.to_pylist() == whole.to_pylist()
    assert resumed.schema.field("金额").type == pa.int64()
    assert resumed.column("时间").to_pylist()[1] == "2024-05-01T09:00:00"


def test_more_rows_than_an_excel_sheet_holds_are_refused_before_work(tmp_path, monkeypatch):
    import labeling.plan

    monkeypatch.setattr(labeling.plan, "XLSX_MAX_ROWS", 3)
    source = write_csv(tmp_path / "in.csv", [[str(i), TEXTS[0]] for i in range(3)])
    with pytest.raises(TableError, match="3 rows do not fit in an Excel sheet"):
        plan_label_job(source, tmp_path / "out.xlsx")
    assert plan_label_job(source, tmp_path / "out.csv").total_rows == 3


def damaged_parquet(path):
    """A Parquet file whose schema reads but whose data pages are zeroed, as a torn copy leaves it."""
    table = pa.table({"id": [str(i) for i in range(500)], "text": [TEXTS[i % 5] * 4 for i in range(500)]})
    pq.write_table(table, path, compression="none", use_dictionary=False)
    data = bytearray(path.read_bytes())
    data[100:-2000] = bytes(len(data) - 2100)
    path.write_bytes(bytes(data))
    return path


def test_a_parquet_file_damaged_past_its_header_is_one_line_saying_what_is_wrong(predictor, tmp_path):
    source = damaged_parquet(tmp_path / "damaged.parquet")
    with pytest.raises(TableError) as raised:
        label_file(LabelJob(predictor, 100, 1000), source, tmp_path / "out.csv")
    message = str(raised.value)
    assert message.startswith(f"{source}: cannot read (Couldn't deserialize thrift") and "\n" not in message
