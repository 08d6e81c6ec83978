"""`needlens review`: fill the browser review queue (/ui) and make its accounts' password hashes."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from needlens.cli.common import (
    EncodingOption,
    StoreOption,
    TextColumn,
    console,
    err_console,
    load_settings,
    person_name,
    print_row_problems,
    user_errors,
)


class AccountRole(StrEnum):
    annotator = "annotator"
    admin = "admin"


group = typer.Typer(no_args_is_help=True, help="The review queue analysts work through in the browser (/ui).")


@group.command("add")
@user_errors
def review_add(
    file: Annotated[
        Path, typer.Argument(help="a `needlens suggest` output or any unlabeled CSV/TSV/JSONL/XLSX/Parquet")
    ],
    store: StoreOption = None,
    text_column: TextColumn = "text",
    id_column: Annotated[str | None, typer.Option(help="column holding the row id \\[default: id, if any]")] = None,
    encoding: EncodingOption = "auto",
) -> None:
    """Queue a file's texts for review in the browser; texts already labeled or queued are skipped,
    unusable rows listed (exit 1)."""
    from label_loop.review_import import read_queue_file
    from label_loop.review_queue import ReviewQueue
    from label_loop.store import LabelStore

    settings = load_settings(label_store=store)
    label_store = LabelStore(settings.label_store)
    labeled = {event.text_hash for event in label_store.current()}
    found = read_queue_file(file, text_column, id_column, settings.max_chars, labeled, encoding)
    added, queued = ReviewQueue(label_store).enqueue(found.texts)
    console.print(
        f"{file}: {added} texts queued for review, {queued} already queued, {found.labeled} already labeled, "
        f"{len(found.invalid)} unusable"
    )
    print_row_problems(found.invalid)
    if found.invalid:
        raise typer.Exit(1)


@group.command("hash-password")
@user_errors
def hash_password_command(
    name: Annotated[str, typer.Argument(help="the account's name (shown in the UI, recorded as the annotator)")],
    role: Annotated[
        AccountRole, typer.Option(help="annotator labels; admin also promotes and rolls back models")
    ] = AccountRole.annotator,
) -> None:
    """Ask for a password and print the account's NEEDLENS_UI_USERS entry (its scrypt hash, never the password)."""
    import json

    from serve.settings import UiUser
    from serve.ui.passwords import hash_password

    name = person_name(name, "NAME")
    password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    entry = UiUser(role=role.value, password_hash=hash_password(password))
    console.print(json.dumps({name: entry.model_dump()}, ensure_ascii=False), highlight=False, soft_wrap=True)
    err_console.print("put it (merged with the other accounts) in NEEDLENS_UI_USERS='{...}'")
