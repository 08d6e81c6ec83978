"""What a fine-tuning step costs on this machine, with every layer trained (in float32, with the
whole encoder at every position and with the per-token layers once per distinct token,
`NEEDLENS_TRAINING__DISTINCT_TOKEN_ROWS`, its second convolutions direct or by Winograd's algorithm,
`NEEDLENS_TRAINING__WINOGRAD_CONVOLUTIONS`; under bfloat16 autocast, `NEEDLENS_TRAINING__BFLOAT16`)
and with the lower layers frozen (`NEEDLENS_TRAINING__FROZEN_LOWER_EPOCHS`), through the real trainer.

    python -m bench.train_step [--texts 3200] [--threads 2]

Each mode runs `training.trainer.fine_tune` for one epoch over the same ``--texts`` real
labeled texts (batches of 32, as the fast profile) and a 64-text validation set, from the same
fresh model; the time includes tokenizing and, when frozen, computing the frozen rows once per
token id. `make demo`'s training is ~2,200 such steps (2 epochs over ~35,500 texts).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from bench.common import BenchParser, cpu_description, one_line_errors, positive_int, refuse
from classifier.modeling import NeedlensModel
from classifier.settings import TrainingSettings, profile_training
from training.data import read_records, to_dataset
from training.trainer import fine_tune

REAL = Path(__file__).resolve().parent.parent / "data" / "real"
VALIDATION_TEXTS = 64


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = BenchParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=positive_int, default=3200)
    parser.add_argument("--threads", type=positive_int, default=2)
    return parser.parse_args(argv)


@one_line_errors
def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    records = read_records(REAL)
    if args.texts + VALIDATION_TEXTS > len(records):  # fewer would time a shorter epoch than asked, unsaid
        refuse(
            f"argument --texts: must be at most {len(records) - VALIDATION_TEXTS} ({len(records)} labeled "
            f"texts, {VALIDATION_TEXTS} kept for validation), not {args.texts}"
        )
    train = to_dataset(records[: args.texts])
    validation = to_dataset(records[args.texts : args.texts + VALIDATION_TEXTS])
    print(f"{cpu_description()}; {args.threads} threads")
    print("| training | texts | steps | seconds | seconds per step |")
    print("|---|---:|---:|---:|---:|")
    modes = {  # the fast profile's own bfloat16 setting would turn autocast on in every row
        "every layer, float32, whole encoder at every position": {"bfloat16": "off", "distinct_token_rows": False},
        "every layer, float32, lower layers once per distinct token, direct convolutions": {
            "bfloat16": "off",
            "winograd_convolutions": False,
        },
        "every layer, float32, lower layers once per distinct token, Winograd convolutions (default)": {
            "bfloat16": "off"
        },
        "every layer, bfloat16 autocast": {"bfloat16": "on"},
        "lower layers frozen, float32": {"frozen_lower_epochs": 1, "bfloat16": "off"},
    }
    for name, overrides in modes.items():
        settings = profile_training(TrainingSettings(), "fast", epochs=1, device="cpu", **overrides)
        model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
        steps = -(-len(train) // settings.batch_size)
        start = time.perf_counter()
        fine_tune(model, train, validation, settings)
        seconds = time.perf_counter() - start
        print(f"| {name} | {len(train)} | {steps} | {seconds:.1f} | {seconds / steps:.3f} |", flush=True)


if __name__ == "__main__":
    main()
