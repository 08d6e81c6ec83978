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

``--domain-labels N`` measures what labeling the new domain buys, the loop the README advises there
(`needlens suggest`, `labels import`, `retrain`): the domain's annotated texts are shuffled by
``--draw-seed``, the first ``--draw-pool`` of them play the texts an analyst may label and the rest
are scored, whatever N is, so every N is judged on the same texts. N of the draw pool join the
training records, taken in the shuffled order (``--pick random``) or as `needlens suggest` would
rank them with ``--picker``, a model that never saw the domain (``--pick suggest``; a model kept by
``--keep`` from the N=0 run is one). As in a `needlens retrain`, the N join the records before the
seeded train/validation split, so each N also reshuffles that split: every gain carries training
noise (~0.008 cause macro-F1 between seeds on a left-out domain), and ``--draw-seed`` 1 repeats a
curve on another pool.

    python -m bench.cross_domain --domain hotel --domain-labels 0 --keep /tmp/hotel-0
    python -m bench.cross_domain --domain hotel --domain-labels 300 [--pick suggest --picker /tmp/hotel-0]

``--self-train N --teacher DIR`` measures adapting to the new domain with no labels at all: DIR, the
model kept by ``--keep`` from a plain run on the domain, reads N of the domain's unlabeled pool texts
(none of its annotated ones, which are scored), and a model is trained as DIR was, on the same
records and the same soft labels (the ids its training.json lists) plus those N readings, then
scored as the plain run was. The figures to set against it are the plain run's.

    python -m bench.cross_domain --domain hotel --self-train 3000 --teacher /tmp/hotel-0
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from annotation.merge import POOL_FILE
from base_models.registry import resolve_base_model
from bench.active_learning import pick_uncertain
from bench.real_accuracy import review_figures
from classifier.inference import Predictor
from classifier.labels import LabeledRecord, text_key
from classifier.settings import Profile, Settings, TrainingSettings, profile_training
from training.data import fingerprint, read_held_out, read_records, to_dataset
from training.distill import label_pool, meta_path, pool_rows, soft_label_meta
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
    parser.add_argument(
        "--domain-labels", type=int, help="label this many of the domain's texts (from the draw pool) and train on them"
    )
    parser.add_argument("--draw-pool", type=int, default=1000, help="texts an analyst may label; the rest are scored")
    parser.add_argument("--draw-seed", type=int, default=0, help="seed of the shuffle that makes the draw pool")
    parser.add_argument("--pick", choices=("random", "suggest"), default="random", help="how the N are chosen")
    parser.add_argument("--picker", type=Path, help="for --pick suggest: a model trained without the domain")
    parser.add_argument("--max-similarity", type=float, default=0.6, help="suggest's near-duplicate skip")
    parser.add_argument("--self-train", type=int, help="soft-label this many unlabeled domain texts and train on them")
    parser.add_argument("--teacher", type=Path, help="for --self-train: the model --keep saved from a plain run")
    parser.add_argument("--pool", type=Path, default=POOL_FILE, help="the unlabeled texts --self-train draws from")
    args = parser.parse_args()
    settings = Settings()
    records = read_records(settings.default_data)
    held = [r for r in records if r.domain == args.domain and r.source != "needlens-team"]
    rest = [r for r in records if not (r.domain == args.domain and r.source != "needlens-team")]
    if not held:
        raise SystemExit(f"no real records of domain {args.domain!r}")
    if args.picker and args.pick != "suggest":
        raise SystemExit("--picker ranks suggest's picks: give it with --pick suggest")
    if args.pick == "suggest" and args.domain_labels is None:
        raise SystemExit("--pick suggest chooses the --domain-labels texts: give --domain-labels N")
    if (args.self_train is None) != (args.teacher is None):
        raise SystemExit("--self-train N and --teacher DIR go together")
    if args.self_train is not None and (args.domain_labels is not None or args.keep):
        raise SystemExit("--self-train is measured against a plain run: leave out --domain-labels and --keep")
    if args.self_train is not None and args.self_train < 1:
        raise SystemExit("--self-train N needs N >= 1 unlabeled texts")
    if args.domain_labels is not None:
        labeled, held = _draw_domain_labels(held, args, settings)
        rest += labeled
        print(
            f"{len(labeled)} of the domain's texts labeled ({args.pick}, from a draw pool of {args.draw_pool}, "
            f"draw seed {args.draw_seed}); scoring the {len(held)} outside the pool"
        )
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
        if args.self_train is not None:
            soft = _teacher_soft_labels_plus_domain(args, held, rest, training, settings, Path(tmp))
            training = training.model_copy(update={"soft_labels": soft.path, "soft_label_texts": soft.texts})
            print(f"self-training: {soft.texts} soft-labeled texts, {args.self_train} of them {args.domain}'s")
        elif training.soft_labels is not None:  # beside a kept model, so its training.json still names them
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


def _draw_domain_labels(
    held: list[LabeledRecord], args: argparse.Namespace, settings: Settings
) -> tuple[list[LabeledRecord], list[LabeledRecord]]:
    """The N texts an analyst labels, and the texts scored: those outside the draw pool, the same for every N."""
    if not 0 <= args.domain_labels <= args.draw_pool < len(held):
        raise SystemExit(
            f"--domain-labels {args.domain_labels} must be 0..--draw-pool ({args.draw_pool}), "
            f"and --draw-pool below the domain's {len(held)} texts"
        )
    shuffled = random.Random(args.draw_seed).sample(held, len(held))
    pool, scored = shuffled[: args.draw_pool], shuffled[args.draw_pool :]
    if args.pick == "random" or args.domain_labels == 0:
        return pool[: args.domain_labels], scored
    if args.picker is None:
        raise SystemExit("--pick suggest needs --picker, a model trained without the domain")
    picked = pick_uncertain(Predictor.load(args.picker, settings), pool, args.domain_labels, args.max_similarity)
    if len(picked) < args.domain_labels:  # near-duplicates skipped: a smaller N would be reported as N
        raise SystemExit(
            f"suggest found only {len(picked)} texts of the pool at --max-similarity {args.max_similarity}; "
            f"raise it or ask for fewer"
        )
    return [pool[i] for i in picked], scored


