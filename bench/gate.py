"""The label loop's defences, scenario by scenario: what the arrival checks and the promotion gate
do with honest, poisoned, swapped and careless label imports, and how often the gate refuses a
candidate that differs from the active model only by its training seed.

From the bundled data (data/seed + data/real), ``--pool`` real texts outside the held-out
share play the new texts an analyst imports; the rest is the seed data. A first version is
trained and activated; then, for each scenario, from that same active version:

- honest: the pool's own labels, split among five annotators;
- honest-new-domain: the real texts of one domain (``--new-domain``, books by default), which
  the seed data then lacks entirely, with their own labels: an honest batch whose mix and
  wording differ from everything the judges know;
- poisoned: the issue's broken export — every text "growth", cause "none" for complaints and
  "system_error" for the rest;
- poisoned-quarter: a quarter of the pool so poisoned, mixed into the honest rest (one file,
  no annotator): a dose below the arrival limits;
- swapped: the honest labels with the needs and cause columns exchanged;
- careless: five annotators, one of whom labels at random;
- careless-feedback: the same labels sent to `POST /v1/feedback` one at a time (the service's
  path, ``FeedbackInbox``: each annotator's labels wait and are judged per ``min_labels``;
  what still waits at the end trains nothing).

Each file goes through `labels import`'s path (``import_labels`` with the arrival checks); if
labels are admitted a candidate is retrained and gated; if some are held, a second candidate
shows what the gate does had an admin accepted them. Seed noise: ``--seeds`` retrains on the
seed data alone with other training seeds, each gated against the first version, and every
ordered pair of those models gated against each other, by the gate's rule and by others
(the old point-only rule among them).

    python -m bench.gate --train-texts 2000 --epochs 4 --seeds 4
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import random
import tempfile
import time
from collections.abc import Callable
from itertools import permutations
from pathlib import Path
from typing import Any

from classifier.inference import Predictor
from classifier.labels import CAUSES, NEEDS, LabeledRecord, Labels
from classifier.settings import Settings, TrainingSettings
from label_loop.admission import Admission, build_arrival_check
from label_loop.arrival import ArrivalCheck
from label_loop.feedback import FEEDBACK, FeedbackInbox
from label_loop.importer import ImportRefused, LabelColumns, import_labels
from label_loop.pool import gather_labels, in_holdout
from label_loop.store import LabelStore, NewLabel
from lifecycle.gate import MetricDelta, worse_beyond_tolerance
from lifecycle.judging import metric_deltas, score_set
from lifecycle.registry import ModelRegistry
from lifecycle.retrain import retrain
from training.data import read_records

ANNOTATORS = ("ann", "bo", "cy", "dee", "eli")

Rows = list[tuple[str, str, str, str]]  # text, needs, cause, annotator


def honest_rows(pool: list[LabeledRecord]) -> Rows:
    return [(r.text, "|".join(r.needs), str(r.cause), ANNOTATORS[i % 5]) for i, r in enumerate(pool)]


def poisoned(record: LabeledRecord) -> tuple[str, str, str, str]:
    """The issue's broken export: growth on everything, the complaint flag inverted into the cause."""
    return (record.text, "growth", "none" if record.cause != "none" else "system_error", "export")


