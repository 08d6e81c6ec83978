"""Checks of labels as they arrive: label mix, judges, per-annotator holds, swapped columns, and
`needlens labels import|quarantine|annotators`."""

import json
import re
import sqlite3

import numpy as np
import pytest
from typer.testing import CliRunner

from classifier.inference import Predictor
from classifier.labels import LabeledRecord, Labels
from classifier.settings import ArrivalSettings
from label_loop.admission import admit_batch
from label_loop.agreement import annotator_agreement
from label_loop.arrival import ArrivalCheck
from label_loop.importer import ImportRefused, import_labels
from label_loop.store import SCHEMA_VERSION, LabelStore, NewLabel, QuarantineError
from needlens.cli import app
from tests.conftest import toy_records
from tests.lifecycle.test_gate import POISON, new_toy_rows, write_rows

runner = CliRunner()
REFERENCE = [Labels(needs=[r["needs"][0]], cause=r["cause"]) for r in toy_records()]


class TruthJudge:
    """Contradicts every label whose cause is not the true one; honest labels: ``expected``."""

    name = "the truth"

    def __init__(self, truth: dict[str, str], expected: float = 0.0) -> None:
        self.truth, self.expected = truth, expected

    def contradicts(self, records):
        return np.array([self.truth[r.text] != r.cause for r in records])


def labels(rows, annotator=None, source="import:x.csv"):
    return [NewLabel(text, Labels(needs=[need], cause=cause), source, annotator) for text, need, cause in rows]


def records(rows):
    return [
        LabeledRecord(id=str(i), text=text, needs=[need], cause=cause) for i, (text, need, cause) in enumerate(rows)
    ]


def test_a_batch_whose_label_mix_is_far_from_the_reference_is_held_with_the_shares_in_the_reason():
    check = ArrivalCheck(REFERENCE, [], ArrivalSettings()).check(records(POISON))
    assert check.suspicious and check.reasons == ["100% growth against 33% in the reference"]
    honest = ArrivalCheck(REFERENCE, [], ArrivalSettings()).check(records(new_toy_rows(10, 3)))
    assert not honest.suspicious and honest.summary().startswith("30 labels: label mix within the limit")


def test_a_judge_is_measured_against_its_own_rate_on_honest_labels():
    rows = new_toy_rows(10, 3)
    truth = {text: cause for text, _, cause in rows}
    wrong = [(text, need, "none" if i % 2 else cause) for i, (text, need, cause) in enumerate(rows)]
    assert ArrivalCheck([], [TruthJudge(truth)], ArrivalSettings()).check(records(wrong)).suspicious
    # the same 33% contradicted is ordinary for a judge that contradicts 30% of honest labels
    lenient = ArrivalCheck([], [TruthJudge(truth, expected=0.3)], ArrivalSettings()).check(records(wrong))
    assert not lenient.suspicious and lenient.summary() == "30 labels; the truth contradicts 33% (honest labels 30%)"


def test_a_batch_is_held_only_when_every_judge_contradicts_it():
    rows = new_toy_rows(10, 3)
    wrong = [(text, need, "none") for text, need, _ in rows]
    blind = TruthJudge({text: cause for text, _, cause in rows})  # e.g. a model that never saw this domain
    agreeing = TruthJudge({text: "none" for text, _, _ in rows})
    check = ArrivalCheck([], [blind, agreeing], ArrivalSettings()).check(records(wrong))
    assert not check.suspicious and [j.rate for j in check.judges] == [pytest.approx(2 / 3), 0.0]
    assert ArrivalCheck([], [blind, blind], ArrivalSettings()).check(records(wrong)).suspicious


def test_batches_smaller_than_min_labels_are_admitted_unjudged():
    check = ArrivalCheck(REFERENCE, [], ArrivalSettings(min_labels=20)).check(records(POISON[:5]))
    assert not check.suspicious and check.summary() == "5 labels: too few to judge"


