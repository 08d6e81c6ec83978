"""`needlens retrain|models`: train and gate candidates; the registry says which model serves."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from classifier.settings import Profile
from needlens.cli.common import (
    RegistryOption,
    StoreOption,
    check_training_device,
    console,
    data_flag,
    existing_store,
    load_settings,
    log_line,
    user_errors,
    with_installed_base_model,
)

if TYPE_CHECKING:
    from lifecycle.registry import ModelRegistry

commands = typer.Typer()


@commands.command()
@user_errors
def retrain(
    data: Annotated[
        Path | None, typer.Option(help="seed JSONL file or directory \\[default: data/seed]; --no-seed for store only")
    ] = None,
    seed_data: Annotated[bool, typer.Option("--seed/--no-seed", help="train on the seed data too")] = True,
    store: StoreOption = None,
    registry: RegistryOption = None,
    force: Annotated[
        str | None, typer.Option(help="promote even if the gate refuses; the reason is recorded in the registry log")
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="training epochs \\[default: the profile's]")] = None,
    profile: Annotated[
        Profile, typer.Option(help="the training recipe, as `needlens train` has it (fast: distilled USE-m3)")
    ] = "fast",
) -> None:
    """Train a candidate on seed data + the label store; promote it only if it is not worse on held-out labels."""
    from lifecycle.comparison_report import print_comparison
    from lifecycle.registry import ModelRegistry
    from lifecycle.retrain import retrain as run_retrain

    settings = load_settings(
        profile=profile,
        default_data=data_flag(data, seed_data),
        label_store=store,
        registry_dir=registry,
        training={"epochs": epochs},
    )
    check_training_device(settings.training.device, flag_given=False)
    settings = with_installed_base_model(settings)
    outcome = run_retrain(
        ModelRegistry(settings.registry_dir),
        settings.default_data if seed_data else None,
        existing_store(settings, named=store is not None),
        settings,
        force_reason=force,
        log=log_line,
    )
    print_comparison(outcome.comparison, console)
    console.print(f"comparison report: {outcome.report_dir / 'report.md'}")
    if not outcome.promoted:
        raise typer.Exit(1)


group = typer.Typer(no_args_is_help=True, help="The model registry: list, inspect, promote and roll back versions.")


@group.command("list")
@user_errors
def models_list(registry: RegistryOption = None) -> None:
    """Every registered version, newest last; the active one is marked, and one that cannot be
    served or read is listed with why."""
    from rich.table import Table

    from lifecycle.comparison_report import headline_figures

    summaries = _registry(registry).summaries()
    figures = {s.version: headline_figures(s.held_out or {}, s.version) for s in summaries}
    judged_on = {s.version: _judged_on(s.held_out or {}, s.version) for s in summaries if figures[s.version]}
    show_set = set(judged_on.values()) - {"gold"}  # a set column only when not every figure is gold
    table = Table(caption=_list_caption(bool(show_set)))
    width = max((len(s.version) for s in summaries), default=7)
    for column in ("", "version", "labels", "needs", "cause", *(("on",) if show_set else ()), "shipped"):
        table.add_column(column, no_wrap=True, min_width=width if column == "version" else None)
    for s in summaries:
        metrics = figures[s.version]
        table.add_row(
            "*" if s.active else "",
            s.version,
            str(s.training_records or "–"),
            *(f"{metrics[k]:.4f}" if k in metrics else "–" for k in ("needs_macro_f1", "cause_macro_f1")),
            *((judged_on.get(s.version, "–"),) if show_set else ()),
            {True: "yes", False: "no"}.get((s.held_out or {}).get("promoted"), "–"),
        )
    console.print(table)
    for s in summaries:
        if s.problem:
            console.print(f"{s.version}: {s.problem}", highlight=False, markup=False)


def _list_caption(show_set: bool) -> str:
    """What the figures are: the gold set's only when every listed version was judged on it."""
    if not show_set:
        return "needs, cause: macro-F1 on the gold set when the version was judged; * active"
    return (
        "needs, cause: macro-F1 when the version was judged, on the set under 'on': gold = the gold set, "
        "new = the held-out new labels (judged without a gold set), held = the held-out set (a report "
        "older than the gold set); * active"
    )


def _judged_on(comparison: dict[str, Any], version: str) -> str:
    """Which set ``headline_figures`` took a version's figures from: the footer must not call
    new-labels figures gold figures."""
    sets = comparison.get("sets") or {}
    for name, short in (("gold", "gold"), ("new-labels", "new")):
        if version in (sets.get(name) or {}).get("models", {}):
            return short
    return "held"  # a report written before the gold set existed: its one held-out set


def _registry(option: Path | None) -> ModelRegistry:
    """The registry a `models` command reads or switches, which must exist (a mistyped
    --registry is an error, not an empty registry); `retrain` creates one instead."""
    from lifecycle.registry import ModelRegistry

    return ModelRegistry.existing(load_settings(registry_dir=option).registry_dir)


@group.command("show")
@user_errors
def models_show(
    version: Annotated[str | None, typer.Argument(help="version \\[default: the active one]")] = None,
    registry: RegistryOption = None,
) -> None:
    """A version's model card and, if it came from `needlens retrain`, its comparison report."""
    from lifecycle.registry import RegistryError

    models = _registry(registry)
    version = version or models.active()
    if version is None:
        raise RegistryError(f"{models.root}: no active model; name a version")
    path = models.path(version)
    console.print(f"{version}{' (active)' if version == models.active() else ''}: {path}", highlight=False)
    for name in ("README.md", "reports/comparison/report.md"):
        if (path / name).is_file():
            console.print((path / name).read_text(encoding="utf-8"), markup=False, highlight=False)


@group.command("promote")
@user_errors
def models_promote(
    version: Annotated[str, typer.Argument(help="the version to make active (a name under versions/)")],
    reason: Annotated[str, typer.Option(help="why; recorded in the registry log")],
    registry: RegistryOption = None,
) -> None:
    """Make a version active by hand (the gate is not consulted; the reason is recorded)."""
    _registry(registry).promote(version, reason)
    console.print(f"active: {version}", highlight=False)


@group.command("rollback")
@user_errors
def models_rollback(
    reason: Annotated[str, typer.Option(help="why; recorded in the registry log")] = "rollback",
    registry: RegistryOption = None,
) -> None:
    """Re-activate the version active before the current one; repeated, it walks further back,
    never to a version rolled back from (the registry log says which)."""
    version = _registry(registry).rollback(reason)
    console.print(f"active: {version}", highlight=False)
