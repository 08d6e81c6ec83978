"""Runtimes agree with float32 PyTorch; the default one meets the rule that made it the default.

The rule (README, "Fast inference"): a runtime other than float32 PyTorch may be the
default only if, against float32 PyTorch, at least 99.5% of label decisions agree and no
model output (probability per classified unit) moves by more than 0.05.
"""

import copy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from classifier.encoders.base import TextEncoder, embed_texts
from classifier.encoders.use_m3_cached import TokenFeatureCache
from classifier.errors import ModelLoadError
from classifier.inference import DocumentScores, Predictor, compute_logits
from classifier.runtime import TorchRunner, float32_runner, make_runner, resolve_runtime
from classifier.settings import Settings
from tests.conftest import TOY_PHRASES
from training.data import read_records

DEV = Path(__file__).resolve().parents[3] / "shared" / "eval" / "dev.jsonl"
LABEL_AGREEMENT, PROB_TOLERANCE = 0.995, 0.05


def texts() -> list[str]:
    """The real dev texts when this checkout has them beside it, else the toy phrases and a long note."""
    if DEV.is_file():
        return [r.text for r in read_records(DEV)]
    return [p for phrases in TOY_PHRASES.values() for p in phrases] + ["屏幕坏了要求换货，也没人告诉我进度。" * 3]


def agreement(a: DocumentScores, b: DocumentScores) -> tuple[float, float]:
    """Share of equal label decisions, and the largest change of a model output. Outputs are
    compared per classified unit: a document's cause is taken from its most confident segment,
    so a near-tie between two segments can switch under any rounding without any output moving."""
    labels = np.concatenate([(a.needs == b.needs).ravel(), a.cause == b.cause]).mean()
    drift = max(
        np.abs(a.unit_need_probs - b.unit_need_probs).max(), np.abs(a.unit_cause_probs - b.unit_cause_probs).max()
    )
    return float(labels), float(drift)


@pytest.fixture(scope="module")
def reference(toy_model):
    return Predictor.load(toy_model[0], Settings(runtime="torch")).score(texts())


@pytest.mark.parametrize("runtime", ["auto", "torch-bf16", "torch-cached", "torch-cached-bf16", "onnx"])
def test_runtime_meets_the_default_rule_against_float32(toy_model, reference, tmp_path, runtime):
    scores = Predictor.load(toy_model[0], Settings(runtime=runtime, cache_dir=tmp_path)).score(texts())
    labels, drift = agreement(scores, reference)
    assert labels >= LABEL_AGREEMENT and drift <= PROB_TOLERANCE
    if runtime in ("torch-cached", "onnx"):
        assert drift < 1e-4  # the same float32 arithmetic, rearranged or on another engine


def test_int8_runs_from_a_cached_graph_but_is_not_the_default(toy_model, reference, tmp_path):
    settings = Settings(runtime="onnx-int8", cache_dir=tmp_path)
    scores = Predictor.load(toy_model[0], settings).score(texts())
    assert agreement(scores, reference)[0] > 0.9  # close, yet measured below the rule on real texts
    graphs = sorted((tmp_path / "onnx").rglob("*.onnx"))
    assert [g.name for g in graphs] == ["model.int8.onnx", "model.onnx"]
    Predictor.load(toy_model[0], settings)
    assert sorted((tmp_path / "onnx").rglob("*.onnx")) == graphs  # reused, not exported again


def test_auto_is_the_token_cache_for_use_m3(toy_model):
    model = Predictor.load(toy_model[0], Settings(runtime="torch")).model
    assert resolve_runtime("auto", model) in ("torch-cached", "torch-cached-bf16")
    assert resolve_runtime("onnx", model) == "onnx"


class HFLike:
    config = type("C", (), {"base_model": "/models/bert"})()
    encoder = object()


@pytest.mark.parametrize("runtime", ["torch-cached", "onnx"])
def test_use_m3_runtimes_refuse_a_hugging_face_encoder(tmp_path, runtime):
    with pytest.raises(ModelLoadError, match="use-m3"):
        make_runner(HFLike(), Settings(runtime=runtime, cache_dir=tmp_path))  # type: ignore[arg-type]


@pytest.mark.parametrize(("native", "expected"), [(True, "torch-bf16"), (False, "torch")])
def test_auto_is_eager_for_a_hugging_face_encoder_in_bfloat16_only_where_the_cpu_has_it(monkeypatch, native, expected):
    monkeypatch.setattr("classifier.runtime.cpu_has_native_bfloat16", lambda: native)
    assert resolve_runtime("auto", HFLike()) == expected  # type: ignore[arg-type]


def test_the_float32_runner_follows_weights_that_change_between_passes(toy_model):
    """Training scores every epoch with it: a cache kept from one pass to the next would score
    the new weights with the old ones' token rows."""
    model = Predictor.load(toy_model[0], Settings(runtime="torch")).model
    batch = texts()
    for _ in range(2):
        runner = float32_runner(model, batch)
        assert isinstance(runner, TorchRunner) and isinstance(runner.encode, TokenFeatureCache)
        ours, eager = compute_logits(model, batch, 16, runner), compute_logits(model, batch, 16, TorchRunner(model))
        np.testing.assert_allclose(ours.needs, eager.needs, atol=1e-4)
        np.testing.assert_allclose(ours.cause, eager.cause, atol=1e-4)
        with torch.no_grad():  # as an epoch of fine-tuning would, in a per-token layer the cache keeps
            model.encoder.proj.weight.mul_(1.5)
    assert runner.encode.used > 1  # it did hold rows


def test_embedding_texts_in_float32_goes_through_a_cache_and_equals_the_eager_encoder(toy_model, monkeypatch):
    encoder = Predictor.load(toy_model[0], Settings(runtime="torch")).model.encoder
    with monkeypatch.context() as patch:
        patch.setattr(type(encoder), "pass_forward", lambda self, _: self)  # the eager encoder
        eager = embed_texts(encoder, texts())
    monkeypatch.setattr(type(encoder), "forward", lambda *_: pytest.fail("the eager forward ran"))
    np.testing.assert_allclose(embed_texts(encoder, texts()), eager, atol=1e-5)


def test_the_float32_runner_is_eager_off_the_cpu_and_for_other_encoders(toy_model):
    use_m3 = copy.deepcopy(Predictor.load(toy_model[0], Settings(runtime="torch")).model.encoder).to("meta")
    for encoder in (use_m3, TextEncoder()):
        runner = float32_runner(SimpleNamespace(encoder=encoder), texts())  # type: ignore[arg-type]
        assert isinstance(runner, TorchRunner) and runner.encode is encoder and not runner.bfloat16


@pytest.mark.slow
@pytest.mark.parametrize("name", ["default", "accurate"])
def test_default_runtime_meets_the_rule_with_each_profiles_model_on_dev_data(name):
    model = Path(__file__).resolve().parents[2] / "models" / name
    if not (model / "config.json").is_file() or not DEV.is_file():
        pytest.skip(f"needs models/{name} (needlens train) and ../shared/eval/dev.jsonl")
    reference = Predictor.load(model, Settings(runtime="torch")).score(texts())
    labels, drift = agreement(Predictor.load(model, Settings(runtime="auto")).score(texts()), reference)
    assert labels >= LABEL_AGREEMENT and drift <= PROB_TOLERANCE
