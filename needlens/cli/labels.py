"""`needlens labels`: analysts' labels into the store, held in quarantine when suspicious, gold set, export.

Analysts' labels go into the store and are checked on arrival; the gold set judges every candidate.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from needlens.cli.common import (
    EncodingOption,
    OutputFile,
    StoreOption,
    TextColumn,
    console,
    err_console,
    existing_store,
    load_settings,
    note,
    person_name,
    print_row_problems,
    store_to_read,
    user_errors,
)

if TYPE_CHECKING:
    from classifier.inference import Predictor
    from classifier.settings import Settings
    from label_loop.admission import Admission
    from label_loop.arrival import ArrivalCheck
    from label_loop.store import LabelStore

group = typer.Typer(no_args_is_help=True, help="The label store: import, export and inspect analysts' labels.")
BatchArgument = Annotated[
    int, typer.Argument(min=1, max=2**63 - 1, help="batch number (`quarantine list`)")  # SQLite's integer range
]


@group.command("import")
@user_errors
def labels_import(
    file: Annotated[Path, typer.Argument(help="CSV, TSV, JSONL, XLSX or Parquet with texts and labels")],
    store: StoreOption = None,
    text_column: TextColumn = "text",
    needs_column: Annotated[
        str, typer.Option(help="needs: a list, 'a|b' or 'a,b'; English or Chinese names")
    ] = "needs",
    cause_column: Annotated[str, typer.Option(help="cause; English or Chinese name")] = "cause",
    annotator_column: Annotated[str | None, typer.Option(help="column naming who labeled the row")] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="model that judges the labels \\[default: the registry's active one]"),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="hold suspicious labels in quarantine (see README)")
    ] = True,
    encoding: EncodingOption = "auto",
) -> None:
    """Import labeled rows. Invalid rows are listed and skipped, suspicious batches held in
    quarantine (exit 1 for either); a file with swapped needs/cause columns is refused (exit 2);
    re-imports add nothing."""
    from label_loop.importer import LabelColumns, import_labels
    from label_loop.store import LabelStore

    settings = load_settings(label_store=store)
    label_store = LabelStore(settings.label_store)
    report = import_labels(
        label_store,
        file,
        LabelColumns(text_column, needs_column, cause_column, annotator_column),
        settings.max_chars,
        (lambda: _arrival_check(settings, label_store, model)) if check else None,
        settings.arrival.min_labels,
        encoding,
    )
    held = sum(h.labels for h in report.admission.held)
    console.print(
        f"{file}: {report.added} labels added, {report.skipped} already in the store or quarantine, "
        f"{held} held in quarantine, {len(report.invalid)} invalid"
    )
    _print_admission(report.admission, settings.arrival.min_labels if check else None)
    _print_conflicts(report.conflicts)
    print_row_problems(report.invalid)
    if report.invalid or report.admission.held:
        raise typer.Exit(1)


def _print_conflicts(conflicts: list[list[int]]) -> None:
    """Rows of one file that label the same text differently: two readings disagree (or one is a
    slip), and which of them is the text's label afterwards depends on what was already stored."""
    if not conflicts:
        return
    shown = "; ".join(", ".join(map(str, rows[:-1])) + f" and {rows[-1]}" for rows in conflicts[:10])
    more = f"; … and {len(conflicts) - 10} more" if len(conflicts) > 10 else ""
    console.print(
        f"note: {len(conflicts)} texts are labeled differently on more than one row (rows {shown}{more}); "
        "check which reading should stand (`labels export --history` shows every one recorded)",
        highlight=False,
    )


def _print_admission(admission: Admission, min_labels: int | None) -> None:
    """What the arrival checks found and held (``min_labels`` None: no checks were asked for)."""
    for name, result in admission.checks.items():
        console.print(f"  checked {name}: {result.summary()}", highlight=False)
    if min_labels is not None and not admission.checks and admission.added:
        console.print(f"  not checked: fewer than {min_labels} new labels")
    for batch in admission.held:
        line = f"  quarantine batch {batch.batch_id} ({batch.labels} labels): {batch.reason}"
        err_console.print(line, highlight=False, soft_wrap=True)
    if admission.held:
        hint = "  not trained on until accepted: `needlens labels quarantine list|show|accept|reject`"
        err_console.print(hint, soft_wrap=True)


def _arrival_check(settings: Settings, store: LabelStore, model: Path | None) -> ArrivalCheck:
    """The checks arriving labels pass: against the bundled data and the store, judged by the
    active model (the given one, else the registry's active version, else the default model).
    A check that cannot run is named, not dropped: a batch one judge holds alone reads otherwise
    as judged by both."""
    from label_loop.admission import build_arrival_check, bundled_data

    return build_arrival_check(settings, bundled_data(settings, note), store, _judging_model(settings, model))


