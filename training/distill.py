"""Distillation: a teacher's calibrated probabilities over unlabeled texts, stored once, read back
as soft targets for a faster student.

The accurate profile's encoder reads real text better than the fast one but labels ~20x slower.
Its judgements of the unlabeled pool are computed once (`needlens distill`) and kept in a file
beside a side file naming the teacher version and the pool's sha256, so a student trained on
them says exactly which teacher and which texts it learned from. Writing goes chunk by chunk
and resumes, because labeling 66k texts with the teacher takes a quarter of an hour.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset

from classifier.inference import Predictor, TextProblem, validate_text
from classifier.labels import CAUSES, LabeledRecord, text_key
from classifier.model_dir import TRAINING_FACTS
from classifier.settings import Settings
from training.data import DataError

CHUNK = 2048


def meta_path(soft_labels: Path) -> Path:
    return soft_labels.with_name(soft_labels.name + ".meta.json")


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def pool_rows(pool: Path, max_chars: int) -> Iterator[dict]:
    """``{"id", "text", "domain"}`` per usable line (the pool's ``pool_id`` or a plain ``id``);
    unusable texts are skipped: a soft label of an empty text teaches nothing."""
    with pool.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text = validate_text(row.get("text"), max_chars)
            except (json.JSONDecodeError, AttributeError, TextProblem):
                continue
            yield {
                "id": str(row.get("pool_id") or row.get("id") or f"line-{line_no}"),
                "text": text,
                "domain": row.get("domain", ""),
            }


def label_pool(
    predictor: Predictor, pool: Path, out: Path, settings: Settings, log: Callable[[str], None] = print
) -> int:
    """Write the teacher's document-level probabilities for every pool text; resumes a file
    written by the same teacher from the same pool, refuses any other."""
    expected = {"teacher_version": predictor.version, "pool": str(pool), "pool_sha256": file_sha256(pool)}
    done = _resume_point(out, expected)
    rows = list(pool_rows(pool, settings.max_chars))
    meta_path(out).write_text(
        json.dumps({**expected, "texts": len(rows), "complete": False}, indent=2), encoding="utf-8"
    )
    with out.open("a", encoding="utf-8") as handle:
        for start in range(done, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            scores = predictor.score([r["text"] for r in chunk])
            for row, needs, cause in zip(chunk, scores.need_probs, scores.cause_probs, strict=True):
                soft = {**row, "needs": np.round(needs, 4).tolist(), "cause": np.round(cause, 4).tolist()}
                handle.write(json.dumps(soft, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
            log(f"{min(start + CHUNK, len(rows))}/{len(rows)} texts labeled by {predictor.version}")
    meta_path(out).write_text(
        json.dumps({**expected, "texts": len(rows), "complete": True}, indent=2), encoding="utf-8"
    )
    return len(rows)


def _resume_point(out: Path, expected: dict) -> int:
    if not out.exists():
        return 0
    meta = soft_label_meta(out)
    if any(meta.get(key) != value for key, value in expected.items()):
        raise DataError(
            f"{out} holds soft labels of another teacher or pool; delete it (and its .meta.json) to start over"
        )
    with out.open("rb") as handle:
        lines = handle.read().split(b"\n")
    complete = [line for line in lines[:-1] if line.strip()]
    with out.open("wb") as handle:  # drop a line cut by a crash
        handle.write(b"".join(line + b"\n" for line in complete))
    return len(complete)


def soft_label_meta(path: Path) -> dict:
    meta_file = meta_path(path)
    return json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.exists() else {}


def read_soft_labels(path: Path, count: int, seed: int, exclude_texts: set[str]) -> Dataset:
    """A seeded sample of ``count`` soft-labeled texts (all when fewer), leaving out texts that
    have a person's label or are held out (``exclude_texts``: their ``text_key``s), in the columns
    the trainer reads. The sample is the
    first ``count`` texts by a seeded hash of their id, so leaving out one more text (a new
    held-out round, a newly labeled text) swaps only that text for the next one: a redraw over
    the changed list would replace most of the sample and mix that into every before/after
    comparison of two models."""
    if not path.is_file():
        raise DataError(f"{path}: soft-label file not found (write it with `needlens distill`)")
    if not meta_path(path).exists():  # a labeled file given by mistake has no distill record beside it
        raise DataError(
            f"{path}: not a soft-label file (`needlens distill` writes one, with {meta_path(path).name} beside it)"
        )
    if not soft_label_meta(path).get("complete"):
        raise DataError(f"{path}: incomplete soft-label file (rerun `needlens distill` to finish it)")
    with path.open(encoding="utf-8") as handle:
        rows = [row for row in map(json.loads, handle) if text_key(row["text"]) not in exclude_texts]
    rows = sorted(rows, key=lambda row: hashlib.sha256(f"{seed}:{row['id']}".encode()).digest())[:count]
    return Dataset.from_dict(
        {
            "id": [f"soft-{r['id']}" for r in rows],
            "text": [r["text"] for r in rows],
            "domain": [r.get("domain", "") for r in rows],
            "written": [False] * len(rows),
            "soft": [True] * len(rows),
            "needs": [[float(p) for p in r["needs"]] for r in rows],
            "cause": [int(np.argmax(r["cause"])) for r in rows],
            "cause_probs": [[float(p) for p in r["cause"]] for r in rows],
        }
    ).cast_column("cause", ClassLabel(names=[str(c) for c in CAUSES]))


def learned_soft_texts(model_dir: Path) -> set[str] | None:
    """The texts a model learned as a teacher's soft labels (as ``text_key``s); None where its
    training.json does not say (models trained before it recorded them). The ids are looked up in
    the soft-label file the model trained from (a relative path as given, else under the needlens
    home, where `make demo` trains), which must still hold that teacher's labels of that pool.
    Anything unreadable is a DataError naming the model."""
    try:
        facts = json.loads((model_dir / TRAINING_FACTS).read_text(encoding="utf-8")).get("soft_labels")
        if not facts:
            return set()
        if "ids" not in facts:
            return None
        path = Path(facts["path"])
        if not path.is_absolute() and not path.is_file():
            path = Settings().home / path
        meta = soft_label_meta(path) if path.is_file() else {}
        if any(meta.get(key) != facts.get(key) for key in ("teacher_version", "pool_sha256")):
            raise DataError(
                f"{model_dir / TRAINING_FACTS}: its soft labels came from {facts['path']} (teacher "
                f"{facts.get('teacher_version')}); that file is missing here or holds another teacher's or pool's"
            )
        ids = set(facts["ids"])
        with path.open(encoding="utf-8") as handle:
            found = {row["id"]: text_key(row["text"]) for row in map(json.loads, handle) if row.get("id") in ids}
        if len(found) < len(ids):
            raise DataError(f"{path}: holds {len(found)} of the {len(ids)} soft-labeled texts {model_dir} lists")
        return set(found.values())
    except DataError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as problem:
        raise DataError(f"{model_dir}: cannot tell which texts it learned as soft labels ({problem!r})") from None


@dataclass(frozen=True)
class SoftLabeled:
    """What some models learned as a teacher's soft labels. A model scored on a text whose teacher
    reading it learned is scored partly on memory, so figures leave such texts out."""

    keys: set[str]  # text_key of every text one of them learned
    notes: list[str]  # one per model whose list is missing: a judged text may be one of its
    unreadable: list[str]  # one per model whose list or soft-label file could not be read

    @property
    def complete(self) -> bool:
        return not self.notes and not self.unreadable


def soft_labeled_by(model_dirs: Sequence[Path]) -> SoftLabeled:
    """Model by model, so one unreadable file does not hide what the others learned."""
    keys: set[str] = set()
    notes, unreadable = [], []
    for model_dir in model_dirs:
        try:
            texts = learned_soft_texts(model_dir)
        except DataError as problem:
            unreadable.append(str(problem))
            continue
        if texts is None:
            notes.append(
                f"{model_dir}: its {TRAINING_FACTS} does not list its soft-labeled texts; a judged text may be one"
            )
        else:
            keys |= texts
    return SoftLabeled(keys, notes, unreadable)


def leave_out_soft_labeled(
    records: Sequence[LabeledRecord], learned: SoftLabeled, where: str
) -> tuple[list[LabeledRecord], list[str]]:
    """The records none of the models learned (so that models are compared on the same texts), and
    notes saying what was left out, and what could not be checked."""
    kept = [record for record in records if text_key(record.text) not in learned.keys]
    notes = [*learned.notes, *learned.unreadable]
    if len(kept) < len(records):
        notes.append(
            f"left out {len(records) - len(kept)} texts of {where} learned as soft labels; figures on the other {len(kept)}"
        )
    return kept, notes
