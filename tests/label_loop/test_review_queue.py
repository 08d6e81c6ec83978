"""The review queue: which items wait, who holds them, and that no decision is lost."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from classifier.labels import Labels
from label_loop.predictions import NewPrediction, PredictionStore
from label_loop.review_import import read_queue_file
from label_loop.review_queue import ItemHeld, QueuedText, QueueFilter, ReviewQueue
from label_loop.store import LabelStore, text_hash
from tests.conftest import write_csv

SURFACE = Labels(needs=["surface"], cause="system_error")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stored(text, needs_review=True, keep_text=True, cause="system_error", model_version="m1", domain=None):
    return NewPrediction(
        text=text,
        source="api",
        model_version=model_version,
        needs=["surface"],
        cause=cause,
        probabilities={"surface": 0.6, cause: 0.5},
        needs_review=needs_review,
        prediction={"needs": ["surface"], "cause": cause, "needs_review": ["cause"] if needs_review else []},
        metadata={"domain": domain} if domain else {},
        keep_text=keep_text,
    )


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def queue(tmp_path, clock):
    store = LabelStore(tmp_path / "labels.db")
    return ReviewQueue(store, PredictionStore(store), clock)


def test_queued_texts_wait_in_order_and_a_text_is_queued_once(queue):
    added = queue.enqueue([QueuedText("屏幕坏了", "suggest:a.csv"), QueuedText("想学教程", "suggest:a.csv")])
    assert added == (2, 0)
    assert queue.enqueue([QueuedText(" 屏幕坏了 ", "import:b.csv")]) == (0, 1)  # same content hash
    waiting, total = queue.waiting(QueueFilter(), 10)
    assert [item.text for item in waiting] == ["屏幕坏了", "想学教程"] and total == 2


def test_stored_predictions_wait_only_when_flagged_and_readable(queue):
    predictions = queue.predictions
    predictions.add([stored("要复核的"), stored("不用复核", needs_review=False), stored("只存了哈希", keep_text=False)])
    waiting, total = queue.waiting(QueueFilter(), 10)
    assert [item.text for item in waiting] == ["要复核的"] and total == 1
    assert waiting[0].key.startswith("p") and waiting[0].prediction["cause"] == "system_error"


def test_filters_pick_by_source_label_model_version_and_domain(queue):
    queue.predictions.add(
        [stored("旧模型的", model_version="m0"), stored("保险的", domain="insurance", cause="perception_mismatch")]
    )
    queue.enqueue([QueuedText("排队的", "import:a.csv", metadata={"domain": "insurance"})])

    def texts(**wanted):
        return [item.text for item in queue.waiting(QueueFilter(**wanted), 10)[0]]

    assert texts() == ["保险的", "旧模型的", "排队的"]  # stored newest first, then queued in order
    assert texts(source="queued") == ["排队的"]
    assert texts(source="stored") == ["保险的", "旧模型的"]
    assert texts(label="perception_mismatch") == ["保险的"]  # a queued text has no stored prediction to filter by
    assert texts(model_version="m0") == ["旧模型的"]
    assert texts(domain="insurance") == ["保险的", "排队的"]


def test_two_annotators_never_hold_the_same_item_until_the_lease_runs_out(queue, clock):
    queue.enqueue([QueuedText("一", "import:a"), QueuedText("二", "import:a")])
    ana = queue.claim_next("ana", QueueFilter(), lease_s=60)
    bo = queue.claim_next("bo", QueueFilter(), lease_s=60)
    assert ana.item.key != bo.item.key
    assert queue.claim_next("cy", QueueFilter(), lease_s=60) is None  # both held
    assert not queue.claim(ana.item, "cy", 60).held and queue.claim(ana.item, "cy", 60).holder == "ana"
    assert queue.claim_next("ana", QueueFilter(), lease_s=60).item.key == ana.item.key  # her own, renewed
    clock.now += 61
    taken = queue.claim_next("cy", QueueFilter(), lease_s=60)
    assert taken is not None and taken.held  # an expired lease is free


def test_claims_at_the_same_moment_get_different_items(queue):
    queue.enqueue([QueuedText(f"文本{i}", "import:a") for i in range(8)])
    with ThreadPoolExecutor(8) as pool:
        claims = list(pool.map(lambda i: queue.claim_next(f"annotator{i}", QueueFilter(), 60), range(8)))
    keys = [claim.item.key for claim in claims]
    assert len(set(keys)) == 8


def test_a_decision_is_a_review_event_and_takes_the_item_out_of_the_queue(queue):
    queue.predictions.add([stored("金额算错了")])
    claim = queue.claim_next("ana", QueueFilter(), 60)
    decision = queue.decide(claim.item, "ana", SURFACE)
    assert decision.action == "accept"  # the model's labels, confirmed
    [event] = queue.store.history("金额算错了")
    assert (event.label.source, event.label.annotator, event.label.model_version) == ("review", "ana", "m1")
    assert queue.waiting(QueueFilter(), 10) == ([], 0)
    assert queue.claim_next("bo", QueueFilter(), 60) is None
    corrected = queue.decide(claim.item, "ana", Labels(needs=["emotional"], cause="perception_mismatch"))
    assert corrected.action == "correct"


def test_two_decisions_of_one_item_are_both_kept(queue, clock):
    queue.enqueue([QueuedText("都标了", "import:a")])
    ana = queue.claim_next("ana", QueueFilter(), 60)
    clock.now += 61  # ana went for lunch; bo takes the item, then is called away as long
    bo = queue.claim_next("bo", QueueFilter(), 60)
    assert bo.item.key == ana.item.key
    clock.now += 61  # neither lease holds now: both come back and save at once
    with ThreadPoolExecutor(2) as pool:
        labels = {"ana": SURFACE, "bo": Labels(needs=["growth"], cause="none")}
        decisions = dict(
            zip(labels, pool.map(lambda who: queue.decide(ana.item, who, labels[who]), labels), strict=True)
        )
    history = queue.store.history("都标了")
    assert sorted(e.label.annotator for e in history) == ["ana", "bo"]
    assert sorted(d.annotator for d in queue.decisions(ana.item.key)) == ["ana", "bo"]
    # whichever saved second is told whom it crossed; neither label replaced the other
    assert sorted(len(d.crossed) for d in decisions.values()) == [0, 1]


def test_a_save_of_an_item_another_annotator_holds_is_refused_and_writes_nothing(queue, clock):
    queue.enqueue([QueuedText("安娜在标", "import:a")])
    ana = queue.claim_next("ana", QueueFilter(), 60)
    with pytest.raises(ItemHeld, match="ana is labeling t1") as refused:
        queue.decide(ana.item, "bo", SURFACE)
    assert refused.value.holder == "ana"
    assert queue.store.count_events() == 0 and queue.decisions("t1") == []
    assert queue.holders(["t1"]) == {"t1": "ana"}  # the refusal left her lease alone
    assert queue.decide(ana.item, "ana", SURFACE).crossed == []  # the holder saves


def test_an_expired_lease_does_not_stop_another_annotators_save(queue, clock):
    queue.enqueue([QueuedText("安娜走了", "import:a")])
    ana = queue.claim_next("ana", QueueFilter(), 60)
    clock.now += 61
    assert queue.decide(ana.item, "bo", SURFACE).action == "correct"
    assert [e.label.annotator for e in queue.store.history("安娜走了")] == ["bo"]


def test_a_save_racing_the_holders_save_passes_only_after_it(queue):
    """The lease check and the write are one transaction: another annotator's save either sees the
    lease (refused, nothing written) or comes wholly after the holder's save (and says it crossed her)."""
    texts = [f"抢着存{i}" for i in range(6)]
    queue.enqueue([QueuedText(t, "import:a") for t in texts])
    for text in texts:
        claim = queue.claim_next("ana", QueueFilter(), 60)
        start = threading.Barrier(3)

        def save(who, item=claim.item, start=start):
            start.wait()
            try:
                return queue.decide(item, who, SURFACE)
            except ItemHeld:
                return None

        with ThreadPoolExecutor(3) as pool:
            ana, bo, cy = pool.map(save, ["ana", "bo", "cy"])
        assert ana is not None and ana.crossed == []
        passed = [d for d in (bo, cy) if d is not None]
        assert all("ana" in d.crossed for d in passed)
        assert len(queue.store.history(text)) == 1 + len(passed)


