"""How well `needlens monitor` catches a planted shift in the need mix, and how often it cries wolf.

Builds streams of labeled real texts: each row is an annotated review from
``data/real/reviews.jsonl`` whose labels stand in for predictions (with ``--noise``, a share
of rows carry another random review's labels instead, as a classifier's mistakes would).
Segments are domains of the corpus, each drawing from its own reviews at its own weekly
volume, so their mixes differ as real segments do. In every run one segment, large enough
to be judged, gets a persistent shift from a random week on (by default the 认知错位 share
doubles); every other segment, and that one before the shift, is stationary.

Reported per threshold: detection delay (windows from the shift's first week to its first
alert; 0 = caught in that week), shifts missed (no alert within ``--horizon`` windows),
repeat alerts for a shift already caught, and false alarms per 100 judged windows (windows
with an index and at least ``min_volume`` texts, in stationary stretches), plus alerts in
the tiny segment (should be none). A run has at least 28 weeks (``MIN_WEEKS``): shifts start
in week 20 to 40, after the 90-day baseline has filled, and each gets at least 8 weeks to be caught.

    python -m bench.monitor_sim [--runs 30] [--weeks 52] [--noise 0.15] [--shift perception_mismatch:2]
                                [--sweep 3,3.5,4,4.5,5] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from statistics import median

from bench.common import (
    BenchParser,
    comma_list,
    int_at_least,
    non_negative_float,
    one_line_errors,
    positive_float,
    positive_int,
    share,
)
from classifier.labels import CAUSES, NEEDS
from labeling.tables import ColumnType, write_table
from monitor.pipeline import monitor_rows
from monitor.settings import MonitorSettings

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2025, 1, 6)  # a Monday, so week k is window k
SEGMENTS = {"books": 20, "phone": 60, "clothing": 150, "food_delivery": 400, "hotel": 1000}
"""Domain → mean texts per week: a tiny segment, small, medium, large, very large."""
FIRST_SHIFT_WEEK, LAST_SHIFT_WEEK, WEEKS_AFTER_SHIFT = 20, 40, 8
"""A shift starts in a random week from 20 (the 90-day baseline has filled by then) to 40, and
at least 8 weeks before the run ends, so it can be caught."""
MIN_WEEKS = FIRST_SHIFT_WEEK + WEEKS_AFTER_SHIFT


@dataclass(frozen=True)
class Shift:
    label: str
    factor: float

    @classmethod
    def parse(cls, text: str) -> Shift:
        """``--shift``'s LABEL:FACTOR (factor 2 if left out); an unknown label would plant nothing
        and a factor of 0 or less no share, so both are refused."""
        label, _, factor = text.partition(":")
        labels = [str(name) for name in (*NEEDS, *CAUSES)]
        if label not in labels:
            raise argparse.ArgumentTypeError(f"{label!r} is not a label; one of {', '.join(labels)}")
        return cls(label, positive_float(factor) if factor else 2.0)

    def weight(self, base_share: float) -> float:
        """Sampling weight of rows carrying the label that multiplies its share by ``factor`` (capped at 95%)."""
        target = min(0.95, base_share * self.factor)
        return target * (1.0 - base_share) / (base_share * (1.0 - target))


def load_reviews() -> dict[str, list[dict]]:
    by_domain: dict[str, list[dict]] = defaultdict(list)
    with (ROOT / "data" / "real" / "reviews.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            by_domain[record["domain"]].append(
                {"id": record["id"], "text": record["text"], "needs": record["needs"], "cause": record["cause"]}
            )
    return by_domain


def carries(record: dict, label: str) -> bool:
    return record["cause"] == label or label in record["needs"]


@dataclass
class Run:
    rows: list[dict]
    shifted: str
    shift_week: int


def build_run(
    reviews: dict[str, list[dict]], shift: Shift, weeks: int, noise: float, jitter: float, rng: random.Random
) -> Run:
    everything = [r for pool in reviews.values() for r in pool]
    judged = [s for s, volume in SEGMENTS.items() if volume >= 50]
    last_start = min(LAST_SHIFT_WEEK, weeks - WEEKS_AFTER_SHIFT)
    shifted, shift_week = rng.choice(judged), rng.randint(FIRST_SHIFT_WEEK, last_start)
    rows: list[dict] = []
    for segment, volume in SEGMENTS.items():
        pool = reviews[segment]
        base_share = sum(carries(r, shift.label) for r in pool) / len(pool)
        shifted_weights = [shift.weight(base_share) if carries(r, shift.label) else 1.0 for r in pool]
        plain_weights = [1.0] * len(pool)
        for week in range(weeks):
            weights = shifted_weights if segment == shifted and week >= shift_week else plain_weights
            if jitter:  # weeks differ by more than sampling: each cause's weight wobbles
                wobble = {
                    cause: math.exp(rng.gauss(0.0, jitter)) for cause in ("system_error", "perception_mismatch", "none")
                }
                weights = [w * wobble[r["cause"]] for w, r in zip(weights, pool, strict=True)]
            count = max(0, round(rng.gauss(volume, volume**0.5)))
            for record in rng.choices(pool, weights=weights, k=count):
                labels = rng.choice(everything) if rng.random() < noise else record
                moment = START + timedelta(weeks=week, seconds=rng.uniform(0, 7 * 86400 - 1))
                rows.append(
                    {
                        "id": f"{record['id']}@{len(rows)}",
                        "time": moment,
                        "channel": segment,
                        "needs": labels["needs"],
                        "cause": labels["cause"],
                        "text": record["text"],
                    }
                )
    return Run(rows, shifted, shift_week)


@dataclass
class Tally:
    delays: list[int] = field(default_factory=list)
    missed: int = 0
    by_segment: dict[str, list[int | None]] = field(default_factory=lambda: defaultdict(list))
    """Shifted segment → each shift's delay (None: missed)."""
    repeats: int = 0
    false_alarms: int = 0
    judged_windows: int = 0
    tiny_alerts: int = 0
    false_by_segment: Counter[str] = field(default_factory=Counter)
    judged_by_segment: Counter[str] = field(default_factory=Counter)