def scenario_rows(pool: list[LabeledRecord], new_domain: list[LabeledRecord], seed: int) -> dict[str, Rows]:
    rng = random.Random(seed)
    honest = honest_rows(pool)
    quarter = set(rng.sample(range(len(pool)), len(pool) // 4))
    careless = []
    for text, needs, cause, annotator in honest:
        if annotator == ANNOTATORS[-1]:  # clicks anything
            picked = [n for n in NEEDS if rng.random() < 0.5] or [rng.choice(NEEDS)]
            needs, cause = "|".join(picked), str(rng.choice(CAUSES))
        careless.append((text, needs, cause, annotator))
    return {
        "honest": honest,
        "honest-new-domain": honest_rows(new_domain),
        "poisoned": [poisoned(r) for r in pool],
        "poisoned-quarter": [
            (*poisoned(r)[:3], "") if i in quarter else (*row[:3], "")
            for i, (r, row) in enumerate(zip(pool, honest, strict=True))
        ],
        "swapped": [(text, cause, needs, annotator) for text, needs, cause, annotator in honest],
        "careless": careless,
        "careless-feedback": careless,
    }


def write_rows(path: Path, rows: Rows) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("text", "needs", "cause", "annotator"))
        writer.writerows(rows)
    return path


def send_as_feedback(
    store: LabelStore, rows: Rows, settings: Settings, make_check: Callable[[], ArrivalCheck]
) -> tuple[Admission, int]:
    """Each row as one feedback request, followed by judging what is due, as the service does
    (one check for all, as the service keeps one per served model). Returns the batches'
    admissions merged, and how many labels still wait."""
    inbox = FeedbackInbox(store, settings.arrival)
    merged = Admission()
    for text, needs, cause, annotator in rows:
        labels = Labels.model_validate({"needs": needs, "cause": cause})
        inbox.receive(NewLabel(text, labels, FEEDBACK, annotator or None))
        for batch in inbox.judge_due(make_check):
            merged.added += batch.admission.added
            merged.held += batch.admission.held
            for name, check in batch.admission.checks.items():
                merged.checks[f"{batch.name}, {name} {len(merged.checks) + 1}"] = check
    return merged, sum(b.labels for b in inbox.waiting())


def gold_deltas(outcome: Any) -> str:
    gold = outcome.comparison["sets"]["gold"]
    return ", ".join(
        f"{m.split('_')[0]} {d:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]"
        for m, d in gold["deltas"].items()
        for ci in [gold["delta_95ci"].get(m, (float("nan"), float("nan")))]
    )


def run_scenario(
    name: str,
    rows: Rows,
    work: Path,
    registry: ModelRegistry,
    first: str,
    seed_file: Path,
    settings: Settings,
    log: Callable[[str], None],
) -> dict[str, Any]:
    registry.promote(first, f"bench: scenario {name} starts from the first version")
    store = LabelStore(work / f"{name}.db")
    path = write_rows(work / f"{name}.csv", rows)

    def make_check() -> Any:
        return build_arrival_check(settings, seed_file, store, Predictor.load(registry.root, settings))

    result: dict[str, Any] = {"scenario": name}
    started = time.monotonic()
    waiting = 0
    try:
        if name.endswith("-feedback"):
            admission, waiting = send_as_feedback(store, rows, settings, functools.cache(make_check))
        else:
            admission = import_labels(
                store,
                path,
                LabelColumns(annotator="annotator"),
                settings.max_chars,
                make_check,
                settings.arrival.min_labels,
            ).admission
    except ImportRefused as exc:
        result.update(import_verdict="refused", import_detail=str(exc).split(": ", 1)[1][:160])
        return result
    held = sum(h.labels for h in admission.held)
    result["import_seconds"] = round(time.monotonic() - started, 1)
    result["import_verdict"] = "quarantined" if held and not admission.added else "admitted" if not held else "split"
    result["import_detail"] = (
        f"{admission.added} admitted, {held} quarantined"
        + (f", {waiting} still waiting" if waiting else "")
        + "".join(f"; batch {h.batch_id}: {h.reason}" for h in admission.held)
    )
    result["checks"] = {k: v.summary() for k, v in admission.checks.items()}
    if admission.added:
        outcome = retrain(registry, seed_file, store, settings, log=log)
        result["gate"] = "promoted" if outcome.promoted else "refused"
        result["gate_detail"] = gold_deltas(outcome)
        registry.promote(first, "bench: back to the first version")
    if held:
        for batch in admission.held:
            store.decide(batch.batch_id, accept=True, by="bench", note="what if an admin accepted it")
        outcome = retrain(registry, seed_file, store, settings, log=log)
        result["gate_if_accepted"] = "promoted" if outcome.promoted else "refused"
        result["gate_if_accepted_detail"] = gold_deltas(outcome) + (
            f" (refused by {', '.join(outcome.decision.refused_by)})" if outcome.decision.refused_by else ""
        )
    return result


def seed_noise(
    registry: ModelRegistry, first: str, seed_file: Path, settings: Settings, seeds: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Retrains on the same data with other training seeds: each gated against the first version,
    then every ordered pair of these models by three rules."""
    versions = [first]
    refused_vs_first = []
    for k in range(1, seeds + 1):
        registry.promote(first, "bench: seed noise")
        reseeded = settings.model_copy(
            update={"training": settings.training.model_copy(update={"seed": settings.training.seed + k})}
        )
        outcome = retrain(registry, seed_file, None, reseeded, log=log)
        versions.append(outcome.candidate)
        refused_vs_first.append((outcome.candidate, not outcome.decision.passed, gold_deltas(outcome)))
    registry.promote(first, "bench: seed noise done")

    gold = gather_labels(seed_file, None, settings.holdout_percent).gold
    scores = score_set({v: Predictor.load(registry.path(v), settings) for v in versions}, gold)
    tolerance = settings.promotion_tolerance
    rules: dict[str, Callable[[MetricDelta], bool]] = {
        "old rule: delta < -0.01": lambda d: d.delta < -0.01,
        "delta < -0.01 and upper end < 0": lambda d: d.delta < -0.01 and d.interval is not None and d.interval[1] < 0,
    }
    for t in sorted({0.01, 0.02, 0.03, 0.04, tolerance}):
        mark = " (the gate, NEEDLENS_PROMOTION_TOLERANCE)" if t == tolerance else ""
        rules[f"upper end < -{t:g}{mark}"] = lambda d, t=t: worse_beyond_tolerance(d, t)
    refused = dict.fromkeys(rules, 0)
    worst = 0.0
    pairs = list(permutations(versions, 2))
    for active, candidate in pairs:
        deltas = metric_deltas(scores, active, candidate, settings.bootstrap_samples, settings.training.seed)
        worst = min(worst, *(d.delta for d in deltas))
        for name, rule in rules.items():
            refused[name] += any(rule(d) for d in deltas)
    return {
        "retrains": seeds,
        "refused_vs_first": refused_vs_first,
        "pairs": len(pairs),
        "pairs_refused": refused,
        "largest_drop": worst,
        "gold_n": len(gold.records),
        "gold_figures": {v: {k: scores.metrics[v][k] for k in ("needs_macro_f1", "cause_macro_f1")} for v in versions},
    }


def bench_data(
    pool_size: int, new_domain: str, train_texts: int | None, holdout: int, seed: int, work: Path
) -> tuple[Path, list[LabeledRecord], list[LabeledRecord]]:
    """Seed file (bundled data less the pool and the new domain's real texts, training part
    optionally subsampled; the held-out part whole, so the gold set is the bundled one less
    that domain), the pool of real texts, and the new domain's texts outside the held-out share."""
    rng = random.Random(seed)
    seed_records = read_records(Path("data/seed"))
    real = read_records(Path("data/real"))
    domain = [r for r in real if r.domain == new_domain]
    if not domain:
        raise SystemExit(f"no real texts of domain {new_domain!r}")
    outside = [r for r in real if r.domain != new_domain and not in_holdout(r.text, holdout)]
    pool = rng.sample(outside, pool_size)
    taken = {r.id for r in pool + domain}
    rest = [r for r in seed_records + real if r.id not in taken]
    held = [r for r in rest if in_holdout(r.text, holdout)]
    train = [r for r in rest if not in_holdout(r.text, holdout)]
    if train_texts is not None and train_texts < len(train):
        train = rng.sample(train, train_texts)
    seed_file = work / "seed.jsonl"
    with seed_file.open("w", encoding="utf-8") as handle:
        for record in held + train:
            handle.write(json.dumps(record.model_dump(mode="json"), ensure_ascii=False) + "\n")
    return seed_file, pool, [r for r in domain if not in_holdout(r.text, holdout)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", type=int, default=600, help="real texts the scenarios import")
    parser.add_argument("--new-domain", default="books", help="real domain the seed data is made to lack")
    parser.add_argument("--train-texts", type=int, default=None, help="subsample the seed's training part")
    parser.add_argument("--epochs", type=int, default=TrainingSettings().epochs)
    parser.add_argument("--seeds", type=int, default=4, help="retrains on the same data with other seeds")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples per judging set")
    parser.add_argument("--scenarios", nargs="*", default=None, help="run only these (default: all)")
    parser.add_argument("--work", type=Path, default=None, help="keep models and stores here (default: a temp dir)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="needlens-gate-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = Settings(bootstrap_samples=args.bootstrap, training=TrainingSettings(epochs=args.epochs))
    log: Callable[[str], None] = print if args.verbose else (lambda _: None)
    started = time.monotonic()
    seed_file, pool, new_domain = bench_data(
        args.pool, args.new_domain, args.train_texts, settings.holdout_percent, settings.training.seed, work
    )
    registry = ModelRegistry(work / "registry")
    first = retrain(registry, seed_file, None, settings, log=log)
    print(
        f"first version {first.candidate}: {first.comparison['training_labels']['n']} training texts, "
        f"gold set {first.comparison['sets']['gold']['n']} texts, {args.epochs} epochs ({time.monotonic() - started:.0f} s)"
    )

    results = []
    for name, rows in scenario_rows(pool, new_domain, settings.training.seed).items():
        if args.scenarios and name not in args.scenarios:
            continue
        result = run_scenario(name, rows, work, registry, first.candidate, seed_file, settings, log)
        results.append(result)
        print(f"\n[{name}] import: {result['import_verdict']} ({result['import_detail']})", flush=True)
        for check, summary in result.get("checks", {}).items():
            print(f"    checked {check}: {summary}")
        if "gate" in result:
            print(f"    gate on the admitted labels: {result['gate']} (gold {result['gate_detail']})")
        if "gate_if_accepted" in result:
            print(
                f"    gate had an admin accepted the held labels: {result['gate_if_accepted']} "
                f"(gold {result['gate_if_accepted_detail']})"
            )

    noise = seed_noise(registry, first.candidate, seed_file, settings, args.seeds, log) if args.seeds else None

    print("\nsummary")
    print(f"  {'scenario':<18}{'import':<14}{'gate':<12}{'gate if accepted':<18}")
    for r in results:
        print(
            f"  {r['scenario']:<18}{r['import_verdict']:<14}{r.get('gate', '–'):<12}{r.get('gate_if_accepted', '–'):<18}"
        )
    poisoned = [r for r in results if r["scenario"].startswith("poisoned")]
    shipped = sum(r.get("gate") == "promoted" or r.get("gate_if_accepted") == "promoted" for r in poisoned)
    print(f"  poisoned scenarios that shipped a model (even with held labels accepted): {shipped} of {len(poisoned)}")
    if noise:
        refused = sum(flag for _, flag, _ in noise["refused_vs_first"])
        print(f"  seed noise: {refused} of {noise['retrains']} retrains on the same data (other seeds) refused")
        for version, flag, detail in noise["refused_vs_first"]:
            print(f"    {version}: {'refused' if flag else 'promoted'} (gold {detail})")
        print(
            f"  every ordered pair of the {noise['retrains'] + 1} models on the gold set ({noise['gold_n']} texts), "
            f"largest drop {noise['largest_drop']:+.3f}:"
        )
        for rule, n in noise["pairs_refused"].items():
            print(f"    {rule}: {n} of {noise['pairs']} refused")
    print(f"\n{time.monotonic() - started:.0f} s; models and stores in {work}")
    (work / "results.json").write_text(
        json.dumps({"scenarios": results, "seed_noise": noise}, indent=2, ensure_ascii=False)
    )


if __name__ == "__main__":
    main()
