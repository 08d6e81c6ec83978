"""What to expect on a domain nobody labeled: train with one pool domain left out, score on it.

The model is trained by the same recipe as the default (seed data + the real corpus, calibrated
on a real validation split), minus every real record of ``--domain``; it is then scored on all
of that domain's annotated texts, beside the TF-IDF baseline trained on the same data. The
default model's own figure on that domain (its validation split, which it never trained on)
is printed for comparison when ``--reference`` names it.

    python -m bench.cross_domain --domain hotel [--reference models/default] [--epochs N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from classifier.inference import Predictor
from classifier.settings import Settings
from training.data import fingerprint, read_records, to_dataset
from training.evaluate import evaluation_report
from training.pipeline import train_on_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--reference", type=Path, help="a model trained with the domain, for its figure on it")
    parser.add_argument("--epochs", type=int)
    args = parser.parse_args()
    settings = Settings()
    records = read_records(settings.default_data)
    held = [r for r in records if r.domain == args.domain and r.source != "needlens-team"]
    rest = [r for r in records if not (r.domain == args.domain and r.source != "needlens-team")]
    if not held:
        raise SystemExit(f"no real records of domain {args.domain!r}")
    training = settings.training.model_copy(update={"epochs": args.epochs} if args.epochs else {})
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        train_on_records(rest, f"default data without {args.domain}", model_dir, training, log=lambda _: None)
        facts = {"path": f"real {args.domain} texts", "fingerprint": fingerprint(held)}
        report = evaluation_report(Predictor.load(model_dir, settings), model_dir, to_dataset(held), facts)
    model, baseline = report["model"], report["baseline"]
    print(f"left out: {args.domain} ({len(held)} annotated texts); trained on {len(rest)} records")
    print(f"{'figure':<22}{'needlens':>10}{'baseline':>10}")
    rows = {
        "needs macro-F1": ("needs_macro_f1",),
        "emotional F1": ("needs", "emotional", "f1"),
        "cause macro-F1": ("cause_macro_f1",),
        "cause accuracy": ("cause_accuracy",),
        "cause ECE": ("cause_ece",),
    }
    for name, path in rows.items():
        print(f"{name:<22}{_dig(model, path):>10.3f}{_dig(baseline, path):>10.3f}")
    if args.reference:
        seen = json.loads((args.reference / "metrics.json").read_text(encoding="utf-8"))["per_domain"].get(args.domain)
        if seen:
            print(
                f"reference {args.reference} on its {args.domain} validation texts (n={seen['n']}): "
                f"needs macro-F1 {seen['needs_macro_f1']:.3f}, cause macro-F1 {seen['cause_macro_f1']:.3f}"
            )


def _dig(metrics: dict, path: tuple[str, ...]) -> float:
    for key in path:
        metrics = metrics[key]
    return float(metrics)


if __name__ == "__main__":
    main()