def score(run: Run, settings: MonitorSettings, horizon: int, tally: Tally) -> None:
    result = monitor_rows(run.rows, settings)
    caught: int | None = None
    for figures in result.windows:
        segment, k = figures.segment["channel"], (figures.window_start - START) // timedelta(weeks=1)
        shifted_now = segment == run.shifted and k >= run.shift_week
        if SEGMENTS[segment] < 50 and figures.alert:
            tally.tiny_alerts += 1
        if not shifted_now:
            judged = figures.index is not None and figures.volume >= settings.min_volume
            tally.judged_windows += judged
            tally.false_alarms += figures.alert
            tally.judged_by_segment[segment] += judged
            tally.false_by_segment[segment] += figures.alert
        elif figures.alert:
            if caught is None and k - run.shift_week < horizon:
                caught = k - run.shift_week
                tally.delays.append(caught)
            else:
                tally.repeats += 1
    tally.missed += caught is None
    tally.by_segment[run.shifted].append(caught)


def write_stream(run: Run, path: Path, shift: Shift) -> None:
    rows = sorted(run.rows, key=lambda r: r["time"])
    for row in rows:
        row["time"] = row["time"].isoformat(timespec="seconds")
    columns: dict[str, ColumnType] = {"id": "string", "time": "string", "channel": "string", "text": "string"}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_table(rows, path, columns)
    start = START + timedelta(weeks=run.shift_week)
    print(
        f"wrote {len(rows)} texts to {path}: {shift.label} ×{shift.factor:g} in channel={run.shifted} from {start:%Y-%m-%d}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = BenchParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=positive_int, default=30)
    parser.add_argument(
        "--weeks",
        type=int_at_least(
            MIN_WEEKS,
            f" (a shift starts in week {FIRST_SHIFT_WEEK} or later and gets {WEEKS_AFTER_SHIFT} weeks to be caught)",
        ),
        default=52,
        help=f"weekly windows per run, at least {MIN_WEEKS}",
    )
    parser.add_argument("--noise", type=share, default=0.15, help="share of rows with another review's labels")
    parser.add_argument(
        "--jitter",
        type=non_negative_float,
        default=0.1,
        help="week-to-week wobble of each cause's weight (sd of its log)",
    )
    parser.add_argument(
        "--shift", type=Shift.parse, default="perception_mismatch:2", help="LABEL:FACTOR, the planted change of share"
    )
    parser.add_argument(
        "--horizon", type=positive_int, default=6, help="windows after the shift in which an alert counts"
    )
    parser.add_argument(
        "--sweep",
        type=comma_list(positive_float),
        help="thresholds to compare, e.g. 3,3.5,4,4.5,5 (default: settings)",
    )
    parser.add_argument("--cooldown", type=positive_int, help="cooldown_windows to use instead of the default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--write-stream",
        type=Path,
        help="instead: write one run's texts (id, time, channel, text; no labels) as CSV, for `needlens label`",
    )
    return parser.parse_args(argv)


@one_line_errors
def main() -> None:
    args = parse_args()
    base = MonitorSettings(by=["channel"], window="7d", baseline="90d")
    if args.cooldown:
        base = base.model_copy(update={"cooldown_windows": args.cooldown})
    thresholds = args.sweep or [base.threshold]
    reviews = load_reviews()
    shift = args.shift
    rng = random.Random(args.seed)
    if args.write_stream:
        write_stream(build_run(reviews, shift, args.weeks, 0.0, args.jitter, rng), args.write_stream, shift)
        return
    tallies = {t: Tally() for t in thresholds}
    started = time.monotonic()
    for _ in range(args.runs):
        run = build_run(reviews, shift, args.weeks, args.noise, args.jitter, rng)
        for threshold in thresholds:
            settings = base.model_copy(update={"threshold": threshold})
            score(run, settings, args.horizon, tallies[threshold])
    print(
        f"{args.runs} runs × {args.weeks} weekly windows, segments {SEGMENTS} texts/week, "
        f"shift {shift.label} ×{shift.factor}, label noise {args.noise:.0%}, weekly jitter {args.jitter}, baseline {base.baseline} rolling, "
        f"min_volume {base.min_volume}, min_change {base.min_change}, cooldown {base.cooldown_windows} "
        f"(simulated in {time.monotonic() - started:.0f} s)"
    )
    print(
        "| threshold | median delay (windows) | caught in window 0 / 1 / ≤3 | missed | repeat alerts | false alarms / 100 windows | tiny-segment alerts |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|")
    for threshold, t in tallies.items():
        n = args.runs
        within = [sum(d <= k for d in t.delays) for k in (0, 1, 3)]
        delay = f"{median(t.delays):.1f}" if t.delays else "–"
        rate = 100 * t.false_alarms / max(1, t.judged_windows)
        print(
            f"| {threshold:g} | {delay} | {within[0]}/{n} · {within[1]}/{n} · {within[2]}/{n} | {t.missed}/{n} | "
            f"{t.repeats} | {rate:.2f} ({t.false_alarms} in {t.judged_windows}) | {t.tiny_alerts} |"
        )
    for threshold, t in tallies.items():
        print(f"\nthreshold {threshold:g}, by segment:")
        print(
            "| segment | texts/week | shifts planted | caught in window 0 / ≤1 | missed | false alarms / 100 windows |"
        )
        print("|---|---:|---:|---|---:|---:|")
        for segment, volume in SEGMENTS.items():
            outcomes = t.by_segment.get(segment, [])
            caught = [d for d in outcomes if d is not None]
            judged = t.judged_by_segment[segment]
            rate = f"{100 * t.false_by_segment[segment] / judged:.2f}" if judged else "– (never judged)"
            print(
                f"| {segment} | {volume} | {len(outcomes)} | {sum(d == 0 for d in caught)} / "
                f"{sum(d <= 1 for d in caught)} | {len(outcomes) - len(caught)} | {rate} |"
            )


if __name__ == "__main__":
    main()