def test_one_careless_annotator_is_held_while_the_others_land(tmp_path):
    rows = new_toy_rows(40, 4)  # 120 texts, 30 per annotator
    truth = {text: cause for text, _, cause in rows}
    rng = np.random.default_rng(0)
    batch = []
    for i, name in enumerate(["ann", "bo", "cy", "careless"]):
        mine = rows[i::4]
        if name == "careless":  # labels clicked at random
            mine = [(t, n, str(rng.choice(["system_error", "perception_mismatch", "none"]))) for t, n, _ in mine]
        batch += labels(mine, annotator=name)
    store = LabelStore(tmp_path / "l.db")
    admission = admit_batch(
        store, batch, "import:team.csv", lambda: ArrivalCheck(REFERENCE, [TruthJudge(truth)], ArrivalSettings())
    )
    (held,) = admission.held
    assert held.labels == 30 and held.reason.startswith("annotator careless: the truth disagrees with")
    assert admission.added == 90 and {e.label.annotator for e in store.current()} == {"ann", "bo", "cy"}
    assert not admission.checks["batch"].suspicious  # the others, judged without the careless one, pass


def test_a_careless_annotator_who_spoils_the_whole_batch_is_still_held_alone(tmp_path):
    rows = new_toy_rows(20, 4)  # 60 texts: half careless, enough to make the whole batch suspicious
    truth = {text: cause for text, _, cause in rows}
    wrong = [(t, n, "none" if c != "none" else "system_error") for t, n, c in rows[1::2]]
    careful, careless = labels(rows[::2], annotator="ana"), labels(wrong, annotator="eve")
    check = ArrivalCheck(REFERENCE, [TruthJudge(truth)], ArrivalSettings())
    assert check.check(records(rows[::2] + wrong)).suspicious  # judged whole, the batch would be held whole
    store = LabelStore(tmp_path / "l.db")
    admission = admit_batch(store, careful + careless, "import:team.csv", lambda: check)
    (held,) = admission.held
    assert held.labels == len(careless) and held.reason.startswith("annotator eve:")
    assert admission.added == len(careful) and {e.label.annotator for e in store.current()} == {"ana"}


def test_reimporting_a_held_file_adds_nothing_and_holds_nothing_new(tmp_path):
    store = LabelStore(tmp_path / "l.db")
    path = write_rows(tmp_path / "poison.csv", POISON)

    def make_check():
        return ArrivalCheck(REFERENCE, [], ArrivalSettings())

    first = import_labels(store, path, make_check=make_check)
    again = import_labels(store, path, make_check=make_check)
    assert len(first.admission.held) == 1 and (again.added, again.skipped, again.admission.held) == (0, 120, [])
    store.decide(first.admission.held[0].batch_id, accept=False, by="lead")
    assert import_labels(store, path, make_check=make_check).skipped == 120  # rejected stays rejected
    assert store.current() == []


def test_a_swapped_columns_import_is_refused_whole_at_import(tmp_path):
    store = LabelStore(tmp_path / "l.db")
    swapped = write_rows(tmp_path / "swapped.csv", [(t, c, n) for t, n, c in new_toy_rows(10, 5)])
    with pytest.raises(ImportRefused, match=r"needs and cause columns look swapped \(30 of 30 rows"):
        import_labels(store, swapped, make_check=lambda: pytest.fail("refused before any check is built"))
    assert store.count_events() == 0 and store.quarantine_batches() == []
    result = runner.invoke(app, ["labels", "import", str(swapped), "--store", str(tmp_path / "l.db")])
    assert result.exit_code == 2 and "look swapped" in result.output and "nothing was imported" in result.output


