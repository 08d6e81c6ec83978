"""`needlens demo`: train the default model when there is none, then label the bundled sample."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from classifier.settings import Settings
from needlens.cli.common import console, load_settings, user_errors
from needlens.cli.label import run_label_job
from needlens.cli.train import train

commands = typer.Typer()


@commands.command()
@user_errors
def demo(
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="where the labeled sample is written (CSV, or any format `label` writes)"),
    ] = Path("out/sample_labeled.csv"),
) -> None:
    """Train the default model if there is none, then label the bundled sample and summarise it."""
    from labeling.plan import plan_label_job
    from training.data import describe_paths

    settings = load_settings()
    plan = plan_label_job(settings.sample_file, output)
    # found as `needlens label` finds it, from any folder and in a registry: run elsewhere, a model
    # in the home's models/default was missed and ten minutes spent training another
    if not _has_model(settings):
        data = describe_paths(settings.default_data)
        console.print(f"no model at {settings.model_dir}: training the default model from {data}", highlight=False)
        train(
            data=None,
            out=None,
            profile="fast",
            base_model=None,
            soft_labels=None,
            no_soft_labels=False,
            epochs=None,
            seed=None,
        )
    run_label_job(plan, settings, progress=True)


def _has_model(settings: Settings) -> bool:
    from classifier.errors import ModelLoadError
    from classifier.model_dir import resolve_model_dir

    try:
        return (resolve_model_dir(settings.model_dir, settings.home) / "config.json").is_file()
    except ModelLoadError:
        return False
