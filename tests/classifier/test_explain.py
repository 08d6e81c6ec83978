"""Evidence, long texts and the review band, through the library, the batch job and the API."""

import json
import random

import numpy as np
from fastapi.testclient import TestClient

from classifier.evidence import word_spans
from classifier.inference import Predictor, pick_cause_unit
from classifier.segments import split_long_span, split_segments
from classifier.settings import Settings
from labeling.job import LabelJob
from labeling.plan import plan_label_job
from serve.app import create_app
from tests.conftest import TOY_PHRASES, toy_records
from tests.serve.test_serve import wait_ready
from training.calibration import fit_cause_review_floor, fit_review_bands

SURFACE_SYS = TOY_PHRASES["surface", "system_error"]
GROWTH_NONE = TOY_PHRASES["growth", "none"]


def test_segments_keep_offsets_and_merge_fragments():
    text = "房间很干净。\n但是！空调坏了，一晚上没睡好？希望尽快修好；谢谢"
    spans = split_segments(text, min_chars=4)
    pieces = [text[s:e] for s, e in spans]
    assert pieces == [
        "房间很干净。\n但是！",
        "空调坏了，一晚上没睡好？",
        "希望尽快修好；谢谢",
    ]  # "但是！" is too short alone
    assert split_segments("没有标点的一句话", 8) == [(0, 8)]


def test_long_spans_are_cut_after_a_late_comma_else_at_the_limit():
    text = "甲" * 7 + "，" + "乙" * 5 + "丙" * 12
    pieces = split_long_span(text, limit=10)
    assert pieces == [(0, 8), (8, 18), (18, 25)]  # after the comma (past half the window), then hard cuts
    assert "".join(text[a:b] for a, b in pieces) == text
    assert split_long_span("短", 10) == [(0, 1)] and split_long_span("", 10) == []


def test_a_long_unit_without_sentence_ends_is_explained_piece_by_piece(predictor):
    filler = "今天天气不错我们出去走走看看风景，"
    text = filler * 12 + SURFACE_SYS[0] + "，" + filler * 12  # one unit of ~450 characters, no sentence end
    assert predictor.predict([text])[0].segments is None  # classified whole: the pieces are for evidence only
    prediction = predictor.predict([text], explain=True)[0]
    spans = [span for found in prediction.evidence.values() for span in found]
    assert spans and all(text[span.start : span.end] == span.text and span.score > 0 for span in spans)
    middle = text.index(SURFACE_SYS[0])  # the piece in the middle is found, past the first 300 characters
    assert "surface" in prediction.needs
    assert all(middle <= span.start < middle + len(SURFACE_SYS[0]) for span in prediction.evidence["surface"])


def test_word_spans_skip_punctuation_and_map_back_to_the_text():
    text = "理赔金额少了，没人解释😡"
    spans = word_spans(text)
    words = [text[s:e] for s, e in spans]
    assert "，" not in words and "理赔" in words and "😡" in words


def test_evidence_points_into_the_text_at_the_deciding_words(predictor):
    text = f"{SURFACE_SYS[0]}，谢谢"
    prediction = predictor.predict([text], explain=True)[0]
    assert set(prediction.evidence) == {*prediction.needs, prediction.cause}
    for spans in prediction.evidence.values():
        for span in spans:
            assert text[span.start : span.end] == span.text and span.score > 0
    top = prediction.evidence[prediction.cause][0]
    assert top.text in SURFACE_SYS[0]  # a word of the complaint, not the politeness


def test_removing_top_evidence_hurts_more_than_removing_a_random_span(predictor):
    """Faithfulness: on average over toy texts, the top span matters more than a random one."""
    rng = random.Random(0)
    texts = [r["text"] for r in toy_records(10, seed=5)]
    predictions = predictor.predict(texts, explain=True)
    top_drop, random_drop = [], []
    for text, p in zip(texts, predictions, strict=True):
        label = p.cause
        spans = p.evidence[label]
        if not spans:
            continue
        top = spans[0]
        length = top.end - top.start
        start = rng.randrange(0, len(text) - length + 1)
        base = p.cause_probs[label]
        without_top = predictor.predict([text[: top.start] + text[top.end :]])[0].cause_probs[label]
        without_random = predictor.predict([text[:start] + text[start + length :]])[0].cause_probs[label]
        top_drop.append(base - without_top)
        random_drop.append(base - without_random)
    assert len(top_drop) >= 20
    # the toy model is saturated, so drops are small in absolute terms; compare them relatively
    assert np.mean(top_drop) > 2 * np.mean(random_drop)
    assert np.mean(np.array(top_drop) >= np.array(random_drop)) >= 0.7


