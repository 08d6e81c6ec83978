"""Does `needlens suggest` make analysts' labels count for more than random picks?

    python -m bench.active_learning --dev ../shared/eval/dev.jsonl [--rounds 3] [--batch 100] [--epochs 8] [--seed 13] [--pick-seed 0]

Simulated loop: the seed data is split in two by content hash; a model is trained on one
half, the other half is the "unlabeled" pool whose labels play the analyst. Each round,
``--batch`` texts are picked from the pool, by the same selection `needlens suggest` uses
(uncertainty with near-duplicate skipping, on the current model) or at random, their labels
are added, and a model is retrained from the base. After each round both strategies are
scored on the dev set. Prints a table and writes it as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from classifier.inference import Predictor
from classifier.labels import LabeledRecord
from classifier.settings import Settings
from label_loop.pool import in_holdout
from label_loop.suggest import char_ngram_vectors, decision_uncertainty, select_uncertain
from training.data import read_records, to_dataset
from training.evaluate import score_predictor
from training.pipeline import train_on_records


def train_and_score(
    records: list[LabeledRecord], dev: object, settings: Settings, work: Path, name: str
) -> tuple[Predictor, dict[str, float]]:
    out = work / name
    train_on_records(records, name, out, settings.training, log=lambda _: None)
    predictor = Predictor.load(out, settings)
    metrics = score_predictor(predictor, dev)[0]  # type: ignore[arg-type]
    return predictor, {k: round(metrics[k], 4) for k in ("needs_macro_f1", "cause_macro_f1")}


def pick_uncertain(predictor: Predictor, pool: list[LabeledRecord], n: int, max_similarity: float) -> list[int]:
    texts = [r.text for r in pool]
    u = decision_uncertainty(predictor.score(texts), predictor.config.need_thresholds)
    return [s.index for s in select_uncertain(u, char_ngram_vectors(texts), n, max_similarity)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed-data", type=Path, default=Path("data/seed"))
    parser.add_argument("--dev", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--max-similarity", type=float, default=0.6)
    parser.add_argument("--seed", type=int, default=13, help="training seed")
    parser.add_argument("--pick-seed", type=int, default=0, help="seed of the random strategy's picks")
    parser.add_argument("--out", type=Path, default=Path("reports/active_learning.json"))
    args = parser.parse_args()

    settings = Settings()
    training = settings.training.model_copy(update={"epochs": args.epochs, "seed": args.seed})
    settings = settings.model_copy(update={"training": training})
    records = read_records(args.seed_data)
    start = [r for r in records if not in_holdout(r.text, 50)]
    pool0 = [r for r in records if in_holdout(r.text, 50)]
    dev = to_dataset(read_records(args.dev))
    results: dict[str, list[dict[str, float]]] = {}
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        first, figures = train_and_score(start, dev, settings, work, "round-0")
        print(f"round 0: {len(start)} labels, pool {len(pool0)}: {figures}", flush=True)
        for strategy in ("suggest", "random"):
            rng = random.Random(args.pick_seed)
            labeled, pool, predictor = list(start), list(pool0), first
            results[strategy] = [{"labels": len(labeled), **figures}]
            for round_no in range(1, args.rounds + 1):
                if strategy == "suggest":
                    picked = pick_uncertain(predictor, pool, args.batch, args.max_similarity)
                else:
                    picked = rng.sample(range(len(pool)), min(args.batch, len(pool)))
                chosen = set(picked)
                labeled += [pool[i] for i in picked]
                pool = [r for i, r in enumerate(pool) if i not in chosen]
                predictor, round_figures = train_and_score(labeled, dev, settings, work, f"{strategy}-{round_no}")
                results[strategy].append({"labels": len(labeled), **round_figures})
                print(
                    f"{strategy} round {round_no}: {len(labeled)} labels: {round_figures} "
                    f"({time.monotonic() - began:.0f} s)",
                    flush=True,
                )

    print("\nround | labels | suggest needs / cause macro-F1 | random needs / cause macro-F1")
    for i, (s, r) in enumerate(zip(results["suggest"], results["random"], strict=True)):
        print(
            f"{i:5d} | {s['labels']:6d} | {s['needs_macro_f1']:.4f} / {s['cause_macro_f1']:.4f}"
            f"            | {r['needs_macro_f1']:.4f} / {r['cause_macro_f1']:.4f}"
        )
    gains = {
        k: float(np.mean([s[k] - r[k] for s, r in zip(results["suggest"][1:], results["random"][1:], strict=True)]))
        for k in ("needs_macro_f1", "cause_macro_f1")
    }
    print(f"mean gain of suggest over random after round 0: {gains}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"args": {k: str(v) for k, v in vars(args).items()}, "results": results, "gains": gains}
    args.out.write_text(json.dumps(payload, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
