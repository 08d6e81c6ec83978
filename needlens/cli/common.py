"""What every `needlens` command shares: consoles, option types, settings and error handling.

Every user mistake (bad data, missing column, unreadable file, unusable model) ends as
one line on stderr and exit code 2; no command module knows how labeling or training works.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, Union, get_args, get_origin

import typer
from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError as PydanticSettingsError
from rich.console import Console
from rich.markup import escape

from classifier import people
from classifier.errors import ModelLoadError, OutputPathError
from classifier.labels import LONE_SURROGATE, UNDECODABLE_BYTE, validation_message
from classifier.settings import USE_M3, Profile, Settings, profile_training, with_training_in_home
from labeling.tables import TableError

if TYPE_CHECKING:
    from label_loop.store import LabelStore

console = Console(soft_wrap=True)  # long paths stay on one line (and greppable)
err_console = Console(stderr=True)


def note(message: str) -> None:
    """Something a command left out or changed, on stderr where its own lines do not bury it."""
    err_console.print(f"note: {message}", highlight=False, markup=False, soft_wrap=True)


SHOWN_ROW_PROBLEMS = 50


def print_row_problems(problems: Sequence[tuple[int, str]]) -> None:
    """Each unusable row of an input file by number and reason, on stderr: the first 50, then a
    count. Reasons quote the file, so nothing in them is read as markup."""
    for row_no, reason in problems[:SHOWN_ROW_PROBLEMS]:
        err_console.print(f"  row {row_no}: {reason}", highlight=False, markup=False)
    if len(problems) > SHOWN_ROW_PROBLEMS:
        err_console.print(f"  … and {len(problems) - SHOWN_ROW_PROBLEMS} more")


def log_line(message: str) -> None:
    """A job's progress line as written: it names texts and paths, where rich would read "[/b]"
    as markup and fail, or swallow "[red]"."""
    console.print(message, markup=False, highlight=False)


F = TypeVar("F", bound=Callable[..., Any])

ModelOption = Annotated[
    Path | None, typer.Option("--model", "-m", help="model directory \\[default: NEEDLENS_MODEL_DIR or models/default]")
]


def user_errors(func: F) -> F:
    """Turn the library's user-facing errors into one line and exit 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            _refuse_undecodable_arguments([*args, *kwargs.values()])
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if not isinstance(exc, _user_error_types()):
                raise
            err_console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _refuse_undecodable_arguments(arguments: Iterable[Any]) -> None:
    """A file name or a text that is not UTF-8 (a GBK name from a Windows share, a note typed in a
    GBK terminal) reaches Python as lone surrogates, and failed with a traceback wherever it was
    first written (a job's state file, the store), after work had begun: refused before any."""
    for item in _leaves(arguments):
        if isinstance(item, str | Path) and LONE_SURROGATE.search(str(item)):
            errors = "surrogateescape" if UNDECODABLE_BYTE.search(str(item)) else "backslashreplace"
            raise SettingsError(
                f"the argument {str(item).encode('utf-8', errors)!r} is not UTF-8 (bytes in another encoding, such as "
                "GBK): rename the file, or give the text in UTF-8"
            )


def _leaves(values: Iterable[Any]) -> Iterator[Any]:
    """Every value inside lists, tuples and dicts (a command may pass its flags on as a mapping)."""
    for value in values:
        if isinstance(value, Mapping):
            yield from _leaves(value.values())
        elif isinstance(value, list | tuple):
            yield from _leaves(value)
        else:
            yield value


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
        OutputPathError,
        RegistryError,
        SettingsError,
        BaseModelError,
        LabelStoreError,
        FileNotFoundError,
    )


class SettingsError(ValueError):
    """A NEEDLENS_* variable or a flag whose value does not parse; the message names it."""


