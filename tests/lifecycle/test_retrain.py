"""Retraining: held-out rule, promotion gate, registry pointer safety, and `needlens retrain|models`."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from classifier.errors import ModelLoadError
from classifier.inference import Predictor
from classifier.labels import Labels
from classifier.model_dir import resolve_model_dir
from classifier.settings import Settings
from label_loop.pool import gather_labels, in_holdout
from label_loop.store import LabelStore, NewLabel
from lifecycle.registry import ModelRegistry, RegistryError
from lifecycle.retrain import retrain
from needlens.cli import app
from tests.conftest import claim_soft_labels, quick_settings

runner = CliRunner()


def registered_copy(registry: ModelRegistry, model_dir, version: str) -> str:
    """Register a copy of a trained model under a new version name (no training needed)."""
    copy = registry.staging_dir() / version
    shutil.copytree(model_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "model_version": version}))
    return registry.add(copy)


def test_holdout_rule_is_deterministic_content_based_and_near_its_share():
    texts = [f"第{i}条反馈：快递又晚了" for i in range(4000)]
    held = [t for t in texts if in_holdout(t, 12)]
    assert 0.10 < len(held) / len(texts) < 0.14
    assert held == [t for t in texts if in_holdout(f"  {t} ", 12)]  # whitespace does not move a text


def seed_texts(toy_data, held: bool) -> list[str]:
    texts = [json.loads(line)["text"] for line in toy_data.read_text(encoding="utf-8").splitlines()]
    return [t for t in texts if in_holdout(t, 12) == held]


def test_a_store_correction_replaces_a_seed_label_in_training_but_never_in_the_gold_set(toy_data, tmp_path):
    store = LabelStore(tmp_path / "labels.db")
    trained_text, gold_text = seed_texts(toy_data, held=False)[0], seed_texts(toy_data, held=True)[0]
    wrong = Labels(needs=["emotional"], cause="none")
    store.add(NewLabel(trained_text, wrong, "feedback"))
    store.add(NewLabel(gold_text, wrong, "import:bad.csv"))
    pool = gather_labels(toy_data, store, 12)
    corrected = next(r for r in pool.train if r.text == trained_text)
    assert (corrected.needs, corrected.cause) == (["emotional"], "none")
    (gold,) = [r for r in pool.gold.records if r.text == gold_text]
    assert (gold.needs, gold.cause) != (["emotional"], "none")  # the new label cannot move the gold set
    (new,) = pool.new_labels.records
    assert new.text == gold_text and pool.new_labels.sources == ["import:bad.csv"]
    assert pool.sources == {"seed": len(seed_texts(toy_data, held=False)) - 1, "store": 1}
    assert all(in_holdout(r.text, 12) for r in pool.gold.records)
    assert not any(in_holdout(r.text, 12) for r in pool.train)


def test_texts_an_admin_marks_as_gold_are_judged_on_never_trained_on_and_change_the_gold_version(toy_data, tmp_path):
    store = LabelStore(tmp_path / "labels.db")
    before = gather_labels(toy_data, store, 12).gold
    trained_text = seed_texts(toy_data, held=False)[0]
    adjudicated = Labels(needs=["surface", "emotional"], cause="perception_mismatch")
    store.add_gold([NewLabel(trained_text, adjudicated, "gold", annotator="lead")])
    pool = gather_labels(toy_data, store, 12)
    assert trained_text not in {r.text for r in pool.train}
    (gold,) = [r for r in pool.gold.records if r.text == trained_text]
    assert (gold.needs, gold.cause) == (["surface", "emotional"], "perception_mismatch")
    assert pool.gold.sources.count("gold:lead") == 1
    assert pool.gold.version != before.version and before.version.startswith("gold-")


def test_pointer_switch_is_atomic_when_the_process_dies_mid_switch(toy_model, tmp_path, monkeypatch):
    registry = ModelRegistry(tmp_path / "registry")
    v1 = registered_copy(registry, toy_model[0], "v1")
    v2 = registered_copy(registry, toy_model[0], "v2")
    registry.promote(v1, "first")

    def crash(*_):
        raise OSError("power lost during rename")

    monkeypatch.setattr("lifecycle.registry.os.replace", crash)
    with pytest.raises(OSError):
        registry.promote(v2, "second")
    assert registry.active() == v1
    assert resolve_model_dir(registry.root) == registry.versions / v1
    assert Predictor.load(registry.root).version == v1  # the service still has a whole model to load


def test_registry_refuses_incomplete_versions_and_rolls_back(toy_model, tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    v1 = registered_copy(registry, toy_model[0], "v1")
    v2 = registered_copy(registry, toy_model[0], "v2")
    (registry.versions / "half").mkdir()
    (registry.versions / "half" / "config.json").write_text("{}")
    with pytest.raises(RegistryError, match=r"'half' .* is incomplete"):
        registry.promote("half", "should not work")
    with pytest.raises(RegistryError, match="no active model"):
        registry.rollback("nothing to roll back")
    registry.promote(v1, "first")
    registry.promote(v2, "second")
    assert registry.rollback("v2 mislabels refunds") == v1
    assert registry.active() == v1
    assert [e["event"] for e in registry.history()] == ["promote", "promote", "rollback"]
    assert registry.history()[-1]["reason"] == "v2 mislabels refunds"
    (registry.root / "ACTIVE").write_text("gone\n")
    with pytest.raises(ModelLoadError, match="'gone'"):
        resolve_model_dir(registry.root)


def test_retrain_promotes_a_good_candidate_refuses_a_worse_one_and_records_a_forced_one(toy_data, tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    good = Settings(training=quick_settings(), bootstrap_samples=50)
    first = retrain(registry, toy_data, None, good, log=lambda _: None)
    assert first.promoted and first.previous is None and registry.active() == first.candidate

    # deliberately worse: one epoch at a learning rate too small to learn anything, and no TF-IDF
    # mix (on the toy set the TF-IDF model alone is perfect and would rescue it)
    crippled = good.model_copy(
        update={
            "training": quick_settings(
                epochs=1, encoder_lr=1e-9, head_lr=1e-9, patience=1, seed=3, lexical_weights=(0.0,)
            )
        }
    )
    worse = retrain(registry, toy_data, None, crippled, log=lambda _: None)
    assert not worse.promoted and not worse.decision.passed
    assert registry.active() == first.candidate
    assert worse.comparison["sets"]["gold"]["deltas"]["needs_macro_f1"] < -good.promotion_tolerance
    assert "gold needs_macro_f1" in worse.decision.refused_by
    assert "NOT PROMOTED" in (worse.report_dir / "report.md").read_text(encoding="utf-8")
    assert registry.history()[-1]["event"] == "reject"
    assert set(registry.version_names()) == {first.candidate, worse.candidate}  # kept for inspection

    forced = retrain(
        registry, toy_data, None, crippled.model_copy(), force_reason="demo of --force", log=lambda _: None
    )
    assert forced.promoted and registry.active() == forced.candidate
    assert registry.history()[-1]["reason"] == "forced: demo of --force"


def test_a_crash_while_training_leaves_the_active_model_alone(toy_model, toy_data, tmp_path, monkeypatch):
    registry = ModelRegistry(tmp_path / "registry")
    v1 = registered_copy(registry, toy_model[0], "v1")
    registry.promote(v1, "first")

    def killed(*_, **__):
        raise KeyboardInterrupt

    monkeypatch.setattr("lifecycle.retrain.train_on_records", killed)
    with pytest.raises(KeyboardInterrupt):
        retrain(registry, toy_data, None, Settings(training=quick_settings()), log=lambda _: None)
    assert registry.active() == v1 and registry.version_names() == [v1]


def test_models_commands(toy_model, tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    v1 = registered_copy(registry, toy_model[0], "v1")
    v2 = registered_copy(registry, toy_model[0], "v2")
    root = str(registry.root)
    assert runner.invoke(app, ["models", "promote", v1, "--reason", "first", "--registry", root]).exit_code == 0
    assert runner.invoke(app, ["models", "promote", v2, "--reason", "second", "--registry", root]).exit_code == 0
    listing = runner.invoke(app, ["models", "list", "--registry", root])
    assert listing.exit_code == 0 and "v1" in listing.output and "* │ v2" in listing.output
    shown = runner.invoke(app, ["models", "show", "--registry", root])
    assert shown.exit_code == 0 and "v2" in shown.output
    back = runner.invoke(app, ["models", "rollback", "--reason", "bad", "--registry", root])
    assert back.exit_code == 0 and registry.active() == v1
    missing = runner.invoke(app, ["models", "promote", "v9", "--reason", "x", "--registry", root])
    assert missing.exit_code == 2 and "no model version 'v9'" in missing.output


def test_two_candidates_from_the_same_data_in_the_same_second_get_distinct_versions(toy_data, tmp_path, monkeypatch):
    from datetime import UTC, datetime

    import training.pipeline as pipeline

    class FrozenClock(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

    monkeypatch.setattr(pipeline, "datetime", FrozenClock)
    registry = ModelRegistry(tmp_path / "registry")
    quick = Settings(training=quick_settings(epochs=1), bootstrap_samples=0)
    first = retrain(registry, toy_data, None, quick, log=lambda _: None)
    second = retrain(registry, [toy_data], None, quick, force_reason="same data again", log=lambda _: None)
    assert first.candidate != second.candidate
    assert first.candidate.startswith("needlens-20260101-120000-")
    facts = json.loads((registry.versions / second.candidate / "training.json").read_text(encoding="utf-8"))
    assert facts["data"]["path"] == f"{toy_data} + label store, less the held-out 12%"  # a list, not its repr


def test_models_list_reads_gold_figures_and_reports_written_before_the_gold_set():
    from lifecycle.comparison_report import headline_figures

    figures = {"needs_macro_f1": 0.8, "cause_macro_f1": 0.7}
    assert headline_figures({"sets": {"gold": {"models": {"v2": figures}}}}, "v2") == figures
    assert headline_figures({"sets": {"new-labels": {"models": {"v2": figures}}}}, "v2") == figures
    assert headline_figures({"models": {"v1": figures}}, "v1") == figures  # written before the gold set
    assert headline_figures({}, "v1") == {}


def test_retraining_never_learns_a_teachers_soft_label_of_a_text_the_gate_judges_on(toy_data, tmp_path):
    from training.distill import meta_path

    pool = gather_labels(toy_data, None, Settings().holdout_percent)
    judged = [r.text for s in (pool.gold, pool.new_labels) for r in s.records]
    unlabeled = [f"第{i}条没人标注过的评论，物流有点慢" for i in range(7)]
    soft = tmp_path / "soft.jsonl"
    rows = [
        {"id": f"p{i}", "text": text, "needs": [0.9, 0.2, 0.1], "cause": [0.1, 0.8, 0.1]}
        for i, text in enumerate(judged + unlabeled)
    ]
    soft.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    meta_path(soft).write_text(json.dumps({"teacher_version": "t", "complete": True}), encoding="utf-8")
    training = quick_settings(epochs=1, soft_labels=soft, soft_label_texts=10_000)
    registry = ModelRegistry(tmp_path / "registry")
    outcome = retrain(registry, toy_data, None, Settings(training=training, bootstrap_samples=20), log=lambda _: None)
    facts = json.loads((registry.path(outcome.candidate) / "training.json").read_text(encoding="utf-8"))
    assert judged and facts["soft_labels"]["used"] == len(unlabeled)


def test_retrain_trains_by_the_fast_profile_like_train_does_on_a_registry_it_may_create(monkeypatch, tmp_path):
    seen = {}

    def fake_retrain(registry, seed, store, settings, force_reason=None, log=print):
        seen["training"], seen["root"] = settings.training, registry.root
        raise SystemExit(0)

    monkeypatch.setattr("lifecycle.retrain.retrain", fake_retrain)
    result = runner.invoke(app, ["retrain", "--registry", str(tmp_path / "r"), "--epochs", "2"])
    assert result.exit_code == 0 and seen["root"] == tmp_path / "r"  # no registry there yet: retrain makes it
    assert seen["training"].soft_labels is not None and seen["training"].epochs == 2


def test_the_gate_leaves_out_texts_the_active_model_learned_as_soft_labels(toy_model, toy_data, tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    active = registered_copy(registry, toy_model[0], "v1")
    registry.promote(active, "first")
    gold = gather_labels(toy_data, None, Settings().holdout_percent).gold
    learned = [gold.records[0].text, f"  {gold.records[1].text} "]  # compared by text_key
    claim_soft_labels(registry.path(active), learned, tmp_path / "soft.jsonl")

    outcome = retrain(registry, toy_data, None, Settings(training=quick_settings(epochs=1)), log=lambda _: None)
    judged = outcome.comparison["sets"]["gold"]
    assert judged["left_out_soft_labeled"] == 2 and judged["n"] == len(gold.records) - 2
    assert judged["version"] == gold.version  # the yardstick is still the whole gold set
    assert "gold: left out 2 texts a model learned as soft labels" in outcome.decision.reasons
    assert "2 more left out, learned as soft labels" in (outcome.report_dir / "report.md").read_text(encoding="utf-8")


def test_the_gate_refuses_when_every_judged_text_was_learned_as_a_soft_label(toy_model, toy_data, tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    active = registered_copy(registry, toy_model[0], "v1")
    registry.promote(active, "first")
    gold = gather_labels(toy_data, None, Settings().holdout_percent).gold
    claim_soft_labels(registry.path(active), [r.text for r in gold.records], tmp_path / "soft.jsonl")

    outcome = retrain(registry, toy_data, None, Settings(training=quick_settings(epochs=1)), log=lambda _: None)
    assert not outcome.promoted and outcome.decision.refused_by == ["no judging texts"]
    assert f"gold: all {len(gold.records)} of its texts were learned as soft labels" in " ".join(
        outcome.decision.reasons
    )
    assert registry.active() == active


def test_the_gate_keeps_a_models_texts_in_and_says_so_when_its_soft_labels_cannot_be_read(
    toy_model, toy_data, tmp_path
):
    from lifecycle.judging import without_soft_labeled

    pool = gather_labels(toy_data, None, Settings().holdout_percent)
    readable, gone = tmp_path / "readable", tmp_path / "gone"
    shutil.copytree(toy_model[0], readable)
    shutil.copytree(toy_model[0], gone)
    claim_soft_labels(readable, [pool.gold.records[0].text], tmp_path / "soft.jsonl")
    claim_soft_labels(gone, [pool.gold.records[1].text], tmp_path / "gone.jsonl")
    kept, notes = without_soft_labeled([pool.gold, pool.new_labels], [readable])
    assert [len(s.records) for s in kept] == [len(pool.gold.records) - 1, len(pool.new_labels.records)]
    assert kept[0].sources == pool.gold.sources[1:] and [s.left_out for s in kept] == [1, 0]

    (tmp_path / "gone.jsonl").unlink()  # one model's file gone: the other's texts still leave
    kept, notes = without_soft_labeled([pool.gold], [readable, gone])
    assert kept[0].records == pool.gold.records[1:]
    assert notes[0].startswith("judged without leaving out its soft-labeled texts") and "gone.jsonl" in notes[0]

    (tmp_path / "soft.jsonl").write_text('{"id": "p0", "te', encoding="utf-8")  # cut mid-line
    kept, notes = without_soft_labeled([pool.gold], [readable])
    assert kept[0].records == pool.gold.records and "cannot tell which texts" in notes[0]

    facts = json.loads((gone / "training.json").read_text(encoding="utf-8"))
    del facts["soft_labels"]["ids"]
    (gone / "training.json").write_text(json.dumps(facts), encoding="utf-8")
    kept, notes = without_soft_labeled([pool.gold], [gone])
    assert kept[0].records == pool.gold.records and "does not list its soft-labeled texts" in notes[0]
