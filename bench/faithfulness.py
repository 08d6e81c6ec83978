"""Are evidence spans faithful? Delete the top span vs a random span of the same length.

    python -m bench.faithfulness --data ../shared/eval/dev.jsonl [--model models/default] [--seed 0]

For every text and every predicted label (needs and cause), removes the top evidence span
and, separately, a random span of the same length, and reports the mean drop in that
label's probability for each. Faithful evidence drops it more.
"""

from __future__ import annotations

import argparse
import random
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.common import BenchParser, existing_path, one_line_errors
from classifier.inference import Predictor
from training.data import read_records


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = BenchParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=existing_path, required=True)
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


@one_line_errors
def main() -> None:
    args = parse_args()

    rng = random.Random(args.seed)
    predictor = Predictor.load(args.model)
    texts = [r.text for r in read_records(args.data)]
    predictions = predictor.predict(texts, explain=True)

    cases = []  # (label, whole text, text without top span, text without random span)
    for text, p in zip(texts, predictions, strict=True):
        for label, spans in (p.evidence or {}).items():
            if not spans:
                continue
            top = spans[0]
            length = top.end - top.start
            start = rng.randrange(0, len(text) - length + 1)
            cases.append((label, text, text[: top.start] + text[top.end :], text[:start] + text[start + length :]))

    def probability_of(variants: list[str], labels: list[str]) -> np.ndarray:
        need, cause, _ = predictor.probabilities(variants)
        columns = {n: j for j, n in enumerate(predictor.config.needs)}
        columns |= {c: len(predictor.config.needs) + j for j, c in enumerate(predictor.config.causes)}
        both = np.concatenate([need, cause], axis=1)
        return np.array([both[i, columns[label]] for i, label in enumerate(labels)])

    labels = [c[0] for c in cases]
    # the network's own probability of the whole text: evidence explains the network, and a
    # document's probability may also mix in the TF-IDF model's
    base = probability_of([c[1] for c in cases], labels)
    top_drop = base - probability_of([c[2] for c in cases], labels)
    random_drop = base - probability_of([c[3] for c in cases], labels)

    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    print(f"{len(texts)} texts, {len(cases)} (text, predicted label) pairs with evidence\n")
    print("| label | pairs | mean drop, top span | mean drop, random span | top > random |")
    print("|---|---:|---:|---:|---:|")
    for label, idx in [*sorted(by_label.items()), ("all", list(range(len(cases))))]:
        t, r = top_drop[idx], random_drop[idx]
        print(f"| {label} | {len(idx)} | {t.mean():.3f} | {r.mean():.3f} | {100 * (t > r).mean():.0f}% |")


if __name__ == "__main__":
    main()
