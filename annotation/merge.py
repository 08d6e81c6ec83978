"""Building the bundled corpus from annotators' readings: one record per text with its provenance.

A text read once keeps that reading. A text read twice keeps the reading both agree on, or the
adjudicator's where they differ (an unadjudicated disagreement stops the merge). A re-read after
the audit replaces the label it re-read (the latest re-read, where there are several). Nothing
here decides a label: it only picks which person's (or writing assistant's) reading stands, by
the protocol in ``../shared/spec/annotation.md``.

Chunks named in ``held_out.txt`` are labeled the same way but written to their own file, which
no training reads: real texts, read by the same protocol, that no shipped model has seen.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Collection
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

from annotation.chunks import read_chunk
from annotation.sampling import PoolText, read_pool

ANNOTATION_DIR = Path("data/annotation")
CORPUS_FILE = Path("data/real/reviews.jsonl")
HELD_OUT_FILE = Path("data/heldout/reviews.jsonl")
POOL_FILE = Path("../shared/pools/real_reviews.jsonl")
REREAD_NAME = re.compile(r"reread(\d+)\.jsonl")
REAL_ID_PREFIX = "real-"
"""A corpus record's id is its pool id behind this prefix (and `needlens audit` reports it so)."""


@dataclass(frozen=True)
class Reading:
    needs: tuple[str, ...]
    cause: str
    hard: bool

    @classmethod
    def of(cls, row: dict) -> Reading:
        """One annotator's line, or a written record: both carry needs, cause and maybe hard."""
        return cls(tuple(row["needs"]), row["cause"], bool(row.get("hard", False)))


class MergeError(ValueError):
    """Readings that cannot be merged (missing, or a disagreement nobody adjudicated)."""


def read_readings(path: Path) -> dict[str, Reading]:
    return {row["id"]: Reading.of(row) for row in read_chunk(path)}


def read_decisions(path: Path) -> dict[str, dict]:
    """Adjudications or re-reads: ``{"id", "needs", "cause", "rule" | "note"}`` per line."""
    return {row["id"]: row for row in read_chunk(path)} if path.exists() else {}


def adjudicated_label(text_id: str, where: str, a: Reading, b: Reading, adjudicated: dict[str, dict]) -> dict | None:
    """None where two readings agree, the adjudicator's decision where they differ: the protocol's
    one rule for a double reading, whether the first reader read a pool text or wrote the text."""
    if (a.needs, a.cause) == (b.needs, b.cause):
        return None
    decision = adjudicated.get(text_id)
    if decision is None:
        raise MergeError(f"{text_id} ({where}): the two readings differ and nobody adjudicated them")
    return decision


def chunk_selection(suggested: set[str], ids: list[str]) -> str:
    """Whole chunks came either from the stratified draw or from `needlens suggest`."""
    return "suggest" if ids and ids[0] in suggested else "stratified"


def reread_files(audit_dir: Path) -> list[Path]:
    """Re-read sheets oldest first, by their number: a text re-read twice ends with the later
    reading, and by name ``reread3`` would sort after ``reread29``. A sheet whose name carries no
    number, or two with one number, would leave that order to chance, so they stop the merge."""
    numbered: dict[int, Path] = {}
    for path in audit_dir.glob("reread*.jsonl"):
        match = REREAD_NAME.fullmatch(path.name)
        if match is None:
            raise MergeError(f"{path}: a re-read sheet must be named rereadN.jsonl; its number orders the sheets")
        number = int(match.group(1))
        if number in numbered:
            raise MergeError(f"{path} and {numbered[number]}: two re-read sheets numbered {number}")
        numbered[number] = path
    return [numbered[number] for number in sorted(numbered)]


def held_out_chunks(annotation_dir: Path) -> set[str]:
    """Chunk names listed in ``held_out.txt`` (one a line; ``#`` starts a comment)."""
    path = annotation_dir / "held_out.txt"
    if not path.exists():
        return set()
    return {line.split("#")[0].strip() for line in path.read_text(encoding="utf-8").splitlines()} - {""}


@dataclass(frozen=True)
class MergedCorpus:
    """Every chunk's records, split into the training corpus and the held-out test set."""

    training: list[dict]
    held_out: list[dict]


