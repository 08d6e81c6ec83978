"""The registry's own refusals: version names that are paths, incomplete versions, a corrupt log
or side file, rollback walking back through the log, and a registry path that does not exist."""

import json
from itertools import pairwise
from pathlib import Path

import pytest
import torch
from filelock import FileLock
from safetensors.torch import save_file
from typer.testing import CliRunner

from classifier.modeling import WEIGHTS_FILE
from lifecycle import registry as registry_module
from lifecycle.registry import SWITCH_LOCK, ModelRegistry, RegistryError
from needlens.cli import app

runner = CliRunner()


def fake_version(registry: ModelRegistry, version: str, weights: bool = True) -> str:
    """A version directory with the files the registry checks and reads; nothing here loads the model."""
    target = registry.versions / version
    target.mkdir(parents=True)
    (target / "config.json").write_text(json.dumps({"model_version": version}), encoding="utf-8")
    if weights:
        save_file({"head.weight": torch.zeros(2)}, str(target / WEIGHTS_FILE))
    return version


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    """v1, v2 and v3, none active yet."""
    registry = ModelRegistry(tmp_path / "r")
    for version in ("v1", "v2", "v3"):
        fake_version(registry, version)
    return registry


def models(*args: str, registry: ModelRegistry | Path):
    root = registry.root if isinstance(registry, ModelRegistry) else registry
    return runner.invoke(app, ["models", *args, "--registry", str(root)])


def test_promote_refuses_a_path_even_one_that_holds_a_model(registry, tmp_path):
    outside = ModelRegistry(tmp_path / "elsewhere")
    fake_version(outside, "m")
    registry.promote("v1", "first")
    for name in (str(outside.versions / "m"), "../../elsewhere/versions/m", "v1/../v2", "..", ".", ""):
        with pytest.raises(RegistryError, match="not a version name"):
            registry.promote(name, "x")
    assert registry.active() == "v1"

    result = models("promote", str(outside.versions / "m"), "--reason", "x", registry=registry)
    assert result.exit_code == 2 and "not a version name" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert models("show", "../../elsewhere/versions/m", registry=registry).exit_code == 2
    assert (registry.root / "ACTIVE").read_text().strip() == "v1"
    assert [e["version"] for e in registry.history()] == ["v1"]


def test_one_incomplete_version_is_listed_with_why_and_cannot_be_promoted(registry):
    fake_version(registry, "v4", weights=False)
    registry.promote("v1", "first")
    listing = models("list", registry=registry)
    assert listing.exit_code == 0, listing.output
    assert all(v in listing.output for v in ("v1", "v2", "v3"))
    assert f"v4: incomplete: no {WEIGHTS_FILE}" in listing.output

    refused = models("promote", "v4", "--reason", "x", registry=registry)
    assert refused.exit_code == 2 and "is incomplete" in refused.output and "no model version" not in refused.output
    assert registry.active() == "v1"


def test_an_unreadable_training_json_marks_its_version_and_the_rest_are_listed(registry):
    (registry.versions / "v1" / "training.json").write_text("{bad", encoding="utf-8")
    (registry.versions / "v2" / "training.json").write_text(json.dumps({"data": {"records": 321}}), encoding="utf-8")
    listing = models("list", registry=registry)
    assert listing.exit_code == 0, listing.output
    assert "321" in listing.output and "v3" in listing.output
    assert "v1: training.json unreadable" in listing.output


def test_a_corrupt_registry_log_is_one_line_naming_file_and_line(registry):
    registry.promote("v1", "first")
    registry.promote("v2", "second")
    with registry.log_file.open("a", encoding="utf-8") as handle:
        handle.write('{"at": trunc\n')
    result = models("rollback", registry=registry)
    assert result.exit_code == 2, result.output
    assert "registry.jsonl, line 3" in result.output and "Traceback" not in result.output
    assert registry.active() == "v2"


def test_a_record_logged_after_a_torn_write_starts_its_own_line(registry):
    registry.promote("v1", "first")
    with registry.log_file.open("a", encoding="utf-8") as handle:
        handle.write('{"at": "2026-01-01T00:00:00+00:00", "event": "prom')  # crash mid-record
    registry.promote("v2", "second")
    lines = registry.log_file.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1])["version"] == "v2"
    with pytest.raises(RegistryError, match="line 2"):
        registry.history()


def test_rollback_walks_back_and_never_returns_to_a_version_rolled_back_from(registry):
    for version in ("v1", "v2", "v3"):
        registry.promote(version, "promoted")
    assert models("rollback", "--reason", "v3 bad", registry=registry).exit_code == 0
    assert registry.active() == "v2"
    assert models("rollback", "--reason", "v2 bad too", registry=registry).exit_code == 0
    assert registry.active() == "v1"
    refused = models("rollback", registry=registry)
    assert refused.exit_code == 2 and "no earlier active version" in refused.output
    assert registry.active() == "v1"

    registry.promote("v3", "fixed, promoted again by hand")  # a new promotion makes it eligible again
    registry.promote("v2", "and this one")
    assert registry.rollback("v2 still bad") == "v3"
    assert [e["event"] for e in registry.history()].count("rollback") == 3


def test_rollback_after_promoting_an_old_version_again_does_not_bounce_back(registry):
    registry.promote("v1", "first")
    registry.promote("v2", "second")
    registry.promote("v1", "back to v1 by hand")
    assert registry.rollback("v1 after all not") == "v2"
    with pytest.raises(RegistryError, match="no earlier active version"):
        registry.rollback("again")  # v1 was rolled back from


