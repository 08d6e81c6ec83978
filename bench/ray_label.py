"""The Ray engine beside the local engine on the same texts: rates, start-up cost, break-even size.

    python -m bench.ray_label [--model models/default] [--texts 20000] [--actors 1,2] [--threads 1,2]

The texts are data/real/reviews.jsonl (real reviews, 4,180), repeated to ``--texts`` rows
and written once as JSONL; both engines label that file into Parquet. The local engine
(`needlens label`'s ``LabelJob``) runs in this process, once per ``--threads`` value, its
model load timed apart. Ray is started once (`ray.init`, timed); then, for each actor
count, a small job (``--small`` rows, twice, the faster kept) and the full job. A job
costs a fixed start-up (actor processes start, each loads the model, the plan is
scheduled) plus its rows at a steady rate, so the two sizes give both:
rate = (N - n) / (T(N) - T(n)), start-up = T(n) - n / rate. From those it prints the
size above which Ray on a bigger cluster finishes before the local engine, assuming
every actor there labels as fast as one here (linear scaling, no shared cores). ``--texts``
must exceed ``--small``; where the full job is not slower than the small one (too few extra
rows to outlast the noise) no rate is derived for that actor count.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path

import torch

from bench.common import ROOT, BenchParser, comma_list, one_line_errors, positive_int, refuse
from classifier.inference import Predictor
from classifier.settings import Settings
from labeling.job import LabelJob
from labeling.plan import plan_label_job


def write_texts(path: Path, n: int) -> Path:
    with (ROOT / "data" / "real" / "reviews.jsonl").open(encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle if line.strip()]
    with path.open("w", encoding="utf-8") as out:
        for i, text in enumerate(islice(cycle(texts), n)):
            out.write(json.dumps({"id": f"t{i}", "text": text}, ensure_ascii=False) + "\n")
    return path


def time_local(model: Path, source: Path, out: Path, threads: int) -> tuple[float, float]:
    """Seconds to load the model and to label ``source``."""
    torch.set_num_threads(threads)
    settings = Settings()
    started = time.perf_counter()
    predictor = Predictor.load(model, settings)
    loaded = time.perf_counter()
    LabelJob(predictor, settings.chunk_rows, settings.max_chars).run(
        plan_label_job(source, out), restart=True, progress=False
    )
    return loaded - started, time.perf_counter() - loaded


def time_ray(model: Path, source: Path, out: Path, actors: int) -> float:
    """Seconds for a whole Ray job on an already started Ray."""
    from labeling.ray_engine import label_on_ray
    from labeling.ray_plan import plan_ray_job

    started = time.perf_counter()
    plan = plan_ray_job(str(source), str(out), restart=True)
    label_on_ray(plan, Settings(), model, actors=actors, progress=False, restart=True)
    return time.perf_counter() - started


def break_even(extra_s: float, local_rate: float, ray_rate: float) -> str:
    """Above what size Ray, ``extra_s`` seconds later to start, finishes first: extra / gain, where
    gain is the seconds it saves per text. A gain of 0 or less (the local engine at least as
    fast) has no such size, and would print a negative one or divide by zero."""
    gain = 1 / local_rate - 1 / ray_rate
    if gain <= 0:
        return "never (the local engine labels at least as fast)"
    if extra_s <= 0:
        return "at any size (no extra start-up)"
    return f"above ~{extra_s / gain:,.0f} texts"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = BenchParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--texts", type=positive_int, default=20_000)
    parser.add_argument("--small", type=positive_int, default=500)
    parser.add_argument("--actors", type=comma_list(positive_int), default="1,2")
    parser.add_argument(
        "--threads",
        type=comma_list(positive_int),
        default="1,2",
        help="torch threads of the local engine, one run each",
    )
    args = parser.parse_args(argv)
    if args.texts <= args.small:  # the rate is (N - n) / (T(N) - T(n)): it needs N > n
        parser.error(f"argument --texts: must be above --small ({args.small}), not {args.texts}")
    return args


@one_line_errors
def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="needlens-ray-bench-") as folder:
        measure(args, Path(folder))


def measure(args: argparse.Namespace, work: Path) -> None:
    """Time both engines on texts written into ``work`` (removed afterwards: 20,000 texts and
    their labeled copies are tens of MB per run)."""
    import ray

    full = write_texts(work / "texts.jsonl", args.texts)
    small = write_texts(work / "small.jsonl", args.small)
    n, m = args.texts, args.small

    print(f"{n} texts from data/real/reviews.jsonl, model {args.model}")
    local: dict[int, float] = {}
    load = 0.0
    for threads in args.threads:
        load, seconds = time_local(args.model, full, work / "local.parquet", threads)
        local[threads] = n / seconds
        print(
            f"local engine, {threads} thread(s): {seconds:6.1f} s  {local[threads]:6.0f} texts/s  (model load {load:.1f} s)"
        )

    started = time.perf_counter()
    ray.init(include_dashboard=False, logging_level="WARNING")
    init = time.perf_counter() - started
    print(f"ray.init (a local Ray, {int(ray.cluster_resources()['CPU'])} CPUs): {init:.1f} s")
    rates: dict[int, float] = {}
    startups: dict[int, float] = {}
    for actors in args.actors:
        t_small = min(time_ray(args.model, small, work / "small.parquet", actors) for _ in range(2))
        t_full = time_ray(args.model, full, work / "ray.parquet", actors)
        if t_full <= t_small:  # the extra rows took no time beyond the noise: no steady rate to derive
            print(
                f"ray engine, {actors} actor(s): {t_full:6.1f} s  {n / t_full:6.0f} texts/s whole job; no steady rate: "
                f"not slower than the {m}-text job ({t_small:.1f} s), use more --texts"
            )
            continue
        rates[actors] = (n - m) / (t_full - t_small)
        startups[actors] = t_small - m / rates[actors]
        print(
            f"ray engine, {actors} actor(s): {t_full:6.1f} s  {n / t_full:6.0f} texts/s whole job, "
            f"{rates[actors]:6.0f} texts/s steady, start-up {startups[actors]:.1f} s per job (+ {init:.1f} s ray.init)"
        )
    ray.shutdown()
    if not rates:
        refuse("no actor count gave a steady rate, so there is no break-even size; use more --texts", 1)

    alone = min(rates)  # the fewest actors: the closest to one actor per dedicated core
    per_actor = rates[alone] / alone
    best_local = max(local.values())
    extra = init + startups[alone] - load  # what a Ray job costs before its first row, beyond loading the model
    print(
        f"\nper actor {per_actor:.0f} texts/s, Ray's extra start-up {extra:.1f} s; local engine at best {best_local:.0f} texts/s"
    )
    for cluster in (4, 16, 64):
        print(f"  {cluster:3d} actors: Ray finishes first {break_even(extra, best_local, per_actor * cluster)}")


if __name__ == "__main__":
    main()
