"""How long the feedback request that completes an annotator's first batch waits.

    python -m bench.feedback_latency [--model models/default] [--pauses 0,30]

The served model's arrival check (it fits the audit judge over the bundled labels) is built in
the background from the first feedback label on. For each pause, a fresh `needlens serve` and an
empty label store receive one annotator's first batch (`NEEDLENS_ARRIVAL__MIN_LABELS` labels,
real reviews with the team's labels from `data/real/`): the first label, the pause (the time an
annotator spends on the next texts), then the rest back to back. Prints each request's latency
figures and what became of the batch; nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import ROOT, BenchParser, Server, comma_list, non_negative_float, one_line_errors
from classifier.model_dir import resolve_model_dir
from classifier.settings import Settings

HEADER = ["pause s", "1st label ms", "max of the next ms", "last label ms", "batch"]


def first_batch(size: int) -> list[dict[str, object]]:
    with (ROOT / "data" / "real" / "reviews.jsonl").open(encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    spread = records[:: max(1, len(records) // size)][:size]  # across the file's domains, not the first one's
    return [{"text": r["text"], "needs": r["needs"], "cause": r["cause"], "annotator": "bench"} for r in spread]


def send_batch(url: str, labels: list[dict[str, object]], pause_s: float) -> tuple[list[float], str]:
    """Each label's latency in ms, and the status the last one was answered with."""
    latencies: list[float] = []
    with httpx.Client(base_url=url, timeout=900) as client:
        for index, label in enumerate(labels):
            start = time.perf_counter()
            answer = client.post("/v1/feedback", json=label)
            latencies.append((time.perf_counter() - start) * 1000)
            answer.raise_for_status()
            if index == 0:
                time.sleep(pause_s)
    return latencies, answer.json()["status"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = BenchParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument(
        "--pauses", type=comma_list(non_negative_float), default=[0.0, 30.0], help="seconds after the first label"
    )
    return parser.parse_args(argv)


@one_line_errors
def main() -> None:
    args = parse_args()
    resolve_model_dir(args.model)  # a missing model is one line now, not a server that exits at start
    labels = first_batch(Settings().arrival.min_labels)
    rows = []
    for pause in args.pauses:
        with tempfile.TemporaryDirectory() as tmp, Server(args.model, Path(tmp) / "labels.db") as server:
            latencies, status = send_batch(server.url, labels, pause)
        rows.append(
            [
                f"{pause:g}",
                f"{latencies[0]:.0f}",
                f"{max(latencies[1:-1], default=0):.0f}",
                f"{latencies[-1]:.0f}",
                status,
            ]
        )
        print(", ".join(f"{name} {value}" for name, value in zip(HEADER, rows[-1], strict=True)), flush=True)
    print("\n| " + " | ".join(HEADER) + " |\n|" + "---|" * len(HEADER))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
