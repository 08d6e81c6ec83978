"""What the label pool refuses: only retraining needs texts to train on and texts to judge on."""

import pytest
from typer.testing import CliRunner

from label_loop.pool import gather_labels, in_holdout, require_trainable
from label_loop.store import LabelStore
from needlens.cli import app
from tests.conftest import write_csv, write_jsonl
from training.data import DataError

runner = CliRunner()
HELD = [t for t in (f"第{i}次下单，屏幕坏了要求换货" for i in range(400)) if in_holdout(t, 12)]
KEPT = [t for t in (f"第{i}次下单，屏幕坏了要求换货" for i in range(400)) if not in_holdout(t, 12)]


def _labels_file(tmp_path, texts, name="gold.csv"):
    return write_csv(
        tmp_path / name, [(t, "surface", "system_error") for t in texts], header=("text", "needs", "cause")
    )


def test_a_store_whose_labels_are_all_gold_shows_its_gold_set_and_refuses_only_retraining(tmp_path):
    store = str(tmp_path / "l.db")
    source = _labels_file(tmp_path, KEPT[:4])
    no_seed = {"NEEDLENS_DEFAULT_DATA": '["/nonexistent"]'}  # as outside the checkout: only the store's labels
    added = runner.invoke(app, ["labels", "gold", "add", str(source), "--store", store, "--by", "lee"], env=no_seed)
    assert added.exit_code == 0, added.output
    assert "4 gold labels added" in added.output and "gold set" in added.output
    shown = runner.invoke(app, ["labels", "gold", "show", "--store", store], env=no_seed)
    assert shown.exit_code == 0 and "4 texts" in shown.output, shown.output
    pool = gather_labels(None, LabelStore(tmp_path / "l.db"), 12)
    with pytest.raises(DataError, match="nothing to train on: all 4 labeled texts are gold or held out"):
        require_trainable(pool, 12)


def _import(tmp_path, texts, name) -> None:
    source = _labels_file(tmp_path, texts, name)
    result = runner.invoke(app, ["labels", "import", str(source), "--store", str(tmp_path / "l.db"), "--no-check"])
    assert result.exit_code == 0 and f"{len(texts)} labels added" in result.output, result.output


def test_retraining_needs_something_to_judge_on(tmp_path):
    with pytest.raises(DataError, match="no labeled texts at all"):
        require_trainable(gather_labels(None, None, 12), 12)
    store = LabelStore(tmp_path / "l.db")
    _import(tmp_path, KEPT[:5], "l.csv")
    with pytest.raises(DataError, match="nothing to judge a candidate on: none of the 5 labeled texts"):
        require_trainable(gather_labels(None, store, 12), 12)
    assert HELD, "the content-hash hold-out takes some of these texts"
    _import(tmp_path, HELD[:2], "h.csv")
    pool = require_trainable(gather_labels(None, store, 12), 12)
    assert len(pool.train) == 5 and len(pool.new_labels.records) == 2


def test_retraining_refuses_a_seed_text_over_the_length_limit_as_training_does(tmp_path):
    seed = write_jsonl(
        tmp_path / "seed.jsonl",
        [{"id": "a", "text": "长" * 30, "needs": ["surface"], "cause": "system_error"}],
    )
    assert len(gather_labels(seed, None, 12).train + gather_labels(seed, None, 12).gold.records) == 1
    with pytest.raises(DataError, match=r"seed.jsonl:1: text has 30 characters, over the limit of 20"):
        gather_labels(seed, None, 12, max_chars=20)