def load_settings(
    *, profile: Profile | None = None, flags: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """The NEEDLENS_* variables with the command line's choices on top: the one way a flag reaches the settings.

    An override of None was not given; a dict overrides some fields of a section (``training={"epochs": 3}``)
    and keeps the rest. Overrides are validated as the environment is, so a bad value is one line naming its
    flag (``--`` + the field name, or ``flags``: dotted field path → flag) or its variable. A training
    ``profile`` fills the training fields the environment leaves unset, and the given training fields lie
    over both: flag, then environment, then profile, then default.
    """
    given = _given(overrides)
    _refuse_empty_secrets()
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        raise SettingsError(_problems(exc, given, flags or {})) from None
    except PydanticSettingsError as exc:  # a list or mapping variable that is not JSON
        raise SettingsError(_not_json(exc)) from None
    if profile is not None:
        training = profile_training(settings.training, profile, **given.get("training", {}))
        settings = settings.model_copy(update={"training": with_training_in_home(training, settings.home)})
    if settings.training.frozen_lower_epochs and settings.training.base_model != USE_M3:
        raise SettingsError(
            "NEEDLENS_TRAINING__FROZEN_LOWER_EPOCHS works with the use-m3 encoder only; "
            f"this run trains {settings.training.base_model}"
        )
    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)
    return settings


def with_installed_base_model(settings: Settings) -> Settings:
    """The training base model's name (e5-small) resolved to its installed directory, installed
    first when missing: a resolved path, not an override the user gave."""
    from base_models.registry import resolve_base_model

    base = resolve_base_model(settings.training.base_model, settings.base_models_dir, log=log_line)
    return settings.model_copy(update={"training": settings.training.model_copy(update={"base_model": base})})


def _given(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides actually given, sections included: None is a flag left out."""
    return {
        key: _given(value) if isinstance(value, Mapping) else value
        for key, value in overrides.items()
        if value is not None
    }


_SECRETS = ("NEEDLENS_API_KEY",)
"""Variables whose emptiness must not pass for unset: an empty variable counts as unset, and an
unset key serves /v1 to anyone, where NEEDLENS_API_KEY=${KEY} with KEY unset meant a key."""


def _refuse_empty_secrets() -> None:
    for name, value in os.environ.items():
        if name.upper() in _SECRETS and not value.strip():
            raise SettingsError(
                f"bad configuration: {name} is set but empty; give the key, or unset it to serve /v1 without one"
            )


def check_training_device(device: str, flag_given: bool) -> None:
    """``cuda`` without a GPU is refused before data is read, a base model installed or a
    baseline fitted, not minutes later when fine-tuning starts."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        source = "--device" if flag_given else "NEEDLENS_TRAINING__DEVICE"
        raise SettingsError(f"{source} cuda: torch sees no CUDA GPU here; use auto or cpu")


def _not_json(exc: Exception) -> str:
    """pydantic-settings names only the section ("monitor") whose variable is not JSON; name the
    variables themselves: the set ones under it whose values JSON cannot read."""
    field = re.search(r'field "([^"]+)"', str(exc))
    prefix = "NEEDLENS_" + (field.group(1).upper() if field else "")
    suspects = sorted(
        name
        for name, value in os.environ.items()
        if name.upper().startswith(prefix) and _expects_json(name.upper()) and not _json(value)
    )
    named = ", ".join(suspects) or prefix + "…"
    return (
        f"bad configuration: {named}: a list or mapping variable is JSON, e.g. "
        '\'["channel", "region"]\' or \'{"ana": {...}}\', and this is not'
    )


def _expects_json(variable: str) -> bool:
    """Whether the settings field a NEEDLENS_ variable sets is a list, a mapping or a section:
    what pydantic-settings reads as JSON."""
    model: type[BaseModel] = Settings
    parts = variable.removeprefix("NEEDLENS_").lower().split("__")
    for depth, part in enumerate(parts, 1):
        field = model.model_fields.get(part)
        if field is None:
            return False
        kinds = (
            get_args(field.annotation) if get_origin(field.annotation) in (Union, UnionType) else (field.annotation,)
        )
        section = next((k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)), None)
        if depth == len(parts):
            return section is not None or any(get_origin(k) in (list, dict, tuple, set) for k in kinds)
        if section is None:
            return False
        model = section
    return False