def test_rollback_passes_over_a_version_no_longer_in_the_registry(registry):
    for version in ("v1", "v2", "v3"):
        registry.promote(version, "promoted")
    (registry.versions / "v2" / WEIGHTS_FILE).unlink()
    assert registry.rollback("v3 bad") == "v1"


@pytest.mark.parametrize(
    "args", [("list",), ("show",), ("show", "v1"), ("rollback",), ("promote", "v1", "--reason", "x")]
)
def test_a_registry_path_that_does_not_exist_is_an_error_naming_it(tmp_path, args):
    missing = tmp_path / "typo_dir"
    result = models(*args, registry=missing)
    assert result.exit_code == 2, result.output
    assert "typo_dir" in result.output and "does not exist" in result.output
    assert not missing.exists()


def judged(registry: ModelRegistry, version: str, set_name: str) -> None:
    """Give ``version`` the comparison report of a retrain that judged it on ``set_name``."""
    report = registry.versions / version / "reports" / "comparison"
    report.mkdir(parents=True)
    figures = {"needs_macro_f1": 0.81, "cause_macro_f1": 0.72}
    comparison = {"sets": {set_name: {"models": {version: figures}}}, "promoted": True}
    (report / "report.json").write_text(json.dumps(comparison), encoding="utf-8")


def test_list_says_which_set_the_figures_are_from(registry):
    judged(registry, "v3", "gold")
    all_gold = models("list", registry=registry)
    assert "macro-F1 on the gold set" in all_gold.output and "│ gold " not in all_gold.output

    judged(registry, "v2", "new-labels")  # a candidate judged without a gold set
    listing = models("list", registry=registry)
    assert listing.exit_code == 0, listing.output
    rows = {line.split("│")[2].strip(): line for line in listing.output.splitlines() if line.count("│") > 5}
    assert "│ new " in rows["v2"] and "│ gold " in rows["v3"]
    assert "macro-F1 on the gold set" not in listing.output
    assert "new = the held-out new labels" in listing.output


@pytest.mark.parametrize("written", ["ABSOLUTE", "../../elsewhere/versions/m", ".."])
def test_an_active_pointer_written_by_hand_as_a_path_is_not_served(registry, tmp_path, written):
    from classifier.errors import ModelLoadError
    from classifier.model_dir import resolve_model_dir

    outside = ModelRegistry(tmp_path / "elsewhere")
    fake_version(outside, "m")
    name = str(outside.versions / "m") if written == "ABSOLUTE" else written
    (registry.root / "ACTIVE").write_text(name + "\n", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="which is not a version name"):
        resolve_model_dir(registry.root)


def test_rollback_from_a_hand_written_active_refuses_instead_of_moving_forward(registry):
    for version in ("v1", "v2", "v3"):
        registry.promote(version, "next")
    (registry.root / "ACTIVE").write_text("v1\n", encoding="utf-8")  # by hand: v1's last activation is not the latest
    with pytest.raises(RegistryError, match="v1 has no earlier active version"):
        registry.rollback("back")  # not forward to v3, which the old code did
    assert registry.active() == "v1"
    (registry.root / "ACTIVE").write_text("v4\n", encoding="utf-8")
    fake_version(registry, "v4")
    with pytest.raises(RegistryError, match="never made active"):
        registry.rollback("back")


def test_an_odd_directory_or_one_without_config_is_listed_not_fatal(registry):
    (registry.versions / "a\\b").mkdir()
    (registry.versions / "a\\b" / "config.json").write_text("{}", encoding="utf-8")
    (registry.versions / "v0").mkdir()  # a copy that never got its config.json
    result = models("list", registry=registry)
    assert result.exit_code == 0, result.output
    assert "v0: incomplete: no config.json" in " ".join(result.output.split())
    assert "v1" in result.output


@pytest.mark.parametrize("damage", [b"", b"\x00" * 7, "truncated"])
def test_a_version_whose_weights_do_not_read_back_is_neither_promoted_nor_rolled_back_to(registry, damage):
    """Promoting a truncated copy used to succeed, and a service started on it never had a model."""
    for version in ("v1", "v2", "v3"):
        registry.promote(version, "in turn")
    weights = registry.versions / "v2" / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:-3] if damage == "truncated" else damage)
    with pytest.raises(RegistryError, match=r"model version 'v2' .* is damaged .*cannot be served or promoted"):
        registry.promote("v2", "broken")
    result = models("promote", "v2", "--reason", "broken", registry=registry)
    assert result.exit_code == 2 and "is damaged" in result.output
    assert registry.active() == "v3" and len(registry.history()) == 3
    assert registry.rollback("back") == "v1"  # v2, the version before, is passed over


def test_a_switch_waits_for_another_and_one_that_waits_too_long_changes_nothing(registry, monkeypatch):
    """Two promotes at once wrote through one temporary file: one failed on the rename while its
    version became active, and the log named switches that never happened."""
    registry.promote("v1", "first")
    monkeypatch.setattr(registry_module, "SWITCH_WAIT_S", 0.2)
    with FileLock(registry.root / SWITCH_LOCK):  # another process in the middle of a switch
        for switch in (lambda: registry.promote("v2", "x"), lambda: registry.rollback("x")):
            with pytest.raises(RegistryError, match="another promote or rollback has held"):
                switch()
    assert registry.active() == "v1" and len(registry.history()) == 1


def test_concurrent_switches_leave_active_and_the_log_agreeing(registry):
    from concurrent.futures import ThreadPoolExecutor

    registry.promote("v1", "first")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: ModelRegistry(registry.root).promote(f"v{1 + i % 3}", str(i)), range(40)))
    log = registry.history()
    assert len(log) == 41 and registry.active() == log[-1]["version"]
    assert all(entry["previous"] == before["version"] for before, entry in pairwise(log))