def _judging_model(settings: Settings, model: Path | None) -> Predictor | None:
    """The given model; else NEEDLENS_MODEL_DIR when it is set; else the registry's active
    version, else the default model, each found from the current folder or NEEDLENS_HOME as
    `label` finds its model. Without --model, one that cannot be found or loaded skips the model
    judge with a note saying why, as an import without a registry always did."""
    from classifier.errors import ModelLoadError
    from classifier.inference import Predictor
    from classifier.model_dir import ACTIVE_POINTER, find_model

    if model is not None:
        return Predictor.load(model, settings)
    chosen = "model_dir" in settings.model_fields_set
    candidates = (settings.model_dir,) if chosen else (settings.registry_dir, settings.model_dir)
    for candidate in candidates:
        try:
            found = find_model(candidate, settings.home)
        except ModelLoadError:
            continue
        if (found / ACTIVE_POINTER).is_file() or (found / "config.json").is_file():
            try:
                return Predictor.load(found, settings)
            except ModelLoadError as exc:
                note(f"the model judge is skipped: {exc}; pass --model")
                return None
    places = " or ".join(str(c) for c in candidates)
    note(
        f"no model to judge the labels (none promoted or trained at {places}, here or under {settings.home}); "
        "pass --model"
    )
    return None


quarantine_app = typer.Typer(
    no_args_is_help=True, help="Labels held at arrival: not trained on until an admin accepts them."
)
group.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
@user_errors
def quarantine_list(
    store: StoreOption = None,
    all_batches: Annotated[bool, typer.Option("--all", help="decided batches too")] = False,
) -> None:
    """Held batches with the reason each was held."""
    from rich.table import Table

    batches = store_to_read(load_settings(label_store=store)).quarantine_batches(include_decided=all_batches)
    table = Table(title=f"{len(batches)} quarantine batches")
    for column in ("batch", "status", "source", "labels", "held at", "reason", "decided"):
        table.add_column(column, overflow="fold")
    for b in batches:
        decided = f"{b.decided_at[:19]} {b.decided_by or ''} {b.decision_note or ''}".strip() if b.decided_at else ""
        table.add_row(str(b.id), b.status, b.source, str(b.labels), b.created_at[:19], b.reason, decided)
    console.print(table)


@quarantine_app.command("show")
@user_errors
def quarantine_show(
    batch: BatchArgument,
    store: StoreOption = None,
    limit: Annotated[int, typer.Option(min=1, help="labels to list")] = 30,
) -> None:
    """The labels of one batch."""
    from rich.table import Table

    label_store = store_to_read(load_settings(label_store=store))
    if not any(b.id == batch for b in label_store.quarantine_batches(include_decided=True)):
        raise typer.BadParameter(f"no quarantine batch {batch}", param_hint="BATCH")
    held = label_store.held_labels(batch)
    table = Table(title=f"batch {batch}: {len(held)} labels" + (f", first {limit}" if len(held) > limit else ""))
    for column in ("text", "needs", "cause", "annotator"):
        table.add_column(column, overflow="fold")
    for e in held[:limit]:
        label = e.label
        table.add_row(label.text, "|".join(label.labels.needs), str(label.labels.cause), label.annotator or "")
    console.print(table)


@quarantine_app.command("accept")
@user_errors
def quarantine_accept(
    batch: BatchArgument,
    store: StoreOption = None,
    by: Annotated[str | None, typer.Option(help="who decided; recorded")] = None,
    why: Annotated[str | None, typer.Option("--note", help="why; recorded")] = None,
) -> None:
    """Admit a held batch: its labels join the store and train the next candidate."""
    added, skipped = _decide(batch, True, store, by, why)
    console.print(f"batch {batch} accepted: {added} labels added, {skipped} already in the store")


@quarantine_app.command("reject")
@user_errors
def quarantine_reject(
    batch: BatchArgument,
    store: StoreOption = None,
    by: Annotated[str | None, typer.Option(help="who decided; recorded")] = None,
    why: Annotated[str | None, typer.Option("--note", help="why; recorded")] = None,
) -> None:
    """Reject a held batch: its labels stay on record, never trained on, and a re-import of them is skipped."""
    _decide(batch, False, store, by, why)
    console.print(f"batch {batch} rejected")


def _decide(batch: int, accept: bool, store: Path | None, by: str | None, why: str | None) -> tuple[int, int]:
    from label_loop.store import QuarantineError

    by = person_name(by, "--by") if by is not None else None

    try:
        return store_to_read(load_settings(label_store=store)).decide(batch, accept, by, why)
    except QuarantineError as exc:
        raise typer.BadParameter(str(exc), param_hint="BATCH") from None