def _soft_labels_without(path: Path, domain: str, out: Path) -> Path:
    """A copy of the soft-label file (and its meta) without the held-out domain's pool texts."""
    with path.open(encoding="utf-8") as source, out.open("w", encoding="utf-8") as kept:
        kept.writelines(line for line in source if json.loads(line).get("domain") != domain)
    shutil.copyfile(meta_path(path), meta_path(out))
    return out


@dataclass(frozen=True)
class SoftLabelFile:
    """A soft-label file made for one run, and how many texts it holds (all of them are to be sampled)."""

    path: Path
    texts: int


SAME_RECIPE_EXCEPT = {"base_model", "soft_labels", "soft_label_texts", "distinct_token_rows", "winograd_convolutions"}
"""What a self-trained student may differ from its teacher in: its soft labels, the base
model's local path (training.json keeps the name it was given), and how float32 steps compute
the per-token layers and the second convolutions (the same arithmetic up to rounding; teachers
before those settings ran them the old way, which their defaults would not say)."""


def _teacher_soft_labels_plus_domain(
    args: argparse.Namespace,
    held: list[LabeledRecord],
    rest: list[LabeledRecord],
    training: TrainingSettings,
    settings: Settings,
    tmp: Path,
) -> SoftLabelFile:
    """The soft labels the teacher itself trained on, plus its readings of ``--self-train``
    unlabeled texts of the domain: the student differs from the teacher's plain run in those alone."""
    facts = _check_teacher(args, rest, training)
    teacher = Predictor.load(args.teacher, settings)
    domain_pool = tmp / "domain-pool.jsonl"
    rows = _unlabeled_domain_rows(args, held, rest, settings)
    domain_pool.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    domain_soft = tmp / "domain-soft-labels.jsonl"
    label_pool(teacher, domain_pool, domain_soft, settings, log=lambda _: None)
    ids = set(facts["ids"])
    out = tmp / "soft-labels.jsonl"
    with out.open("w", encoding="utf-8") as combined, Path(facts["path"]).open(encoding="utf-8") as source:
        kept = [line for line in source if json.loads(line)["id"] in ids]
        if len(kept) < len(ids):
            raise SystemExit(f"{facts['path']} holds {len(kept)} of the {len(ids)} soft labels {args.teacher} lists")
        combined.writelines(kept)
        combined.write(domain_soft.read_text(encoding="utf-8"))
    versions = f"{facts['teacher_version']} + {teacher.version}"
    meta_path(out).write_text(json.dumps({"teacher_version": versions, "complete": True}), encoding="utf-8")
    return SoftLabelFile(out, len(kept) + len(rows))


def _check_teacher(args: argparse.Namespace, rest: list[LabeledRecord], training: TrainingSettings) -> dict:
    """The teacher's soft-label facts, once it is shown to be a plain run's model: the same records
    and recipe as this run (settings it predates count at their defaults), and soft labels this
    machine still holds as they were."""
    trained = json.loads((args.teacher / "training.json").read_text(encoding="utf-8"))
    if trained.get("data", {}).get("fingerprint") != fingerprint(rest):
        raise SystemExit(f"{args.teacher} was not trained on the records a plain run without {args.domain} trains on")
    defaults = TrainingSettings().model_dump(mode="json")
    recipe = training.model_dump(mode="json")
    differ = sorted(
        name
        for name, value in recipe.items()
        if name not in SAME_RECIPE_EXCEPT and trained.get("settings", {}).get(name, defaults[name]) != value
    )
    if differ:
        raise SystemExit(f"{args.teacher} was trained with other settings than this run's: {', '.join(differ)}")
    facts = trained.get("soft_labels") or {}
    path = Path(facts.get("path", ""))
    if not facts.get("ids"):
        raise SystemExit(f"{args.teacher} learned no soft labels: self-training adds to a teacher's own soft labels")
    meta = soft_label_meta(path) if path.is_file() else {}
    if any(meta.get(key) != facts.get(key) for key in ("teacher_version", "pool_sha256")):
        raise SystemExit(f"{path}, the soft labels {args.teacher} learned, is missing or holds another teacher's")
    return facts


def _unlabeled_domain_rows(
    args: argparse.Namespace, held: list[LabeledRecord], rest: list[LabeledRecord], settings: Settings
) -> list[dict]:
    """A seeded sample of the domain's pool texts that no record, held-out text or scored text shares."""
    known = {text_key(r.text) for r in (*held, *rest, *read_held_out(settings.training.held_out_data))}
    candidates = [
        row
        for row in pool_rows(args.pool, settings.max_chars)
        if row["domain"] == args.domain and text_key(row["text"]) not in known
    ]
    if len(candidates) < args.self_train:
        raise SystemExit(f"{args.pool} has only {len(candidates)} unlabeled {args.domain} texts")
    return random.Random(args.draw_seed).sample(candidates, args.self_train)


def _dig(metrics: dict, path: tuple[str, ...]) -> float:
    """The figure at ``path``; NaN (printed "nan") for one the report leaves undefined."""
    for key in path:
        metrics = metrics[key]
    return float("nan") if metrics is None else float(metrics)


if __name__ == "__main__":
    main()