def test_skipped_items_are_passed_over(queue):
    queue.enqueue([QueuedText("一", "import:a"), QueuedText("二", "import:a")])
    first = queue.claim_next("ana", QueueFilter(), 60)
    second = queue.claim_next("ana", QueueFilter(), 60, skip=[first.item.key])
    assert second.item.key != first.item.key
    assert queue.claim_next("ana", QueueFilter(), 60, skip=[first.item.key, second.item.key]) is None


def test_malformed_and_unknown_keys_name_nothing(queue):
    for key in ("", "x1", "t", "t-1", "t1; DROP TABLE review_texts", "p99", "t99", "l99", "t" + "9" * 40, "t\x00"):
        assert queue.item(key) is None


def test_search_finds_queued_texts_by_any_part_without_wildcards(queue):
    queue.enqueue([QueuedText("100%满意", "import:a"), QueuedText("其他_文本", "import:a")])
    assert [i.text for i in queue.search("%", 10)] == ["100%满意"]
    assert [i.text for i in queue.search("_", 10)] == ["其他_文本"]


def test_a_queue_file_leaves_out_labeled_texts_and_lists_bad_rows(tmp_path):
    path = write_csv(
        tmp_path / "to_label.csv",
        [["a", "已经标过", "x"], ["b", "", "y"], ["c", "\x00", "z"], ["d", "新的文本", "insurance"]],
        header=("id", "text", "domain"),
    )
    found = read_queue_file(path, "text", None, 100, {text_hash("已经标过")})
    assert [(t.text, t.external_id, t.metadata, t.origin) for t in found.texts] == [
        ("新的文本", "d", {"domain": "insurance"}, "import:to_label.csv")
    ]
    assert found.labeled == 1
    assert [row for row, _ in found.invalid] == [2, 3]