feedback_app = typer.Typer(
    no_args_is_help=True,
    help="Feedback labels (POST /v1/feedback) waiting in their annotator's batch: not trained on until judged.",
)
group.add_typer(feedback_app, name="feedback")


@feedback_app.command("list")
@user_errors
def feedback_list(store: StoreOption = None) -> None:
    """Waiting feedback batches, one per annotator, and when each will be judged."""
    from datetime import datetime, timedelta

    from rich.table import Table

    from label_loop.feedback import FeedbackInbox, who

    settings = load_settings(label_store=store)
    arrival = settings.arrival
    label_store = existing_store(settings)
    if label_store is None:
        console.print(f"no label store at {settings.label_store} yet: no feedback has arrived there", highlight=False)
    batches = FeedbackInbox(label_store, arrival).waiting() if label_store else []
    table = Table(title=f"{sum(b.labels for b in batches)} feedback labels waiting in {len(batches)} batches")
    for column in ("batch of", "labels", "first (UTC)", "last", "admitted unjudged at"):
        table.add_column(column, overflow="fold")

    def minute(moment: str) -> str:
        return moment[:16].replace("T", " ")

    for b in batches:
        expiry = datetime.fromisoformat(b.oldest) + timedelta(hours=arrival.feedback_max_wait_h)
        table.add_row(who(b.annotator), str(b.labels), minute(b.oldest), minute(b.newest), minute(expiry.isoformat()))
    console.print(table)
    console.print(
        f"a batch is judged when its {arrival.min_labels}th label arrives; `needlens labels feedback flush` judges now"
    )


@feedback_app.command("flush")
@user_errors
def feedback_flush(
    store: StoreOption = None,
    annotator: Annotated[
        list[str] | None, typer.Option("--annotator", help="only this annotator's batch (repeatable) \\[default: all]")
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="model that judges the labels \\[default: the registry's active one]"),
    ] = None,
) -> None:
    """Judge waiting feedback batches now, as `labels import` judges a file: batches under
    NEEDLENS_ARRIVAL__MIN_LABELS together (admitted unjudged if still fewer), a suspicious one held (exit 1)."""
    from label_loop.feedback import FeedbackInbox

    settings = load_settings(label_store=store)
    label_store = store_to_read(settings)
    inbox = FeedbackInbox(label_store, settings.arrival)
    names = annotator if annotator is not None else [b.annotator for b in inbox.waiting()]
    # one check for every batch judged now: the model loads once, its notes are said once
    judged = inbox.judge_due(cache(lambda: _arrival_check(settings, label_store, model)), annotators=names)
    if not judged:
        console.print("no feedback waiting" + (f" from {', '.join(annotator)}" if annotator else ""))
    for batch in judged:
        a = batch.admission
        held = sum(h.labels for h in a.held)
        console.print(f"{batch.name}: {a.added} labels added, {a.skipped} duplicates, {held} held")
        _print_admission(a, settings.arrival.min_labels)
    if any(batch.admission.held for batch in judged):
        raise typer.Exit(1)


gold_app = typer.Typer(
    no_args_is_help=True, help="The gold set every candidate is judged on, which new labels cannot move."
)
group.add_typer(gold_app, name="gold")


@gold_app.command("add")
@user_errors
def gold_add(
    file: Annotated[Path, typer.Argument(help="adjudicated labels: CSV, TSV, JSONL, XLSX or Parquet")],
    by: Annotated[str, typer.Option(help="the admin who adjudicated them; recorded")],
    store: StoreOption = None,
    text_column: TextColumn = "text",
    needs_column: Annotated[str, typer.Option(help="needs column")] = "needs",
    cause_column: Annotated[str, typer.Option(help="cause column")] = "cause",
    encoding: EncodingOption = "auto",
) -> None:
    """Mark adjudicated labels as gold: judged on by every candidate, never trained on."""
    by = person_name(by, "--by")
    from dataclasses import replace

    from label_loop.importer import LabelColumns, read_label_rows
    from label_loop.store import LabelStore

    settings = load_settings(label_store=store)
    label_store = LabelStore(settings.label_store)
    columns = LabelColumns(text_column, needs_column, cause_column)
    rows = read_label_rows(file, columns, "gold", settings.max_chars, encoding)
    added, skipped = label_store.add_gold(replace(entry, annotator=by) for entry in rows.entries)
    console.print(f"{file}: {added} gold labels added, {skipped} already gold, {len(rows.invalid)} invalid")
    _print_conflicts(rows.conflicts)
    print_row_problems(rows.invalid)
    _print_gold(settings, label_store)
    if rows.invalid:
        raise typer.Exit(1)


