"""Explain time for one long text without sentence ends, the case whose cost grows fastest.

    python -m bench.explain_long [--model models/default] [--chars 300 1000 2000 4000]

Such a text is one unit to the classifier; explain removes each word in turn, and a
variant repeats the whole unit, so its cost grows with the square of the unit's length unless
the unit is explained piece by piece (``classifier.segments.split_long_span``). The text is the
seed texts joined with commas, so it has words and clauses but no sentence end. Prints seconds
per explained text; nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from bench.common import BenchParser, cpu_description, one_line_errors, positive_int, sample_texts
from classifier.inference import Predictor
from classifier.settings import Settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = BenchParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--chars", type=positive_int, nargs="+", default=[300, 1000, 2000, 4000])
    return parser.parse_args(argv)


@one_line_errors
def main() -> None:
    args = parse_args()
    predictor = Predictor.load(args.model, Settings())
    joined = re.sub(r"[。！？!?；;…\n]+", "，", "，".join(sample_texts()))
    pool = joined * (max(args.chars) // len(joined) + 1)
    print(cpu_description())
    for chars in args.chars:
        text = pool[:chars]
        started = time.perf_counter()
        prediction = predictor.predict([text], explain=True)[0]
        spans = sum(len(found) for found in prediction.evidence.values())
        print(f"{len(text):>6} characters: {time.perf_counter() - started:6.2f} s, {spans} evidence spans")


if __name__ == "__main__":
    main()