def merge(annotation_dir: Path, pool: dict[str, PoolText], held_out: Collection[str] = ()) -> MergedCorpus:
    """The records of every chunk, those of the chunks named in ``held_out`` kept apart; the
    decision files are read once for both."""
    raw = annotation_dir / "raw"
    adjudicated = read_decisions(annotation_dir / "adjudication.jsonl")
    rereads: dict[str, list[dict]] = {}
    for path in reread_files(annotation_dir / "audit"):
        for pool_id, decision in read_decisions(path).items():
            rereads.setdefault(pool_id, []).append(decision)
    suggested = {
        pool_id
        for path in sorted(annotation_dir.glob("suggested_ids*.txt"))
        for pool_id in path.read_text(encoding="utf-8").split()
    }
    every_chunk = sorted((annotation_dir / "chunks").glob("c*.jsonl"))
    unknown = set(held_out) - {chunk.stem for chunk in every_chunk}
    if unknown:  # a mistyped name would quietly put a held-out chunk into training
        raise MergeError(f"{annotation_dir / 'held_out.txt'}: no such chunk: {', '.join(sorted(unknown))}")
    if all(chunk.stem in held_out for chunk in every_chunk):  # a mistyped folder must not empty the corpus
        raise MergeError(f"{annotation_dir / 'chunks'}: no chunks to merge")
    training: list[dict] = []
    kept_out: list[dict] = []
    for chunk in every_chunk:
        name = chunk.stem
        records = kept_out if name in held_out else training
        first_path, second_path = raw / f"{name}.A.jsonl", raw / f"{name}.B.jsonl"
        if not first_path.exists():
            raise MergeError(f"{chunk}: no reading at {first_path}")
        first = read_readings(first_path)
        second = read_readings(second_path) if second_path.exists() else {}
        ids = [row["id"] for row in read_chunk(chunk)]
        selection = chunk_selection(suggested, ids)
        for pool_id in ids:
            if pool_id not in first:
                raise MergeError(f"{first_path}: no reading of {pool_id}")
            a = first[pool_id]
            needs, cause, hard, annotator = list(a.needs), a.cause, a.hard, f"assistant:{name}.A"
            if second:
                b = second[pool_id]
                decision = adjudicated_label(pool_id, name, a, b, adjudicated)
                if decision is None:
                    hard, annotator = a.hard or b.hard, f"assistant:{name}.A+B"
                else:
                    needs, cause, hard = decision["needs"], decision["cause"], True
                    annotator = f"adjudicated:{name}"
            # Sheets apply in order; one that a later sheet undid still shows readers split on the text.
            changed = False
            for decision in rereads.get(pool_id, ()):
                if (decision["needs"], decision["cause"]) != (needs, cause):
                    needs, cause, changed = decision["needs"], decision["cause"], True
            if changed:
                hard, annotator = True, f"{annotator}+reread"
            text = pool[pool_id]
            records.append(
                {
                    "id": f"{REAL_ID_PREFIX}{pool_id}",
                    "text": text.text,
                    "needs": needs,
                    "cause": cause,
                    "source": text.source,
                    "source_row": text.source_row,
                    "pool_id": pool_id,
                    "domain": text.domain,
                    "annotator": annotator,
                    "hard": hard,
                    "selection": selection,
                }
            )
    by_pool_id = itemgetter("pool_id")
    return MergedCorpus(sorted(training, key=by_pool_id), sorted(kept_out, key=by_pool_id))


def write_corpus(records: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m annotation.merge", description=__doc__)
    parser.add_argument("annotation_dir", type=Path, nargs="?", default=ANNOTATION_DIR)
    annotation_dir = parser.parse_args(argv).annotation_dir
    held_out = held_out_chunks(annotation_dir)
    try:
        pool = {t.pool_id: t for t in read_pool(POOL_FILE)}
        merged = merge(annotation_dir, pool, held_out)
    except ValueError as exc:  # MergeError, or a broken line of a trail file (read_chunk)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_corpus(merged.training, CORPUS_FILE)
    print(f"{len(merged.training)} records → {CORPUS_FILE}")
    if merged.held_out:
        write_corpus(merged.held_out, HELD_OUT_FILE)
        print(f"{len(merged.held_out)} held-out records ({len(held_out)} chunks) → {HELD_OUT_FILE}")
    elif HELD_OUT_FILE.exists():  # its chunks went back into training: the old test set must go
        HELD_OUT_FILE.unlink()
        print(f"no chunk held out: {HELD_OUT_FILE} removed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