def test_long_text_is_classified_by_segment(predictor):
    growth = "。".join(GROWTH_NONE[:3]) + "。"
    complaint = "。".join(SURFACE_SYS[:3]) + "。"
    text = growth * 12 + complaint
    assert len(text) > Settings().segment_over_chars
    prediction = predictor.predict([text])[0]
    assert prediction.segments is not None and len(prediction.segments) > 1
    assert {"surface", "growth"} <= set(prediction.needs)
    assert prediction.cause == "system_error"  # the one complaint segment decides the cause
    last = prediction.segments[-1]
    assert text[last.start : last.end].endswith(SURFACE_SYS[2] + "。") and last.cause == "system_error"
    assert predictor.predict([complaint])[0].segments is None


def test_cause_comes_from_the_most_confident_complaint_segment():
    probs = np.array([[0.1, 0.1, 0.8], [0.3, 0.1, 0.6], [0.6, 0.1, 0.3], [0.2, 0.5, 0.3]])
    assert pick_cause_unit(probs) == 2
    assert pick_cause_unit(np.array([[0.2, 0.1, 0.7], [0.1, 0.1, 0.8]])) == 1


def test_review_band_and_floor_are_fitted_for_the_target_accuracy():
    rng = np.random.default_rng(0)
    probs = rng.random((2000, 3))
    truth = (rng.random((2000, 3)) < probs).astype(int)  # calibrated: errors cluster near 0.5
    bands = fit_review_bands(probs, truth, [0.5, 0.5, 0.5], target=0.9, max_fraction=1.0)
    assert all(0.2 < b < 0.5 for b in bands)
    outside = np.abs(probs[:, 0] - 0.5) > bands[0]
    assert ((probs[outside, 0] >= 0.5) == truth[outside, 0]).mean() >= 0.9
    capped = fit_review_bands(probs, truth, [0.5, 0.5, 0.5], target=0.9, max_fraction=0.2)
    assert all(b < 0.11 for b in capped)  # the queue stays at a fifth of the texts, accuracy or not
    assert all((np.abs(probs[:, j] - 0.5) <= b).mean() <= 0.2 for j, b in enumerate(capped))
    cause_probs = np.array([[0.9, 0.05, 0.05]] * 90 + [[0.4, 0.35, 0.25]] * 10)
    cause_true = np.array([0] * 90 + [1] * 10)
    assert 0.4 < fit_cause_review_floor(cause_probs, cause_true, 0.95, max_fraction=1.0) <= 0.9
    floor = fit_cause_review_floor(cause_probs, cause_true, 0.95, max_fraction=0.05)
    assert (cause_probs.max(axis=1) < floor).mean() == 0.0  # 10% are unsure, but only 5% may wait for review


def test_predictions_inside_the_band_are_flagged(toy_model):
    predictor = Predictor.load(toy_model[0])
    predictor.config.need_review_bands = [1.0, 0.0, 0.0]  # everything is near the surface threshold
    predictor.config.cause_review_below = 1.01  # no cause is that sure
    prediction = predictor.predict([SURFACE_SYS[1]])[0]
    assert prediction.needs_review == ["surface", "cause"]


def test_batch_explain_writes_evidence_and_review_columns(predictor, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "a", "text": SURFACE_SYS[2]}, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = LabelJob(predictor, 10, 1000, explain=True).run(
        plan_label_job(source, tmp_path / "out.jsonl"), progress=False
    )
    row = json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8"))
    assert row["evidence"][row["cause"]][0]["text"] in SURFACE_SYS[2]
    assert isinstance(row["needs_review"], list) and row["segments"] is None
    assert summary.to_review == int(bool(row["needs_review"]))


def test_api_explain_and_segments(toy_model, predictor, tmp_path):
    settings = Settings(model_dir=toy_model[0], label_store=tmp_path / "l.db")
    with TestClient(create_app(settings, predictor)) as client:
        wait_ready(client)
        long_text = ("。".join(GROWTH_NONE) + "。") * 10 + SURFACE_SYS[0] + "。"
        body = {"items": [{"id": 1, "text": SURFACE_SYS[0]}, {"id": 2, "text": long_text}], "explain": True}
        results = client.post("/v1/classify", json=body).json()["results"]
        evidence = results[0]["evidence"][results[0]["cause"]]
        assert evidence and SURFACE_SYS[0][evidence[0]["start"] : evidence[0]["end"]] == evidence[0]["text"]
        assert results[1]["segments"] and results[1]["segments"][0]["start"] == 0
        plain = client.post("/v1/classify", json={"texts": [SURFACE_SYS[0]]}).json()["results"][0]
        assert plain["evidence"] is None and plain["needs_review"] is not None
