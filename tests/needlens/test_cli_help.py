"""Every command's --help shows what its options' help says, defaults included."""

from collections.abc import Iterator
from typing import Any

import typer
from typer.testing import CliRunner

from needlens.cli import app

runner = CliRunner()


def commands(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    """Every leaf command with its path (typer's command classes are its own, not click's)."""
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from commands(sub, [*path, name])
    else:
        yield path, command


def test_every_options_stated_default_reaches_the_help_page():
    """Rich read "[default: reports/MODEL/DATA]" as a style tag and printed nothing of it: about
    twenty options' help lost the default it named."""
    checked = 0
    for path, command in commands(typer.main.get_command(app), []):
        helps = [p.help for p in command.params if "default:" in (getattr(p, "help", None) or "")]
        if not helps:
            continue
        page = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
        shown = " ".join(page.output.replace("│", " ").split())
        for help_text in helps:
            checked += 1
            assert " ".join(help_text.replace("\\[", "[").split()) in shown, (path, help_text)
    assert checked >= 20
