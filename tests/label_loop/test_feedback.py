"""Feedback labels wait in their annotator's batch, out of training, until the arrival checks
judge the batch (``label_loop.feedback``): the state lives in the store, shared and durable."""

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from classifier.labels import Labels
from classifier.settings import ArrivalSettings
from label_loop.arrival import ArrivalCheck
from label_loop.feedback import FeedbackInbox
from label_loop.store import LabelStore, NewLabel
from needlens.cli import app
from tests.label_loop.test_arrival import REFERENCE, TruthJudge
from tests.lifecycle.test_gate import new_toy_rows

SETTINGS = ArrivalSettings(min_labels=10)
runner = CliRunner()


def interleaved(per_class: int, seed: int) -> list[tuple[str, str, str]]:
    """Toy rows not in the seed data, the three classes taking turns (so every batch's mix is even)."""
    rows = new_toy_rows(per_class, seed)
    return [rows[c * per_class + i] for i in range(per_class) for c in range(3)]


ROWS = interleaved(10, 3)
TRUTH = {text: cause for text, _, cause in ROWS}
NEXT = {("surface", "system_error"): ("emotional", "perception_mismatch")}
NEXT |= {("emotional", "perception_mismatch"): ("growth", "none"), ("growth", "none"): ("surface", "system_error")}
"""A careless annotator's labels: each text gets another class's, so the batch's mix looks even."""


def feedback(rows, annotator):
    return [NewLabel(text, Labels(needs=[need], cause=cause), "feedback", annotator) for text, need, cause in rows]


def careless(rows):
    return [(text, *NEXT[(need, cause)]) for text, need, cause in rows]


def check():
    return ArrivalCheck(REFERENCE, [TruthJudge(TRUTH)], SETTINGS)


@pytest.fixture
def inbox(tmp_path):
    return FeedbackInbox(LabelStore(tmp_path / "labels.db"), SETTINGS)


def send(inbox, labels):
    """Each label as one request: recorded, then whatever is due judged."""
    ids = []
    for label in labels:
        ids.append(inbox.receive(label))
        inbox.judge_due(check)
    return ids


def test_feedback_waits_out_of_training_until_its_annotators_batch_reaches_min_labels(inbox):
    ids = send(inbox, feedback(ROWS[:9], "li"))
    assert inbox.store.current() == [] and inbox.store.count_events() == 0
    ninth = inbox.state(ids[-1])
    assert (ninth.status, ninth.waiting) == ("pending", 9)
    assert ninth.reason.startswith("waits in the batch of annotator li: 9 of 10 labels (judged at 10")
    (tenth,) = send(inbox, feedback(ROWS[9:10], "li"))
    assert [inbox.state(i).status for i in [*ids, tenth]] == ["admitted"] * 10
    assert (
        inbox.state(tenth).reason
        == "10 labels: label mix within the limit; the truth contradicts 0% (honest labels 0%)"
    )
    assert len(inbox.store.current()) == 10 and inbox.waiting() == []


def test_a_careless_annotators_feedback_is_held_one_batch_at_a_time_and_never_trained_on(inbox):
    ids = send(inbox, feedback(careless(ROWS), "sloppy"))
    states = [inbox.state(i) for i in ids]
    assert [s.status for s in states] == ["held"] * 30
    assert len({s.batch_id for s in states}) == 3 and states[0].reason.startswith("the truth disagrees with 100%")
    assert [(b.source, b.labels) for b in inbox.store.quarantine_batches()] == [("feedback:sloppy", 10)] * 3
    assert inbox.store.current() == []
    inbox.store.decide(states[0].batch_id, accept=True, by="lead")
    inbox.store.decide(states[10].batch_id, accept=False, by="lead")
    accepted, rejected, held = (inbox.state(i) for i in (ids[0], ids[10], ids[20]))
    assert (accepted.status, rejected.status, held.status) == ("admitted", "rejected", "held")
    assert rejected.reason.startswith("quarantine batch 2 rejected by lead; it was held for: the truth disagrees")


def test_of_two_annotators_sending_at_once_only_the_careless_ones_batch_is_held(inbox):
    honest, sloppy = feedback(ROWS[:15], "ann"), feedback(careless(ROWS[15:]), "sloppy")
    ids = send(inbox, [label for pair in zip(honest, sloppy, strict=True) for label in pair])
    assert {inbox.state(i).annotator: inbox.state(i).status for i in ids[:20]} == {"ann": "admitted", "sloppy": "held"}
    assert {e.label.annotator for e in inbox.store.current()} == {"ann"}
    assert [(b.annotator, b.labels) for b in inbox.waiting()] == [("ann", 5), ("sloppy", 5)]


def test_the_inbox_is_the_store_a_new_inbox_on_the_same_file_carries_on(tmp_path):
    path = tmp_path / "labels.db"
    send(FeedbackInbox(LabelStore(path), SETTINGS), feedback(careless(ROWS[:6]), "sloppy"))
    restarted = FeedbackInbox(LabelStore(path), SETTINGS)
    ids = send(restarted, feedback(careless(ROWS[6:10]), "sloppy"))
    assert restarted.state(ids[-1]).status == "held"
    assert [b.labels for b in restarted.store.quarantine_batches()] == [10]


def test_a_batch_short_of_min_labels_is_admitted_unjudged_after_the_time_limit(inbox):
    (first,) = send(inbox, feedback(ROWS[:1], "rare"))
    assert inbox.judge_due(check, now=datetime.now(UTC) + timedelta(hours=167)) == []
    (judged,) = inbox.judge_due(lambda: pytest.fail("too few to judge"), now=datetime.now(UTC) + timedelta(hours=169))
    assert judged.name == "annotator rare" and judged.admission.added == 1
    assert inbox.state(first).reason == "1 labels: too few to judge, admitted unjudged"


