"""Would a text's distance from the training data say what its calibrated confidence does not?

The question behind an "unfamiliar text" flag: on a domain nobody labeled, a user would want the
model to say its answers may be off. This measures the simplest form of that flag, the
Mahalanobis distance of a text's pooled encoder features from the training texts' (Ledoit-Wolf
covariance over half a sample of them), against what the review band already uses, the cause's
calibrated confidence. For each labeled set it prints how many texts lie beyond the training
texts' 99th percentile, how well distance and confidence each rank the cause errors (AUROC),
whether the two together rank them better than confidence alone (5-fold cross-validated
logistic regression), and, for the nearer and the farther half, mean confidence against
accuracy. The first set is the reference for telling the sets apart by distance. Texts a model
learned as soft labels are left out (``bench.real_accuracy.unseen``).

    python -m bench.familiarity models/default --data R19.jsonl W4.jsonl
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
from sklearn.covariance import LedoitWolf
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from bench.common import BenchParser, existing_path, int_at_least, one_line_errors
from bench.real_accuracy import unseen
from classifier.encoders.base import embed_texts
from classifier.inference import Predictor
from classifier.settings import Settings
from training.data import read_records


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = BenchParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument(
        "--data", type=existing_path, nargs="+", required=True, help="labeled sets; the first is the reference"
    )
    parser.add_argument(
        "--reference-texts",
        type=int_at_least(2, " (one half fits the covariance, the other sets its 99th percentile)"),
        default=12000,
        help="training texts sampled: half fit the covariance, half set its 99th percentile",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


@one_line_errors
def main() -> None:
    args = parse_args()
    settings = Settings()
    predictor = Predictor.load(args.model, settings)

    def features(texts: list[str]) -> np.ndarray:
        return embed_texts(predictor.model.encoder, texts)

    # The covariance is fitted on one half of a training sample and the 99th percentile taken on
    # the other: distances of the very texts a covariance was fitted on come out too small.
    training = [record.text for record in read_records(settings.default_data)]
    sample = random.Random(args.seed).sample(training, min(args.reference_texts, len(training)))
    covariance = LedoitWolf().fit(features(sample[: len(sample) // 2]))

    def distance(texts: list[str]) -> np.ndarray:
        return np.sqrt(covariance.mahalanobis(features(texts)))  # sklearn gives the squared distance

    p99 = float(np.quantile(distance(sample[len(sample) // 2 :]), 0.99))
    reference: np.ndarray | None = None
    for path in args.data:
        records = unseen(read_records([path]), [args.model], path)
        texts = [record.text for record in records]
        distances = distance(texts)
        predictions = predictor.predict(texts)
        wrong = np.array([p.cause != str(r.cause) for p, r in zip(predictions, records, strict=True)])
        confidence = np.array([max(p.cause_probs.values()) for p in predictions])
        print(f"\n{path} (n={len(texts)}, cause accuracy {1 - wrong.mean():.3f})")
        print(f"  beyond the training texts' 99th percentile: {(distances > p99).mean():.1%}")
        if reference is None:
            reference = distances
        else:
            apart = np.r_[np.zeros(len(reference)), np.ones(len(distances))]
            print(
                f"  told apart from {args.data[0]} by distance: AUROC {roc_auc_score(apart, np.r_[reference, distances]):.3f}"
            )
        print(
            f"  cause errors ranked by distance: AUROC {roc_auc_score(wrong, distances):.3f}; "
            f"by low confidence: {roc_auc_score(wrong, -confidence):.3f}"
        )
        for name, columns in (
            ("confidence", confidence[:, None]),
            ("confidence + distance", np.c_[confidence, np.log(distances)]),
        ):
            ranked = cross_val_predict(LogisticRegression(), columns, wrong, cv=5, method="predict_proba")[:, 1]
            print(f"  cross-validated, {name}: AUROC {roc_auc_score(wrong, ranked):.3f}")
        far = distances > np.median(distances)
        for name, half in (("nearer half", ~far), ("farther half", far)):
            print(
                f"  {name}: mean confidence {confidence[half].mean():.3f}, accuracy {1 - wrong[half].mean():.3f}"
                f" (gap {confidence[half].mean() - (1 - wrong[half].mean()):+.3f})"
            )


if __name__ == "__main__":
    main()
