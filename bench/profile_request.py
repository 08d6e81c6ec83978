"""Where does one HTTP classify request spend its time?

    python -m bench.profile_request [--model models/default] [--requests 300]

For single-text requests over the bundled sample texts, the median of each stage, timed
in this process: validating the request body (pydantic), tokenizing and batching the text,
the model (the default runtime: encoder and heads), the whole of `Predictor.predict`
(those two plus calibration, decisions and result objects), and serializing the response. Then
the median round trip of the same requests to a `needlens serve` process on loopback (one
keep-alive client, so no queueing): what the round trip adds to the stages is the HTTP
stack (uvicorn, middleware, routing, the micro-batcher's hand-off to its thread) and the
client.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import httpx

from bench.common import BenchParser, Server, one_line_errors, positive_int, sample_texts
from classifier.encoders.base import length_batches
from classifier.inference import Predictor
from serve.api import classification
from serve.schemas import ClassifyRequest, ClassifyResponse

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - start) * 1000


def stage_times(predictor: Predictor, bodies: list[bytes], requests: int) -> dict[str, list[float]]:
    """Each request's stages, in milliseconds, in the order the service runs them."""
    settings = predictor.settings
    stages: dict[str, list[float]] = {}
    for i in range(requests):
        body = bodies[i % len(bodies)]
        request, validate_ms = timed(partial(ClassifyRequest.model_validate_json, body))
        items = request.as_items()
        texts = [item.text for item in items]
        batches, tokenize_ms = timed(
            partial(list, length_batches(predictor.model.encoder, texts, settings.batch_size, settings.batch_tokens))
        )
        _, model_ms = timed(lambda batches=batches: [predictor.runner(b) for _, b in batches])
        predictions, predict_ms = timed(partial(predictor.predict, texts))
        results = [classification(item, p) for item, p in zip(items, predictions, strict=True)]
        response = ClassifyResponse(model_version=predictor.version, results=results)
        _, respond_ms = timed(response.model_dump_json)
        for name, ms in (
            ("validate the request body", validate_ms),
            ("tokenize + batch", tokenize_ms),
            ("model (default runtime)", model_ms),
            ("Predictor.predict (tokenize, model, calibrate, decide)", predict_ms),
            ("serialize the response", respond_ms),
        ):
            stages.setdefault(name, []).append(ms)
    return stages


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = BenchParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--requests", type=positive_int, default=300)
    return parser.parse_args(argv)


@one_line_errors
def main() -> None:
    args = parse_args()

    texts = sample_texts()
    bodies = [json.dumps({"texts": [t]}, ensure_ascii=False).encode() for t in texts]
    predictor = Predictor.load(args.model)
    predictor.predict(texts)  # warm: the token-feature cache and the runtime's first calls
    stages = stage_times(predictor, bodies, args.requests)

    json_header = {"content-type": "application/json"}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Server(args.model, Path(tmp) / "labels.db") as server,
        httpx.Client(base_url=server.url, headers=json_header) as client,
    ):
        client.post("/v1/classify", content=bodies[0]).raise_for_status()
        round_trips = []
        for i in range(args.requests):
            start = time.perf_counter()
            client.post("/v1/classify", content=bodies[i % len(bodies)]).raise_for_status()
            round_trips.append((time.perf_counter() - start) * 1000)

    print(f"{args.requests} single-text requests, sample texts of {min(map(len, texts))}-{max(map(len, texts))} chars")
    print("| stage | median ms |\n|---|---:|")
    for name, values in stages.items():
        print(f"| {name} | {statistics.median(values):.2f} |")
    print(f"| HTTP round trip to `needlens serve` (one client) | {statistics.median(round_trips):.2f} |")


if __name__ == "__main__":
    main()