def test_small_batches_that_expire_are_judged_together_so_a_new_name_per_request_evades_nothing(inbox):
    labels = feedback(careless(ROWS[:12]), None)
    labels = [NewLabel(x.text, x.labels, x.source, f"client-{i}") for i, x in enumerate(labels)]  # a name per request
    send(inbox, [*labels, *feedback(ROWS[12:14], "ann")])
    assert inbox.store.quarantine_batches() == [] and len(inbox.waiting()) == 13
    (judged,) = inbox.judge_due(check, now=datetime.now(UTC) + timedelta(hours=169))
    assert (
        judged.name
        == "13 batches under 10 labels, together (annotator client-0, annotator client-1, annotator client-2, …)"
    )
    (batch,) = inbox.store.quarantine_batches()
    assert (batch.source, batch.labels) == ("feedback", 14) and batch.reason.startswith("the truth disagrees with")
    assert inbox.waiting() == [] and inbox.store.current() == []


def test_the_same_label_sent_twice_is_a_duplicate_and_counts_once(inbox):
    first, again = send(inbox, feedback(ROWS[:1] * 2, "li"))
    assert (
        inbox.state(again).status == "duplicate" and f"waits already, as feedback {first}" in inbox.state(again).reason
    )
    assert inbox.state(first).waiting == 1
    inbox.judge_due(check, annotators=["li"])
    (third,) = send(inbox, feedback(ROWS[:1], "li"))
    assert inbox.state(third).status == "duplicate" and "already recorded" in inbox.state(third).reason
    # another annotator's same label is a judgement of its own, recorded for the agreement figures
    (other,) = send(inbox, feedback(ROWS[:1], "bo"))
    assert inbox.state(other).status == "pending"
    inbox.judge_due(check, annotators=["bo"])
    assert [e.label.annotator for e in inbox.store.history(ROWS[0][0])] == ["li", "bo"]


def test_a_judgement_that_fails_leaves_its_labels_waiting_for_the_next_try(inbox):
    for label in feedback(ROWS[:10], "li"):
        inbox.receive(label)

    def broken():
        raise RuntimeError("the encoder is missing")

    with pytest.raises(RuntimeError):
        inbox.judge_due(broken)
    assert inbox.store.count_events() == 0 and inbox.waiting()[0].labels == 10
    assert [j.admission.added for j in inbox.judge_due(check)] == [10]  # not left claimed


def test_two_workers_never_judge_the_same_batch_and_a_dead_workers_claim_is_taken_over(tmp_path):
    path = tmp_path / "labels.db"
    first, second = (FeedbackInbox(LabelStore(path), SETTINGS) for _ in range(2))
    for label in feedback(ROWS[:10], "li"):
        first.receive(label)
    building, go_on = threading.Event(), threading.Event()

    def slow_check():
        building.set()
        go_on.wait(10)
        return check()

    worker = threading.Thread(target=first.judge_due, args=(slow_check,))
    worker.start()
    assert building.wait(10)
    assert second.judge_due(check) == []  # claimed by the first worker, which is still judging
    later = datetime.now(UTC) + timedelta(minutes=11)
    (taken_over,) = second.judge_due(check, now=later)  # as if the first had died with its claim
    go_on.set()
    worker.join()
    assert taken_over.admission.added == 10
    assert first.store.count_events() == 10 and [b.labels for b in first.store.quarantine_batches()] == []


def test_cli_lists_waiting_feedback_shows_it_per_annotator_and_flush_judges_it_now(
    toy_model, toy_data, tmp_path, monkeypatch
):
    monkeypatch.setenv("NEEDLENS_DEFAULT_DATA", json.dumps([str(toy_data)]))
    monkeypatch.setenv("COLUMNS", "200")
    store = ["--store", str(tmp_path / "labels.db")]
    inbox = FeedbackInbox(LabelStore(tmp_path / "labels.db"), ArrivalSettings())  # judged at 20
    for label in feedback(careless(ROWS[:12]), "sloppy") + feedback(ROWS[12:15], "ann"):
        inbox.receive(label)

    listing = runner.invoke(app, ["labels", "feedback", "list", *store])
    assert listing.exit_code == 0 and "15 feedback labels waiting in 2 batches" in listing.output
    assert "annotator sloppy │ 12" in listing.output
    stats = runner.invoke(app, ["labels", "stats", *store])
    assert "feedback: 15 labels waiting in 2 annotators' batches" in " ".join(stats.output.split())
    annotators = runner.invoke(app, ["labels", "annotators", *store, "--model", str(toy_model[0])])
    sloppy = next(line for line in annotators.output.splitlines() if "sloppy" in line)
    assert [cell.strip() for cell in sloppy.split("│")[2:6]] == ["12", "0", "12", "0%"]  # labels, held, waiting, model

    flushed = runner.invoke(app, ["labels", "feedback", "flush", *store, "--annotator", "ann"])
    output = " ".join(flushed.output.split())
    assert flushed.exit_code == 0 and "annotator ann: 3 labels added, 0 duplicates, 0 held" in output
    assert "not checked: fewer than 20 new labels" in output and len(inbox.store.current()) == 3

    monkeypatch.setenv("NEEDLENS_ARRIVAL__MIN_LABELS", "10")
    flushed = runner.invoke(app, ["labels", "feedback", "flush", *store, "--model", str(toy_model[0])])
    output = " ".join(flushed.output.split())
    assert flushed.exit_code == 1 and "annotator sloppy: 0 labels added, 0 duplicates, 12 held" in output
    assert "quarantine batch 1 (12 labels): the active model" in output and inbox.waiting() == []
    again = runner.invoke(app, ["labels", "feedback", "flush", *store])
    assert again.exit_code == 0 and "no feedback waiting" in again.output
