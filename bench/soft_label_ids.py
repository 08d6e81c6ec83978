"""Rebuild the list of soft-labeled texts for a model trained before training.json recorded it.

A held-out set drawn from the pool after a model trained can hold texts that model learned as
soft labels, and `bench.real_accuracy` leaves those out, but only for models whose training.json
lists them (since session eleven). The sample is seeded, so for an older model the same code
over the same texts gives the same list: run this from a checkout whose ``data/`` holds the
texts the model trained on, naming the held-out data as it was then (``--held-out``; the
training split is checked against the one the model recorded before anything is written).

    python -m bench.soft_label_ids models/default
    python -m bench.soft_label_ids models/old --held-out /tmp/heldout-as-it-was
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from classifier.settings import Settings, profile_training
from training.data import read_records, split_dataset, to_dataset
from training.pipeline import training_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--held-out", type=Path, nargs="+", help="held-out data as it was when the model trained")
    args = parser.parse_args()
    missing = [path for path in args.held_out or () if not path.exists()]
    if missing:  # training skips a held-out path that does not exist: here it would give a wrong list
        raise SystemExit(f"{missing[0]}: no such held-out data")
    facts_path = args.model / "training.json"
    facts = json.loads(facts_path.read_text(encoding="utf-8"))
    if not facts.get("soft_labels"):
        raise SystemExit(f"{facts_path}: this model trained on no soft labels")
    if "ids" in facts["soft_labels"]:
        raise SystemExit(f"{facts_path}: already lists its soft-labeled texts")
    settings = Settings()
    recipe = profile_training(settings.training, "fast", soft_labels=Path(facts["soft_labels"]["path"]))
    recipe = recipe.model_copy(
        update={
            "seed": facts["settings"]["seed"],
            "soft_label_texts": facts["settings"]["soft_label_texts"],
            "validation_fraction": facts["settings"]["validation_fraction"],
            **({"held_out_data": tuple(args.held_out)} if args.held_out else {}),
        }
    )
    records = read_records(settings.default_data)
    split = split_dataset(to_dataset(records), recipe.validation_fraction, recipe.seed)
    if set(split.validation["id"]) != set(facts["split"]["validation_ids"]):
        raise SystemExit(f"{facts_path}: this checkout's data is not what the model trained on (another split)")
    _, soft = training_set(records, split, recipe, print)
    if soft is None or soft["used"] != facts["soft_labels"]["used"]:
        raise SystemExit(
            f"{facts_path}: rebuilt {soft and soft['used']} soft labels, the model used {facts['soft_labels']['used']}"
        )
    facts["soft_labels"]["ids"] = soft["ids"]
    facts["soft_labels"]["ids_rebuilt"] = f"{datetime.now(UTC):%Y-%m-%d} by bench.soft_label_ids"
    facts_path.write_text(json.dumps(facts, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"{facts_path}: {len(soft['ids'])} soft-labeled texts listed")


if __name__ == "__main__":
    main()
