"""A benchmark asked for what it cannot measure says so in one line and exits 2, before it starts:
no ZeroDivisionError after minutes of loading, no table of zeros or nan that reads like a result,
no traceback burying a missing model's or data file's reason (bench.common's argument types,
``BenchParser`` and ``one_line_errors``)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench.common import one_line_errors
from classifier.errors import ModelLoadError

ROOT = Path(__file__).resolve().parents[2]
MISSING = "/nonexistent-needlens-bench/data.jsonl"

REFUSED = [
    ("throughput", ["--texts", "0"], "--texts"),
    ("throughput", ["--texts", "-5"], "--texts"),
    ("throughput", ["--threads", "0", "--texts", "10", "--only", "tfidf"], "--threads"),
    ("profile_label", ["--texts", "0"], "--texts"),
    ("profile_label", ["--threads", "-1"], "--threads"),
    ("profile_request", ["--requests", "0"], "--requests"),
    ("train_step", ["--texts", "0"], "--texts"),
    ("monitor_sim", ["--runs", "2", "--weeks", "20"], "--weeks"),
    ("monitor_sim", ["--runs", "0"], "--runs"),
    ("monitor_sim", ["--noise", "2"], "--noise"),
    ("monitor_sim", ["--shift", "no_such_label:2"], "--shift"),
    ("monitor_sim", ["--sweep", "3,x"], "--sweep"),
    ("explain_long", ["--chars", "-3"], "--chars"),
    ("http_load", ["--requests", "0", "--batch-requests", "0", "--time-limit", "1"], "--requests"),
    ("http_load", ["--time-limit", "0"], "--time-limit"),
    ("soak", ["--minutes", "-1"], "--minutes"),
    ("feedback_latency", ["--pauses", "30,-1"], "--pauses"),
    ("soak", ["--minutes", "0.1"], "--minutes"),  # shorter than 3 memory samples of 10 s
    ("ray_label", ["--texts", "0"], "--texts"),
    ("ray_label", ["--texts", "200", "--actors", "1"], "--texts"),  # not above --small (500)
    ("ray_label", ["--actors", "0"], "--actors"),
    ("ray_label", ["--threads", "1,nan"], "--threads"),
    ("faithfulness", ["--data", MISSING], "--data"),
    ("prior_shift", ["models/default", MISSING], "data"),
    ("familiarity", ["models/default", "--data", MISSING], "--data"),
    ("real_accuracy", ["models/default", "--dev", MISSING], "--dev"),
]


@pytest.mark.parametrize(("module", "argv", "flag"), REFUSED, ids=[f"{m} {' '.join(a)}" for m, a, _ in REFUSED])
def test_a_bad_argument_is_one_line_naming_the_flag(
    module: str, argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parse_args = importlib.import_module(f"bench.{module}").parse_args
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage:" not in err, err
    assert f"error: argument {flag}" in err


@pytest.mark.parametrize(
    "module", ["throughput", "profile_label", "monitor_sim", "http_load", "soak", "ray_label", "feedback_latency"]
)
def test_the_defaults_still_parse(module: str) -> None:
    importlib.import_module(f"bench.{module}").parse_args([])


def test_list_arguments_parse_to_their_values() -> None:
    from bench.monitor_sim import Shift, parse_args
    from bench.ray_label import parse_args as ray_args

    args = parse_args(["--sweep", "3,4.5", "--shift", "none:1.5", "--weeks", "28"])
    assert args.sweep == [3.0, 4.5] and args.shift == Shift("none", 1.5) and args.weeks == 28
    assert ray_args([]).actors == [1, 2] and ray_args(["--threads", "4"]).threads == [4]


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["bench.monitor_sim", "--runs", "2", "--weeks", "20"], "--weeks"),
        (["bench.throughput", "--texts", "0"], "--texts"),
        (["bench.soak", "--minutes", "-1"], "--minutes"),
    ],
)
def test_run_as_a_module_it_exits_2_without_a_traceback(command: list[str], flag: str) -> None:
    done = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"error: argument {flag}" in done.stderr and done.stdout == ""


def test_a_missing_model_is_one_line_before_any_child_starts() -> None:
    command = [sys.executable, "-m", "bench.throughput", "--model", "/nonexistent", "--only", "tfidf"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert "/nonexistent is not a needlens model directory" in done.stderr


def test_project_errors_become_one_line_and_bugs_keep_their_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from training.data import DataError

    for error in (
        ModelLoadError("models/x is not a needlens model directory"),
        DataError("x.jsonl: no such file or directory"),
        FileNotFoundError(2, "No such file or directory", "models/x/metrics.json"),
    ):

        def main(error: Exception = error) -> None:
            raise error

        with pytest.raises(SystemExit) as exit_info:
            one_line_errors(main)()
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.rstrip().endswith(("directory", "metrics.json: no such file or directory"))

    def buggy() -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        one_line_errors(buggy)()


def test_a_failed_throughput_child_ends_in_its_last_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.throughput import run_child

    child = [sys.executable, "-c", "import sys; print('noise', file=sys.stderr); sys.exit('the real reason')"]
    with pytest.raises(SystemExit) as exit_info:
        run_child("tfidf", child)
    assert exit_info.value.code != 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "the tfidf run failed" in last and last.endswith("the real reason")


def test_a_soak_that_sent_nothing_is_refused_not_a_pass(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.soak import report

    with pytest.raises(SystemExit) as exit_info:
        report(Counter(), [(0.0, 100.0)])
    assert exit_info.value.code != 0
    captured = capsys.readouterr()
    assert "target < 5%" not in captured.out and "no request was answered" in captured.err

    with pytest.raises(SystemExit):  # requests answered, but no sample in the second half of its own
        report(Counter({("plain", 200): 5}), [(0.0, 100.0), (10.0, 100.0)])
    assert "target < 5%" not in capsys.readouterr().out

    report(Counter({("plain", 200): 5}), [(0.0, 100.0), (10.0, 100.0), (20.0, 102.0)])
    assert "second half growth +2.0% (target < 5%)" in capsys.readouterr().out


def test_a_margin_no_f1_can_reach_is_called_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.real_accuracy import print_table

    def metrics(surface: float) -> dict:
        f1 = {name: {"f1": 0.9} for name in ("emotional", "growth")} | {"surface": {"f1": surface}}
        cause = {"system_error": {"recall": 0.9}}
        return {"n": 100, "needs": f1, "needs_macro_f1": 0.9, "cause_macro_f1": 0.9, "cause": cause, "cause_ece": 0.01}

    missed = print_table("dev", {"model": metrics(0.99), "baseline": metrics(0.977)})
    assert [m for m in missed if m.startswith("surface_f1")] == [
        "surface_f1 0.990 (target 0.95, baseline 0.977 + 0.05, unreachable: the baseline is within 0.05 of 1)"
    ]
    capsys.readouterr()


def test_ray_break_even_is_never_negative_nor_a_division_by_zero() -> None:
    from bench.ray_label import break_even

    assert break_even(10.0, local_rate=100.0, ray_rate=200.0) == "above ~2,000 texts"
    assert break_even(10.0, local_rate=100.0, ray_rate=100.0).startswith("never")
    assert break_even(10.0, local_rate=100.0, ray_rate=50.0).startswith("never")
    assert break_even(-1.0, local_rate=100.0, ray_rate=200.0).startswith("at any size")