@gold_app.command("show")
@user_errors
def gold_show(
    store: StoreOption = None,
    data: Annotated[
        Path | None, typer.Option(help="seed data whose held-out part is gold \\[default: data/seed + data/real]")
    ] = None,
) -> None:
    """The gold set's size, composition and version."""
    settings = load_settings(label_store=store)
    label_store = existing_store(settings)
    if label_store is None:
        console.print(
            f"no label store at {settings.label_store} yet: the gold set is the seed data's alone", highlight=False
        )
    _print_gold(settings, label_store, data)


def _print_gold(settings: Settings, store: LabelStore | None, data: Path | None = None) -> None:
    from label_loop.admission import bundled_data
    from label_loop.pool import gather_labels

    gold = gather_labels(data or bundled_data(settings), store, settings.holdout_percent).gold
    composition = ", ".join(f"{n} {k}" for k, n in sorted(Counter(gold.sources).items()))
    console.print(f"gold set {gold.version}: {len(gold.records)} texts ({composition})", highlight=False)


@group.command("annotators")
@user_errors
def labels_annotators(
    store: StoreOption = None,
    model: Annotated[
        Path | None, typer.Option("--model", "-m", help="model to compare with \\[default: the registry's active one]")
    ] = None,
) -> None:
    """Per annotator (or source): agreement with the model and with other annotators on the same
    texts, quarantined and waiting feedback labels included, so one careless source shows."""
    from rich.table import Table

    from label_loop.agreement import annotator_agreement, annotator_of
    from label_loop.feedback import FeedbackInbox

    settings = load_settings(label_store=store)
    label_store = store_to_read(settings)
    held = [e.label for b in label_store.quarantine_batches() for e in label_store.held_labels(b.id)]
    waiting = FeedbackInbox(label_store, settings.arrival).waiting_labels()
    labels = [e.label for e in label_store.all_events()] + held + waiting
    held_by, waiting_by = Counter(map(annotator_of, held)), Counter(map(annotator_of, waiting))
    confidence = settings.arrival.confidence
    rows = annotator_agreement(labels, _judging_model(settings, model), confidence)
    table = Table(title=f"{len(labels)} labels by {len(rows)} annotators or sources")
    columns = (
        "annotator",
        "labels",
        "held",
        "waiting",
        "model: needs",
        "cause",
        f"contradicted ≥ {confidence:g}",
        "shared",
        "peers: needs",
        "cause",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "annotator" else "right")

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{value:.0%}"

    for r in rows:
        table.add_row(
            r.annotator,
            str(r.labels),
            str(held_by[r.annotator]),
            str(waiting_by[r.annotator]),
            pct(r.model_needs),
            pct(r.model_cause),
            pct(r.model_contradicts),
            str(r.shared_texts),
            pct(r.peer_needs),
            pct(r.peer_cause),
        )
    console.print(table)


@group.command("export")
@user_errors
def labels_export(
    output: OutputFile,
    store: StoreOption = None,
    history: Annotated[bool, typer.Option(help="every label event, not only each text's current label")] = False,
) -> None:
    """Write the store's labels in the spec's record format (JSONL) or any table format."""
    from labeling.plan import check_output
    from labeling.tables import write_table

    settings = load_settings(label_store=store)
    check_output(output, {"the label store": settings.label_store})
    label_store = store_to_read(settings)
    events = label_store.all_events() if history else label_store.current()
    rows = (
        {
            "id": f"ls-{e.id}",
            "text": e.label.text,
            "needs": [str(n) for n in e.label.labels.needs],
            "cause": str(e.label.labels.cause),
            "source": e.label.source,
            "annotator": e.label.annotator,
            "created_at": e.created_at,
        }
        for e in events
    )
    columns = {"id": "string", "text": "string", "needs": "list", "cause": "string", "source": "string"}
    for line in write_table(rows, output, {**columns, "annotator": "string", "created_at": "string"}):
        note(line)
    console.print(f"wrote {len(events)} labels to {output}")


@group.command("stats")
@user_errors
def labels_stats(
    store: StoreOption = None,
    recent: Annotated[int, typer.Option(min=0, max=1_000_000, help="how many recent corrections to list")] = 10,
) -> None:
    """Counts per label and source, what waits in quarantine and feedback batches, the latest corrections."""
    from label_loop.stats import print_label_stats

    settings = load_settings(label_store=store)
    print_label_stats(store_to_read(settings), recent, console, settings.arrival)
