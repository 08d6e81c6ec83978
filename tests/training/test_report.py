"""What an evaluation report says where its figures would mislead: labels these texts lack, a
need nearly every text has, a small set or a small domain, and what routes a label to review."""

import json

import numpy as np

from classifier.labels import CAUSES, NEEDS, LabeledRecord
from training.data import to_dataset
from training.evaluate import per_domain
from training.metrics import classification_metrics, f1_intervals, macro_f1s
from training.report import caveat_lines, to_markdown

# needs: surface, emotional, growth; causes: system_error, perception_mismatch, none
NEEDS_TRUE = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0], [1, 1, 0]] * 4)
CAUSE_TRUE = np.array([0, 2, 2, 2] * 4)


def report_of(need_pred, cause_pred, domains=None, review=None):
    domain_of = domains or ["hotel"] * len(CAUSE_TRUE)
    records = [
        LabeledRecord(
            id=str(i),
            text=f"第{i}条",
            domain=domain,
            needs=[NEEDS[j] for j in np.flatnonzero(NEEDS_TRUE[i])],
            cause=CAUSES[CAUSE_TRUE[i]],
        )
        for i, domain in enumerate(domain_of)
    ]
    model = classification_metrics(NEEDS_TRUE, need_pred, CAUSE_TRUE, cause_pred)
    if review:
        model["review"] = review
    return {
        "model_version": "v-test",
        "data": {"path": "t.jsonl", "fingerprint": "f"},
        "thresholds": {"surface": 0.3, "emotional": 0.5, "growth": 0.7},
        "review_rules": {"need_bands": {"surface": 0.0, "emotional": 0.06, "growth": 0.0}, "cause_below": 0.54},
        "model": model,
        "baseline": None,
        "per_domain": per_domain(to_dataset(records), need_pred, cause_pred),
    }


def test_every_prediction_right_scores_one_though_some_labels_have_no_texts():
    """A label no text has was an F1 of 0 in the macro: 15 texts all right read 0.667."""
    m = classification_metrics(NEEDS_TRUE, NEEDS_TRUE, CAUSE_TRUE, CAUSE_TRUE)
    assert m["needs_macro_f1"] == 1.0 and m["cause_macro_f1"] == 1.0
    assert m["needs"]["growth"] == {"precision": None, "recall": None, "f1": None, "support": 0, "predicted": 0}
    assert m["cause"]["perception_mismatch"]["f1"] is None
    assert list(macro_f1s(NEEDS_TRUE, NEEDS_TRUE, CAUSE_TRUE, CAUSE_TRUE)) == [1.0, 1.0]  # per-source figures too


def test_a_label_predicted_where_no_text_has_it_shows_its_precision_not_an_f1():
    need_pred = NEEDS_TRUE.copy()
    need_pred[0, 2] = 1
    growth = classification_metrics(NEEDS_TRUE, need_pred, CAUSE_TRUE, CAUSE_TRUE)["needs"]["growth"]
    assert growth == {"precision": 0.0, "recall": None, "f1": None, "support": 0, "predicted": 1}


def test_intervals_of_a_label_no_text_has_are_none_and_the_macro_intervals_stand():
    intervals = f1_intervals(NEEDS_TRUE, CAUSE_TRUE, (NEEDS_TRUE, CAUSE_TRUE), (NEEDS_TRUE, CAUSE_TRUE), 50)
    assert intervals["model"]["growth"] is None and intervals["model"]["perception_mismatch"] is None
    assert intervals["model"]["needs_macro_f1"] == [1.0, 1.0] and intervals["model_minus_baseline"]["surface"] == [0, 0]
    json.dumps(intervals, allow_nan=False)  # no NaN in report.json


def test_the_markdown_says_what_is_undefined_small_constant_and_routed():
    review = {
        "texts_flagged": 0.25,
        "cause_flagged": 0.25,
        "needs_flagged": {"surface": 0.0, "emotional": 0.25, "growth": 0.0},
        "needs_accuracy_unflagged": {"surface": 1.0, "emotional": 1.0, "growth": 1.0},
        "needs_accuracy_all": {"surface": 1.0, "emotional": 1.0, "growth": 1.0},
        "cause_accuracy_unflagged": 1.0,
        "exact_match_unflagged_texts": 1.0,
        "exact_match_all_texts": 0.9,
    }
    domains = ["hotel"] * 12 + ["dairy"] * 4
    report = report_of(NEEDS_TRUE, CAUSE_TRUE, domains, review)
    text = " ".join(to_markdown(report).split())
    assert "No text here has growth, perception_mismatch: their recall and F1 are undefined" in text
    assert "Only 16 texts" in text
    assert "surface is on 100.0% of these texts: tagging every text surface would score F1 1.000" in text
    assert "Routed to review: the cause when its top probability is below 0.54, emotional when within ±0.06" in text
    assert "surface and growth never" in text and "(all: 0.900)" in text
    assert "| dairy | 4 | 1.000 | 1.000 | 1.000 | system_error 1 † | growth, perception_mismatch |" in text
    assert "| surface 表层需求 | 1.000 | 1.000 | 1.000 | – | 16 | 100.0% |" in text
    assert "| growth 成长需求 | – | – | – | – | 0 | 0.0% |" in text


def test_a_large_set_with_every_label_has_no_caveats():
    rng = np.random.default_rng(1)
    n = 400
    needs = (rng.random((n, 3)) < [0.4, 0.3, 0.2]).astype(np.int64)
    causes = rng.integers(0, 3, n)
    report = {"model": classification_metrics(needs, needs, causes, causes)}
    assert caveat_lines(report) == []
