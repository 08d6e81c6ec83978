"""A batch the model fails on: one text's failure costs its own row; a broken model stops the job."""

from concurrent.futures.process import BrokenProcessPool

import pytest

from classifier.inference import TextProblem
from labeling.resilient import CANARY, LabelingStopped, label_isolating_failures


def fails_on(poison: str):
    calls = []

    def label(texts):
        calls.append(list(texts))
        if any(poison in t for t in texts):
            raise ValueError(f"tokenizer cannot take {poison!r}\nsecond line")
        return [{"needs": [t]} for t in texts]

    return label, calls


def test_the_text_that_breaks_a_batch_is_the_only_error():
    label, calls = fails_on("BAD")
    results = label_isolating_failures(label, ["a", "BAD b", "c"])
    assert results[0] == {"needs": ["a"]} and results[2] == {"needs": ["c"]}
    assert isinstance(results[1], TextProblem) and results[1].code == "model_error"
    assert "ValueError: tokenizer cannot take 'BAD' second line" in str(results[1])
    assert [CANARY] in calls


def test_a_batch_that_works_is_labeled_once():
    label, calls = fails_on("BAD")
    assert label_isolating_failures(label, ["a", "b"]) == [{"needs": ["a"]}, {"needs": ["b"]}]
    assert calls == [["a", "b"]]


def test_a_model_that_fails_on_the_canary_stops_the_job():
    label, _ = fails_on("")  # every text contains ""
    with pytest.raises(LabelingStopped, match="fails even on a plain text"):
        label_isolating_failures(label, ["a", "b"])


@pytest.mark.parametrize("error", [FileNotFoundError(2, "No such file", "model.onnx"), BrokenProcessPool("gone")])
def test_io_errors_and_lost_workers_stop_the_job_without_retrying_each_text(error):
    calls = []

    def label(texts):
        calls.append(texts)
        raise error

    with pytest.raises(LabelingStopped, match=type(error).__name__):
        label_isolating_failures(label, ["a", "b", "c"])
    assert len(calls) == 1
