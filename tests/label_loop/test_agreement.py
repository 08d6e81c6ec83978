"""`needlens agreement`: kappa per label against hand-computed values, matched by text."""

import numpy as np
import pytest
from typer.testing import CliRunner

from label_loop.agreement import agreement, fleiss_kappa
from needlens.cli import app
from tests.conftest import write_jsonl
from training.data import DataError

runner = CliRunner()

TEXTS = ["屏幕坏了", "没人理我", "想学教程", "退款太慢", "规则没讲", "想参加内测"]


def labels(path, needs_and_causes, ids=None):
    return write_jsonl(
        path,
        [
            {"id": (ids or [f"r{i}" for i in range(len(TEXTS))])[i], "text": t, "needs": n, "cause": c}
            for i, (t, (n, c)) in enumerate(zip(TEXTS, needs_and_causes, strict=True))
        ],
    )


A = [
    (["surface"], "system_error"),
    (["emotional"], "perception_mismatch"),
    (["growth"], "none"),
    (["surface"], "system_error"),
    (["emotional"], "perception_mismatch"),
    (["growth"], "none"),
]
B = [  # disagrees with A on the 4th text's cause and the 5th text's needs
    (["surface"], "system_error"),
    (["emotional"], "perception_mismatch"),
    (["growth"], "none"),
    (["surface"], "perception_mismatch"),
    (["surface", "emotional"], "perception_mismatch"),
    (["growth"], "none"),
]


def test_cohen_kappa_per_label_with_texts_matched_not_ids(tmp_path):
    a = labels(tmp_path / "a.jsonl", A)
    b = labels(tmp_path / "b.jsonl", B, ids=[f"other-{i}" for i in range(6)])
    report = agreement([a, b])
    by = {x.label: x for x in report.labels}
    assert report.matched == 6
    assert by["emotional"].kappa == pytest.approx(1.0) and by["growth"].raw_agreement == 1.0
    # surface: A = 1,0,0,1,0,0; B = 1,0,0,1,1,0 → po 5/6, pe = (2/6)(3/6) + (4/6)(3/6) = 0.5
    assert by["surface"].kappa == pytest.approx((5 / 6 - 0.5) / 0.5)
    # cause: po 5/6; A shares (2,2,2)/6, B (1,3,2)/6 → pe = (2+6+4)/36 = 1/3
    assert by["cause"].kappa == pytest.approx((5 / 6 - 1 / 3) / (2 / 3)) and by["cause"].kappa_kind == "cohen"


def test_fleiss_kappa_matches_the_textbook_example():
    # Fleiss (1971)-style check: 4 texts, 3 raters, 2 categories
    ratings = [[0, 0, 0], [1, 1, 1], [0, 0, 1], [1, 1, 0]]
    # P_i = 1, 1, 1/3, 1/3 → P̄ = 2/3; p = (6/12, 6/12) → Pe = 1/2; κ = (2/3 - 1/2) / (1/2) = 1/3
    assert fleiss_kappa(np.array(ratings), 2) == pytest.approx(1 / 3)


def test_three_files_use_fleiss_and_the_command_prints_a_table(tmp_path):
    files = [labels(tmp_path / f"{n}.jsonl", rows) for n, rows in (("a", A), ("b", B), ("c", A))]
    assert {x.kappa_kind for x in agreement(files).labels} == {"fleiss"}
    result = runner.invoke(app, ["agreement", *map(str, files)])
    assert result.exit_code == 0, result.output
    assert "6 texts labeled in all 3 files" in result.output and "fleiss" in result.output


def test_files_without_shared_texts_are_refused(tmp_path):
    a = labels(tmp_path / "a.jsonl", A)
    b = write_jsonl(
        tmp_path / "b.jsonl", [{"id": "x", "text": "完全不同的文本", "needs": ["surface"], "cause": "none"}]
    )
    with pytest.raises(DataError, match="share no texts"):
        agreement([a, b])
    result = runner.invoke(app, ["agreement", str(a)])
    assert result.exit_code == 2 and "at least two" in result.output


def test_one_file_given_twice_is_refused_not_scored_kappa_1(tmp_path, monkeypatch):
    a = labels(tmp_path / "a.jsonl", A)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["agreement", str(a), "a.jsonl"])  # the same file, spelled two ways
    assert result.exit_code == 2 and "a.jsonl: given twice" in result.output and "1.000" not in result.output


def test_a_label_that_never_varies_has_no_kappa_and_says_so(tmp_path):
    same = [(["surface"], "system_error")] * 6
    files = [labels(tmp_path / f"{n}.jsonl", same) for n in "abc"]
    for pair in (files[:2], files):  # Cohen's and Fleiss' kappa are both 0/0 here
        by = {x.label: x for x in agreement(pair).labels}
        assert by["surface"].kappa is None and by["surface"].raw_agreement == 1.0
    assert fleiss_kappa(np.zeros((4, 3), dtype=int), 2) is None
    result = runner.invoke(app, ["agreement", *map(str, files[:2])])
    assert result.exit_code == 0 and "one value throughout" in result.output, result.output
