"""Models trained before and after new labels, compared on new texts none of them trained on.

A fresh annotation round raises two questions the validation report cannot answer: did the
models trained with it get better, and by how much? Each model's own validation split differs
(the split is drawn from whatever data it trained on), so the comparison uses the texts that
are both *new* (read in chunks ``--chunks`` of ``data/annotation``) and inside the *reference*
model's validation split: the models trained before never saw them, and the reference (and any
model trained on the same data and seed) only fitted its calibration and thresholds on them,
which still flatters it a little.

    python -m bench.unseen_texts --reference models/default --chunks 39-74 \\
        OLD_FAST OLD_ACCURATE models/default models/accurate
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from annotation.chunks import read_chunk
from bench.real_accuracy import print_table
from classifier.inference import Predictor
from classifier.settings import Settings
from training.data import fingerprint, read_records, to_dataset
from training.evaluate import evaluation_report

CHUNKS_DIR = Path("data/annotation/chunks")


def chunk_range(text: str) -> range:
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--reference", type=Path, required=True, help="a model trained with the new labels")
    parser.add_argument("--chunks", type=chunk_range, required=True, help="the new chunks, e.g. 39-74")
    args = parser.parse_args()
    new = {row["id"] for n in args.chunks for row in read_chunk(CHUNKS_DIR / f"c{n:02d}.jsonl")}
    training = json.loads((args.reference / "training.json").read_text(encoding="utf-8"))
    validation = set(training["split"]["validation_ids"])
    records = [
        r for r in read_records(Settings().default_data) if r.id in validation and getattr(r, "pool_id", None) in new
    ]
    if not records:
        raise SystemExit("no new text in the reference model's validation split")
    facts = {"path": f"new texts in {args.reference}'s validation split", "fingerprint": fingerprint(records)}
    for model_dir in args.models:
        report = evaluation_report(Predictor.load(model_dir), model_dir, to_dataset(records), facts)
        print(f"\n=== {model_dir}")
        print_table(facts["path"], report)


if __name__ == "__main__":
    main()
