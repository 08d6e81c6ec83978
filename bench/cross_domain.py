"""What to expect on a domain nobody labeled: train with one pool domain left out, score on it.

The model is trained by the same recipe as the default (seed data + the real corpus, calibrated
on a real validation split, plus the teacher's soft labels when the profile uses them), minus
every real record and every soft-labeled pool text of ``--domain``; it is then scored on all of
that domain's annotated texts, beside the TF-IDF baseline trained on the same data. (The teacher
itself saw the domain's labeled texts; what it passes on through other domains' texts is small.) The
default model's own figure on that domain (its validation split, which it never trained on)
is printed for comparison when ``--reference`` names it.

    python -m bench.cross_domain --domain hotel [--profile fast|accurate] [--reference models/default] [--epochs N]
                                 [--keep DIR]

``--keep DIR`` saves the left-out model in DIR and its soft labels beside it (``DIR.soft-labels.jsonl``),
for measurements that need them again (``bench.prior_shift``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import get_args

from base_models.registry import resolve_base_model
from bench.real_accuracy import review_figures
from classifier.inference import Predictor
from classifier.settings import Profile, Settings, profile_training
from training.data import fingerprint, read_records, to_dataset
from training.distill import meta_path
from training.evaluate import evaluation_report
from training.pipeline import train_on_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--reference", type=Path, help="a model trained with the domain, for its figure on it")
    parser.add_argument("--profile", choices=get_args(Profile), default="fast", help="training recipe [fast]")
    parser.add_argument("--epochs", type=int)
    parser.add_argument(
        "--keep", type=Path, help="save the left-out model in this new folder, its soft labels beside it"
    )
    args = parser.parse_args()
    settings = Settings()
    records = read_records(settings.default_data)
    held = [r for r in records if r.domain == args.domain and r.source != "needlens-team"]
    rest = [r for r in records if not (r.domain == args.domain and r.source != "needlens-team")]
    if not held:
        raise SystemExit(f"no real records of domain {args.domain!r}")
    keep: Path | None = args.keep.resolve() if args.keep else None  # absolute: training.json names its soft labels
    soft_kept = keep.with_name(f"{keep.name}.soft-labels.jsonl") if keep else None
    if keep and soft_kept and (keep.exists() or soft_kept.exists()):
        raise SystemExit(f"{keep} or {soft_kept} exists; --keep writes new files")
    if keep:
        keep.parent.mkdir(parents=True, exist_ok=True)
    training = profile_training(settings.training, args.profile, epochs=args.epochs)
    training = training.model_copy(
        update={"base_model": resolve_base_model(training.base_model, settings.base_models_dir)}
    )
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        if training.soft_labels is not None:  # beside a kept model, so its training.json still names them
            out = soft_kept or Path(tmp) / training.soft_labels.name
            training = training.model_copy(
                update={"soft_labels": _soft_labels_without(training.soft_labels, args.domain, out)}
            )
        train_on_records(rest, f"default data without {args.domain}", model_dir, training, log=lambda _: None)
        if keep:
            shutil.copytree(model_dir, keep)
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
    if band := review_figures(model):
        print(f"needlens {band}")
    if args.reference:
        seen = json.loads((args.reference / "metrics.json").read_text(encoding="utf-8"))["per_domain"].get(args.domain)
        if seen:
            print(
                f"reference {args.reference} on its {args.domain} validation texts (n={seen['n']}): "
                f"needs macro-F1 {seen['needs_macro_f1']:.3f}, cause macro-F1 {seen['cause_macro_f1']:.3f}"
            )


def _soft_labels_without(path: Path, domain: str, out: Path) -> Path:
    """A copy of the soft-label file (and its meta) without the held-out domain's pool texts."""
    with path.open(encoding="utf-8") as source, out.open("w", encoding="utf-8") as kept:
        kept.writelines(line for line in source if json.loads(line).get("domain") != domain)
    shutil.copyfile(meta_path(path), meta_path(out))
    return out


def _dig(metrics: dict, path: tuple[str, ...]) -> float:
    for key in path:
        metrics = metrics[key]
    return float(metrics)


if __name__ == "__main__":
    main()
