"""Where does labeling time go? Stage timings and a cProfile of the batch path.

    python -m bench.profile_label [--model models/default] [--texts 5000] [--threads 0] [--runtime auto]

Stages are timed on the same texts (`bench.common.benchmark_texts`): tokenization, the
model (encoder and heads, in the chosen runtime) on length-sorted batches, calibration,
segmentation/aggregation, and the whole `needlens label` job (file read and write
included). Then the top functions of a cProfile of that job, by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import pstats
import tempfile
import time
from pathlib import Path
from typing import get_args

import torch

from bench.common import BenchParser, benchmark_texts, non_negative_int, one_line_errors, positive_int
from classifier.encoders.base import length_batches
from classifier.inference import Predictor, calibrated_probabilities, compute_logits
from classifier.runtime import resolve_runtime
from classifier.settings import Runtime, Settings
from labeling.job import LabelJob
from labeling.plan import plan_label_job


def timed(label: str, n: int, fn) -> object:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    print(f"{label:<44} {seconds:7.2f} s  {n / seconds:8.0f} texts/s")
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = BenchParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--texts", type=positive_int, default=5000)
    parser.add_argument("--threads", type=non_negative_int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--runtime", default="auto", choices=get_args(Runtime))
    return parser.parse_args(argv)


@one_line_errors
def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    predictor = Predictor.load(args.model, Settings(runtime=args.runtime))
    encoder, batch, tokens = predictor.model.encoder, predictor.settings.batch_size, predictor.settings.batch_tokens
    texts = benchmark_texts(args.texts)
    n = len(texts)
    runtime = resolve_runtime(args.runtime, predictor.model)
    print(f"{n} texts, {sum(map(len, texts)) / n:.0f} characters on average, torch threads {torch.get_num_threads()}")

    timed("tokenize (SentencePiece, all texts)", n, lambda: encoder.token_counts(texts))
    batches = timed(
        "tokenize + pad, length-sorted batches", n, lambda: list(length_batches(encoder, texts, batch, tokens))
    )
    timed(f"model on those batches ({runtime})", n, lambda: [predictor.runner(b) for _, b in batches])
    logits = timed(
        "compute_logits (tokenize + model)",
        n,
        lambda: compute_logits(predictor.model, texts, batch, predictor.runner, tokens),
    )
    timed("calibration", n, lambda: calibrated_probabilities(logits, predictor.config))
    timed("Predictor.score (segmentation + aggregation + TF-IDF mix)", n, lambda: predictor.score(texts))
    timed("Predictor.predict (+ result objects)", n, lambda: predictor.predict(texts))

    with tempfile.TemporaryDirectory() as tmp:
        source, output = Path(tmp) / "in.csv", Path(tmp) / "out.csv"
        with source.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text"])
            writer.writerows((i, t) for i, t in enumerate(texts))
        job = LabelJob(predictor, predictor.settings.chunk_rows, predictor.settings.max_chars)
        profile = cProfile.Profile()
        timed(
            "needlens label job (CSV in, CSV out)",
            n,
            lambda: profile.runcall(lambda: job.run(plan_label_job(source, output), progress=False)),
        )
    report = io.StringIO()
    pstats.Stats(profile, stream=report).sort_stats("tottime").print_stats(18)
    print(report.getvalue())


if __name__ == "__main__":
    main()
