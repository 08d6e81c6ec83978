"""Every command's --help shows what its options' help says, defaults included."""

import re
from collections.abc import Iterator
from pathlib import Path
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


def readme_command_rows() -> list[str]:
    """The first cell of each row of README's command table: the commands with their options."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Commands") : readme.index("Bad input never costs")]
    return [line.split("` |", 1)[0] for line in table.splitlines() if line.startswith("| `needlens ")]


def named(option: str, row: str) -> bool:
    """The option as a whole flag: "-m" is not named by "--max-similarity", nor "--note" by "--notes"."""
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", row) is not None


def test_a_flag_is_found_whole_not_inside_a_longer_one():
    assert named("-m", "[--model DIR\\|-m] [--max-similarity 0.9]")
    assert not named("-m", "[--max-similarity 0.9]") and not named("--note", "[--notes TEXT]")


def test_every_option_of_every_command_is_in_its_readme_row():
    """The table is where a user looks first; options added since it was written went missing from
    it (retrain --epochs, audit --folds, suggest --max-similarity, monitor --no-charts, …)."""
    rows = readme_command_rows()
    missing = []
    for path, command in commands(typer.main.get_command(app), []):
        # a row names its command in full, or several of one group as "list\|show …\|accept …"
        row = next((r for r in rows if f"needlens {' '.join(path)}" in r), None) or next(
            (r for r in rows if f"needlens {' '.join(path[:-1])} " in r and path[-1] in r), None
        )
        if row is None:
            missing.append(" ".join(path))
            continue
        for param in command.params:
            names = [*param.opts, *getattr(param, "secondary_opts", [])]
            if param.param_type_name == "option" and "--help" not in names and not any(named(n, row) for n in names):
                missing.append(f"{' '.join(path)} {names[0]}")
    assert not missing, missing
