"""The `needlens` command: one Typer app with every command group registered here, in help order.

Each module holds one family of commands (labeling, training, the service, the label loop, the
registry, monitoring); none registers itself, so this list is the whole command line.
"""

from __future__ import annotations

import typer

from needlens.cli import base_models, curate, demo, label, labels, models, monitor, review, serve, train

__all__ = ["app"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Chinese customer-feedback needs and complaint-cause classifier.",
)
app.add_typer(train.commands)  # train, distill, evaluate, explain, check-data
app.add_typer(label.commands)
app.add_typer(demo.commands)
app.add_typer(serve.commands)
app.add_typer(base_models.group, name="base-models")
app.add_typer(labels.group, name="labels")
app.add_typer(models.commands)  # retrain
app.add_typer(models.group, name="models")
app.add_typer(curate.commands)  # suggest, audit, agreement
app.add_typer(monitor.commands)
app.add_typer(review.group, name="review")
