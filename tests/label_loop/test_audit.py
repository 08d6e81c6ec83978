"""`needlens audit` finds planted label flips, and little else, from out-of-fold predictions."""

import csv

from typer.testing import CliRunner

from classifier.labels import parse_record
from label_loop.audit import audit_records
from needlens.cli import app
from tests.conftest import toy_records, write_jsonl

runner = CliRunner()


def planted(n_flips: int = 6) -> tuple[list[dict], set[str]]:
    records = toy_records(n_per_class=40, seed=5)
    flipped = set()
    for record in records:
        if record["cause"] == "system_error" and len(flipped) < n_flips:
            record.update(needs=["growth"], cause="none")
            flipped.add(record["id"])
    return records, flipped


def test_audit_finds_planted_flips_and_suggests_the_right_label():
    raw, flipped = planted()
    records = [parse_record(r, f"toy:{i}") for i, r in enumerate(raw)]
    findings = audit_records(records, "use-m3", 256, folds=3, confidence=0.7, seed=0)
    found = {f.record.id for f in findings}
    assert flipped <= found
    assert len(found - flipped) <= 3  # the rest of the data is left alone
    for finding in findings:
        if finding.record.id in flipped:
            assert finding.suggested_cause == "system_error" and finding.suggested_needs == ["surface"]


def test_audit_command_writes_a_report_sorted_by_confidence(tmp_path):
    raw, flipped = planted(3)
    data = write_jsonl(tmp_path / "labels.jsonl", raw)
    out = tmp_path / "audit.csv"
    no_store = {"NEEDLENS_LABEL_STORE": str(tmp_path / "none.db")}  # the default store, not created yet: no labels
    result = runner.invoke(app, ["audit", "--data", str(data), "-o", str(out), "--folds", "3"], env=no_store)
    assert result.exit_code == 0, result.output
    assert f"of {len(raw)} labeled texts flagged" in result.output
    with out.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["id"] for r in rows} >= flipped
    confidences = [float(r["confidence"]) for r in rows]
    assert confidences == sorted(confidences, reverse=True)
    assert all(r["suggested_cause"] and r["disagreements"] for r in rows)


def test_audit_refuses_flags_it_would_ignore(tmp_path):
    data = write_jsonl(tmp_path / "labels.jsonl", planted(3)[0])
    out = str(tmp_path / "audit.csv")
    typo = runner.invoke(app, ["audit", "--data", str(data), "--store", str(tmp_path / "lables.db"), "-o", out])
    assert typo.exit_code == 2 and "no label store at" in typo.output and not (tmp_path / "lables.db").exists()
    both = runner.invoke(app, ["audit", "--data", str(data), "--no-seed", "-o", out])
    assert both.exit_code == 2 and "ignored: give one" in both.output
    retrain = runner.invoke(app, ["retrain", "--data", str(data), "--no-seed", "--registry", str(tmp_path / "r")])
    assert retrain.exit_code == 2 and "ignored: give one" in retrain.output and not (tmp_path / "r").exists()
    typo_retrain = runner.invoke(
        app, ["retrain", "--store", str(tmp_path / "lables.db"), "--registry", str(tmp_path / "r")]
    )
    assert typo_retrain.exit_code == 2 and "no label store at" in typo_retrain.output