def test_a_schema_1_store_keeps_its_labels_and_gains_quarantine_and_gold(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE label_events (id INTEGER PRIMARY KEY AUTOINCREMENT, text_hash TEXT NOT NULL,"
            " text TEXT NOT NULL, needs TEXT NOT NULL, cause TEXT NOT NULL, source TEXT NOT NULL, annotator TEXT,"
            " note TEXT, model_version TEXT, created_at TEXT NOT NULL);"
            "CREATE VIEW current_labels AS SELECT * FROM label_events AS e"
            " WHERE e.id = (SELECT MAX(id) FROM label_events WHERE text_hash = e.text_hash);"
            "INSERT INTO label_events (text_hash, text, needs, cause, source, created_at)"
            " VALUES ('h', '退款太慢', '[\"surface\"]', 'system_error', 'feedback', '2026-01-01');"
            "PRAGMA user_version = 1;"
        )
    store = LabelStore(path)
    assert [e.label.text for e in store.current()] == ["退款太慢"]
    batch = store.hold(labels(POISON[:2]), "import:p.csv", "test")
    assert store.quarantine_batches()[0].id == batch and len(store.current()) == 1
    assert store.add_gold(labels(POISON[:1], annotator="lead", source="gold")) == (1, 0)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_held_labels_train_nothing_until_accepted_and_a_batch_is_decided_once(tmp_path):
    store = LabelStore(tmp_path / "l.db")
    batch = store.hold(labels(POISON[:3]), "import:p.csv", "100% growth against 33% in the reference")
    assert store.current() == [] and [e.label.text for e in store.held_labels(batch)] == [t for t, _, _ in POISON[:3]]
    assert store.decide(batch, accept=True, by="lead", note="checked by hand") == (3, 0)
    assert len(store.current()) == 3
    with pytest.raises(QuarantineError, match=f"quarantine batch {batch} was already accepted"):
        store.decide(batch, accept=False)
    with pytest.raises(QuarantineError, match="no quarantine batch 99"):
        store.decide(99, accept=True)
    (decided,) = store.quarantine_batches(include_decided=True)
    assert (decided.status, decided.decided_by, decided.decision_note) == ("accepted", "lead", "checked by hand")


def test_cli_import_holds_a_poisoned_file_and_quarantine_commands_decide_it(toy_model, toy_data, tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLENS_DEFAULT_DATA", json.dumps([str(toy_data)]))
    store = str(tmp_path / "l.db")
    path = write_rows(tmp_path / "poison.csv", POISON)
    result = runner.invoke(app, ["labels", "import", str(path), "--store", store, "--model", str(toy_model[0])])
    output = " ".join(result.output.split())
    assert result.exit_code == 1, output
    assert "0 labels added" in output and "120 held in quarantine" in output
    assert "quarantine batch 1 (120 labels): 100% growth against 33% in the reference" in output
    stats = runner.invoke(app, ["labels", "stats", "--store", store])
    assert "quarantine: 120 labels in 1 held batches" in " ".join(stats.output.split())
    listing = runner.invoke(app, ["labels", "quarantine", "list", "--store", store])
    assert listing.exit_code == 0 and "1 quarantine batches" in listing.output and "held" in listing.output
    shown = runner.invoke(app, ["labels", "quarantine", "show", "1", "--store", store, "--limit", "2"])
    assert shown.exit_code == 0 and "first 2" in shown.output
    decision = ["--by", "lead", "--note", "一个人的随手标注"]
    rejected = runner.invoke(app, ["labels", "quarantine", "reject", "1", "--store", store, *decision])
    assert rejected.exit_code == 0 and "batch 1 rejected" in rejected.output
    (decided,) = LabelStore(tmp_path / "l.db").quarantine_batches(include_decided=True)
    assert (decided.decided_by, decided.decision_note) == ("lead", "一个人的随手标注")
    again = runner.invoke(app, ["labels", "quarantine", "accept", "1", "--store", store])
    assert again.exit_code == 2 and "already rejected" in again.output
    assert LabelStore(tmp_path / "l.db").current() == []


def test_without_model_the_registrys_active_version_found_through_the_home_judges_and_a_missing_one_is_named(
    toy_model, toy_data, tmp_path, monkeypatch
):
    """Without --model the import used to look for config.json in the registry folder itself,
    found none, and dropped the model judge without a word; so did `labels annotators`."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(toy_model[0], home / "models" / "registry" / "versions" / "v1")
    (home / "models" / "registry" / "ACTIVE").write_text("v1\n", encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setenv("NEEDLENS_HOME", str(home))
    monkeypatch.setenv("NEEDLENS_DEFAULT_DATA", json.dumps([str(toy_data)]))
    path = write_rows(tmp_path / "honest.csv", new_toy_rows(10, 5))
    store = str(tmp_path / "l.db")
    result = runner.invoke(app, ["labels", "import", str(path), "--store", store])
    output = " ".join(result.output.split())
    assert result.exit_code == 0, output
    assert "the active model (" in output and "audit contradicts" in output and "note:" not in output
    shown = runner.invoke(app, ["labels", "annotators", "--store", store])
    assert shown.exit_code == 0 and "100%" in shown.output, shown.output

    shutil.rmtree(home / "models")
    monkeypatch.setenv("NEEDLENS_DEFAULT_DATA", json.dumps([str(tmp_path / "gone")]))
    result = runner.invoke(app, ["labels", "import", str(path), "--store", str(tmp_path / "l2.db")])
    output = " ".join(result.output.split())
    assert result.exit_code == 0, output
    assert "note: no bundled labeled data" in output and "note: no model to judge the labels" in output
    assert "the active model (" not in output


def test_annotator_agreement_singles_out_the_careless_one(toy_model):
    rows = new_toy_rows(20, 6)
    careful = labels(rows[:40], annotator="ann") + labels(rows[20:60], annotator="bo")  # 20 texts shared
    careless = labels([(t, "growth", "none") for t, _, _ in rows[:30]], annotator="careless")
    figures = {r.annotator: r for r in annotator_agreement(careful + careless, Predictor.load(toy_model[0]), 0.9)}
    assert figures["ann"].model_cause == 1.0 and figures["careless"].model_cause < 0.5
    assert figures["careless"].model_contradicts > 0.5 > figures["bo"].model_contradicts
    assert figures["careless"].shared_texts == 30 and figures["careless"].peer_cause == 0.0
    assert figures["bo"].shared_texts == 20 and figures["bo"].peer_cause == pytest.approx(20 / 30)  # 10 with careless


def test_cli_gold_add_marks_adjudicated_labels_and_show_prints_the_new_version(toy_data, tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLENS_DEFAULT_DATA", json.dumps([str(toy_data)]))
    store = str(tmp_path / "l.db")
    before = runner.invoke(app, ["labels", "gold", "show", "--store", store])
    path = write_rows(tmp_path / "adjudicated.csv", [*new_toy_rows(1, 7), ("", "surface", "none")])
    added = runner.invoke(app, ["labels", "gold", "add", str(path), "--by", "lead", "--store", store])
    output = " ".join(added.output.split())
    assert added.exit_code == 1 and "3 gold labels added" in output and "row 4: text is empty" in output
    assert "3 gold:lead" in output
    after = runner.invoke(app, ["labels", "gold", "show", "--store", store])
    version = re.search(r"gold set (gold-\S+):", before.output).group(1)  # after a note: no store yet
    assert before.exit_code == after.exit_code == 0 and version not in after.output


@pytest.mark.parametrize("command", ["show", "accept", "reject"])
@pytest.mark.parametrize(
    ("batch", "said"),
    [("7", "no quarantine batch 7"), ("99999999999999999999999", "less than or equal to 9223372036854775807")],
)
def test_quarantine_commands_on_a_batch_that_does_not_exist_are_one_line_errors(tmp_path, command, batch, said):
    store = LabelStore(tmp_path / "l.db")
    store.hold(labels(POISON[:2]), "import:p.csv", "test")
    result = runner.invoke(app, ["labels", "quarantine", command, batch, "--store", str(tmp_path / "l.db")])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert said in " ".join(result.output.replace("│", " ").split())


def test_a_blank_decider_is_refused_before_the_batch_is_decided(tmp_path):
    store = LabelStore(tmp_path / "l.db")
    batch = store.hold(labels(POISON[:2]), "import:p.csv", "test")
    args = ["labels", "quarantine", "accept", str(batch), "--store", str(tmp_path / "l.db"), "--by", " "]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "--by: blank" in result.output
    assert store.quarantine_batches()[0].status == "held"
