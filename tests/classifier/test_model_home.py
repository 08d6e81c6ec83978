"""The default model is found from any folder: the current one first, then NEEDLENS_HOME."""

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from classifier.errors import ModelLoadError
from classifier.inference import Predictor
from classifier.model_dir import find_model, resolve_model_dir
from classifier.modeling import WEIGHTS_FILE
from classifier.settings import Settings, default_home
from label_loop.admission import bundled_data
from needlens.cli import app
from needlens.cli.common import load_settings
from tests.needlens.test_cli import one_line_error

runner = CliRunner()


@pytest.fixture
def home_with_default_model(toy_model, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / "default").symlink_to(toy_model[0])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (elsewhere / "in.csv").write_text("id,text\n1,屏幕坏了要求换货\n2,想参与新功能共创\n", encoding="utf-8")
    return home


def test_label_explain_and_suggest_find_the_default_model_in_the_home_from_another_folder(home_with_default_model):
    env = {"NEEDLENS_HOME": str(home_with_default_model), "NEEDLENS_MODEL_DIR": None}
    result = runner.invoke(app, ["label", "in.csv", "-o", "out.csv", "--no-progress"], env=env)
    assert result.exit_code == 0, result.output
    assert "2 labeled" in " ".join(result.stdout.split())
    assert runner.invoke(app, ["explain", "屏幕坏了要求换货"], env=env).exit_code == 0
    env["NEEDLENS_LABEL_STORE"] = "none.db"  # the default store, not created yet: nothing labeled
    result = runner.invoke(app, ["suggest", "in.csv", "-o", "s.csv", "-n", "1"], env=env)
    assert result.exit_code == 0, result.output


def test_demo_from_another_folder_labels_with_the_homes_model_rather_than_training_one(
    home_with_default_model, monkeypatch
):
    def no_training(**_):
        raise AssertionError("demo trained a model although the home has one")

    monkeypatch.setattr("needlens.cli.demo.train", no_training)
    (home_with_default_model / "data").mkdir()
    (home_with_default_model / "data" / "sample_feedback.csv").write_text("id,text\n1,屏幕坏了\n", encoding="utf-8")
    env = {"NEEDLENS_HOME": str(home_with_default_model), "NEEDLENS_MODEL_DIR": None}
    result = runner.invoke(app, ["demo", "-o", "labeled.csv"], env=env)
    assert result.exit_code == 0, result.output
    assert Path("labeled.csv").is_file() and not Path("models").exists()


def test_no_model_anywhere_is_one_line_naming_every_place_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text("id,text\n1,好\n", encoding="utf-8")
    env = {"NEEDLENS_HOME": str(tmp_path / "empty-home"), "NEEDLENS_MODEL_DIR": None}
    result = runner.invoke(app, ["label", "in.csv", "-o", "out.csv"], env=env)
    one_line_error(result, str(tmp_path / "models" / "default"), str(tmp_path / "empty-home" / "models" / "default"))
    assert not (tmp_path / "out.csv.partial.jsonl").exists()


def test_a_model_in_the_current_folder_wins_and_absolute_paths_are_not_looked_up(toy_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "default").symlink_to(toy_model[0])
    assert find_model(Path("models/default"), tmp_path / "home") == Path("models/default")
    assert resolve_model_dir(Path("models/default"), tmp_path / "home") == Path("models/default")
    with pytest.raises(ModelLoadError, match="nothing at /nowhere/model;"):
        find_model(Path("/nowhere/model"), tmp_path)


def test_the_home_defaults_to_the_checkout_when_it_holds_models(monkeypatch):
    checkout = Path(__file__).resolve().parents[2]
    expected = checkout if (checkout / "models").is_dir() else Path.home() / ".needlens"
    monkeypatch.delenv("NEEDLENS_HOME", raising=False)
    assert default_home() == expected == Settings().home
    monkeypatch.setenv("NEEDLENS_HOME", "/srv/needlens")
    assert Settings().home == Path("/srv/needlens")


def _broken_config(model_dir: Path) -> None:
    (model_dir / "config.json").write_text("{not json", encoding="utf-8")


def _truncated_weights(model_dir: Path) -> None:
    weights = model_dir / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:1000])


def _weights_of_another_model(model_dir: Path) -> None:
    save_file({"head.weight": torch.zeros(2, 2)}, str(model_dir / WEIGHTS_FILE))


@pytest.mark.parametrize("damage", [_broken_config, _truncated_weights, _weights_of_another_model])
def test_a_damaged_model_directory_is_one_line_naming_it_not_a_traceback(toy_model, tmp_path, damage):
    model_dir = tmp_path / "damaged"
    shutil.copytree(toy_model[0], model_dir)
    damage(model_dir)
    with pytest.raises(ModelLoadError, match=f"{model_dir} is not a usable needlens model: "):
        Predictor.load(model_dir)
    (tmp_path / "in.csv").write_text("id,text\n1,屏幕坏了要求换货\n", encoding="utf-8")
    result = runner.invoke(
        app, ["label", str(tmp_path / "in.csv"), "-o", str(tmp_path / "o.csv"), "-m", str(model_dir)]
    )
    one_line_error(result, "is not a usable needlens model")


def test_the_bundled_data_is_found_in_the_home_from_another_folder(tmp_path, monkeypatch):
    home = tmp_path / "home"
    for relative in (
        "data/seed/a.jsonl",
        "data/real/b.jsonl",
        "data/heldout/c.jsonl",
        "data/distill/e5-small-pool.jsonl",
    ):
        (home / relative).parent.mkdir(parents=True, exist_ok=True)
        (home / relative).write_text("", encoding="utf-8")
    (home / "data" / "sample_feedback.csv").write_text("text\n好\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "data" / "real").mkdir(parents=True)  # a folder of the current one's own wins
    monkeypatch.chdir(elsewhere)
    for name in ("NEEDLENS_DEFAULT_DATA", "NEEDLENS_SAMPLE_FILE", "NEEDLENS_MODEL_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEEDLENS_HOME", str(home))

    settings = load_settings(profile="fast")
    assert settings.default_data == [home / "data" / "seed", Path("data/real")]
    assert settings.sample_file == home / "data" / "sample_feedback.csv"
    assert settings.training.held_out_data == (home / "data" / "heldout",)
    assert settings.training.soft_labels == home / "data" / "distill" / "e5-small-pool.jsonl"
    assert bundled_data(settings) == [home / "data" / "seed", Path("data/real")]
    assert Settings(default_data=[Path("nowhere")]).default_data == [Path("nowhere")]  # found nowhere: as given


def test_paths_found_in_the_home_are_not_counted_as_set(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "data" / "seed").mkdir(parents=True)
    (home / "data" / "heldout").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEEDLENS_DEFAULT_DATA", raising=False)
    settings = Settings(home=home)
    assert settings.default_data[0] == home / "data" / "seed"
    assert settings.model_fields_set == {"home"}  # what `needlens serve` hands its workers
    assert settings.training.model_fields_set == set()  # what a training profile may still fill