def _json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def _problems(exc: ValidationError, given: Mapping[str, Any], flags: Mapping[str, str]) -> str:
    problems = [_problem(error, given, flags) for error in exc.errors()]
    from_environment = any(problem.startswith("NEEDLENS_") for problem in problems)
    return ("bad configuration: " if from_environment else "") + "; ".join(problems)


def _problem(error: Any, given: Mapping[str, Any], flags: Mapping[str, str]) -> str:
    """One error, after the flag or variable that gave the value; a check across fields names them itself."""
    loc = tuple(map(str, error["loc"]))
    if not loc or _is_section(loc):
        return validation_message(error)  # a check across a section's fields: no one variable to blame
    return f"{_source(loc, given, flags)}: {validation_message(error)}"


def _is_section(loc: tuple[str, ...]) -> bool:
    field = Settings.model_fields.get(loc[0]) if len(loc) == 1 else None
    return field is not None and isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)


def _source(loc: tuple[str, ...], given: Mapping[str, Any], flags: Mapping[str, str]) -> str:
    """The flag that gave the field at ``loc`` its bad value, else the variable that did."""
    value: Any = given
    for depth, part in enumerate(loc, 1):
        if not isinstance(value, Mapping) or part not in value:
            break
        value = value[part]
        if not isinstance(value, Mapping) or depth == len(loc):
            return flags.get(".".join(loc[:depth]), "--" + part.replace("_", "-"))
    return f"NEEDLENS_{'__'.join(loc).upper()}"


StoreOption = Annotated[
    Path | None, typer.Option("--store", help="SQLite label store \\[default: NEEDLENS_LABEL_STORE or labels.db]")
]
RegistryOption = Annotated[
    Path | None, typer.Option("--registry", help="model registry \\[default: NEEDLENS_REGISTRY_DIR or models/registry]")
]
OutputFile = Annotated[Path, typer.Option("--output", "-o", help="file to write; its extension picks the format")]
TextColumn = Annotated[str, typer.Option(help="column holding the text")]
EncodingOption = Annotated[
    str,
    typer.Option(help="text encoding of a CSV/TSV/JSONL file: auto (UTF-8, UTF-8 with BOM or GB18030) or a codec"),
]


def existing_store(settings: Settings, named: bool = False) -> LabelStore | None:
    """The label store to read, or None when it has not been created yet (reading must not create
    it). One the user ``named`` (--store) must exist: a mistyped name would read as an empty store."""
    from label_loop.store import LabelStore, LabelStoreError

    if settings.label_store.exists():
        return LabelStore(settings.label_store)
    if named:
        raise LabelStoreError(f"no label store at {settings.label_store} (--store or NEEDLENS_LABEL_STORE names it)")
    return None


def store_to_read(settings: Settings) -> LabelStore:
    """The label store a command reads or decides in, which must exist whoever named it: a
    mistyped --store must not create an empty store and report that it holds nothing."""
    store = existing_store(settings, named=True)
    assert store is not None
    return store


def person_name(value: str, option: str) -> str:
    """A name the store or an account records (``classifier.people``); one that names nobody is
    refused, one line and exit 2, before anything is read or asked."""
    try:
        return people.person_name(value)
    except ValueError as exc:
        err_console.print(f"[red]error:[/] {option}: {exc}", highlight=False)
        raise typer.Exit(2) from None


def data_flag(data: Path | None, seed_data: bool = True) -> list[Path] | None:
    """A `--data` flag as the ``default_data`` override it is (None: not given); with `--no-seed`
    (``seed_data`` False) the seed data is left out, so a `--data` beside it is refused, not ignored."""
    if data is not None and not seed_data:
        raise typer.BadParameter(
            "--no-seed leaves the seed data out, so --data would be ignored: give one", param_hint="--data"
        )
    return [data] if data is not None else None
