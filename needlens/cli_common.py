"""What every `needlens` command shares: the Typer app, consoles, option types and error handling.

Every user mistake (bad data, missing column, unreadable file, unusable model) ends as
one line on stderr and exit code 2; no command module knows how labeling or training works.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from classifier.errors import ModelLoadError
from classifier.settings import Settings
from labeling.tables import TableError

if TYPE_CHECKING:
    from label_loop.store import LabelStore

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Chinese customer-feedback needs and complaint-cause classifier.",
)
console = Console(soft_wrap=True)  # long paths stay on one line (and greppable)
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

ModelOption = Annotated[
    Path | None, typer.Option("--model", "-m", help="model directory [default: NEEDLENS_MODEL_DIR or models/default]")
]


def user_errors(func: F) -> F:
    """Turn the library's user-facing errors into one line and exit 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if not isinstance(exc, _user_error_types()):
                raise
            err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _user_error_types() -> tuple[type[Exception], ...]:
    """Imported when something fails, not when the CLI starts: some of these modules load torch,
    which would add seconds to every command, `--help` included."""
    from base_models.e5_small import BaseModelError
    from label_loop.store import LabelStoreError
    from lifecycle.registry import RegistryError
    from training.data import DataError

    return (
        DataError,
        TableError,
        ModelLoadError,
        RegistryError,
        SettingsError,
        BaseModelError,
        LabelStoreError,
        FileNotFoundError,
    )


class SettingsError(ValueError):
    """A NEEDLENS_* variable that does not parse; the message names it."""


def load_settings(**overrides: Any) -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"NEEDLENS_{'__'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        raise SettingsError(f"bad configuration: {problems}") from None
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)
    return settings


StoreOption = Annotated[
    Path | None, typer.Option("--store", help="SQLite label store [default: NEEDLENS_LABEL_STORE or labels.db]")
]
RegistryOption = Annotated[
    Path | None, typer.Option("--registry", help="model registry [default: NEEDLENS_REGISTRY_DIR or models/registry]")
]
OutputFile = Annotated[Path, typer.Option("--output", "-o", help="file to write; its extension picks the format")]
TextColumn = Annotated[str, typer.Option(help="column holding the text")]


def existing_store(store: Path | None, settings: Settings) -> LabelStore | None:
    """The label store to read, or None when it has not been created yet (reading must not create it)."""
    from label_loop.store import LabelStore

    path = store or settings.label_store
    return LabelStore(path) if path.exists() else None


def seed_path(data: Path | None, use_seed: bool, settings: Settings) -> Path | list[Path] | None:
    """The seed data a `--data/--seed/--no-seed` command reads, or None for store-only runs."""
    return (data or settings.default_data) if use_seed else None
