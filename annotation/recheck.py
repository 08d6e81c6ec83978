"""The two re-readings a labeled round gets after its merge (``../shared/spec/annotation.md``):
the texts ``needlens audit`` flags, re-read on a sheet beside their current label, and a fresh
sample of its final labels read once more, blind, to measure them against one more reading.

    python -m annotation.recheck audit AUDIT.csv --chunks c271 … c278 --sheet 49 --round 19
        → audit/flagged_ids.round19.txt and audit/sheet49.jsonl (the re-reader writes reread49.jsonl)
    python -m annotation.recheck fresh --chunks c271 … c278 --round 19
        → fresh/f19.jsonl (the reader writes fresh/f19.C.jsonl, as for a chunk)
    python -m annotation.recheck records --round 19
        → fresh/final19.jsonl and fresh/C19.jsonl, for `needlens agreement`

Sheets and records are built from ``annotation.merge``'s records, so they show the labels the
corpus holds now: run ``records`` after the audit's re-reads are in, so the fresh reading is
measured against the final labels. Like the merge, nothing here decides a label.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from annotation.chunks import read_chunk, read_lines
from annotation.double import double_read_chunks
from annotation.merge import (
    ANNOTATION_DIR,
    POOL_FILE,
    REAL_ID_PREFIX,
    MergeError,
    held_out_chunks,
    merge,
    write_corpus,
)
from annotation.sampling import read_pool
from annotation.validate import problems
from labeling.tables import PROBLEM, iter_rows, readable_table

FRESH_SIZE = 100
CHUNK_NAME = re.compile(r"c\d+")
"""What the merge reads as a chunk (``chunks/c*.jsonl``); a round is made of these."""


def round_chunks(annotation_dir: Path, names: Collection[str]) -> list[Path]:
    """The named chunks, in name order; a mistyped name stops the job rather than shrinking the round."""
    unmerged = sorted(name for name in names if not CHUNK_NAME.fullmatch(name))
    if unmerged:
        raise MergeError(f"not a chunk name (c followed by its number): {', '.join(unmerged)}")
    paths = [annotation_dir / "chunks" / f"{name}.jsonl" for name in sorted(set(names))]
    missing = [path for path in paths if not path.exists()]
    if missing:
        raise MergeError(f"no such chunk: {', '.join(str(path) for path in missing)}")
    return paths


def current_labels(annotation_dir: Path, pool_file: Path) -> dict[str, dict]:
    """Every merged record (training and held out) by pool id: what the corpus holds now."""
    pool = {text.pool_id: text for text in read_pool(pool_file)}
    merged = merge(annotation_dir, pool, held_out_chunks(annotation_dir))
    return {record["pool_id"]: record for record in [*merged.training, *merged.held_out]}


def flagged_pool_ids(audit_file: Path, round_ids: Collection[str]) -> list[str]:
    """The round's texts among the audit's findings, by pool id; the audit also reports the seed's
    records and earlier rounds' texts, which other sheets re-read. A row the reader cannot read
    stops the job, naming it: skipping it could leave a flagged text off the sheet unnoticed."""
    _, encoding = readable_table(audit_file, {"id": "id"})
    flagged = set()
    for number, row in enumerate(iter_rows(audit_file, encoding=encoding), start=1):
        if PROBLEM in row or not row.get("id"):
            raise MergeError(f"{audit_file}: row {number}: {row.get(PROBLEM, 'no id')}")
        flagged.add(str(row["id"]).removeprefix(REAL_ID_PREFIX))
    return sorted(flagged & set(round_ids))


def audit_sheet(flagged: Iterable[str], labels: dict[str, dict]) -> list[dict]:
    """What the re-reader sees: the text and the label it has now, to keep or change."""
    return [
        {
            "id": pool_id,
            "domain": labels[pool_id]["domain"],
            "text": labels[pool_id]["text"],
            "current": {"needs": labels[pool_id]["needs"], "cause": labels[pool_id]["cause"]},
        }
        for pool_id in flagged
    ]


def fresh_sample(annotation_dir: Path, chunks: Iterable[Path], seed: int, size: int = FRESH_SIZE) -> list[dict]:
    """``size`` texts of the round's single-read chunks, seeded, in pool-id order: the texts no
    second reader has checked yet. Chunk rows, so the reader sees nothing that hints at a label."""
    chunks = list(chunks)
    read_twice = set(double_read_chunks(annotation_dir, {chunk.stem for chunk in chunks}))
    rows = sorted(
        (row for chunk in chunks if chunk not in read_twice for row in read_chunk(chunk)), key=lambda row: row["id"]
    )
    if len(rows) < size:
        raise MergeError(f"the round's single-read chunks hold {len(rows)} texts, fewer than the {size} to sample")
    return sorted(random.Random(seed).sample(rows, size), key=lambda row: row["id"])


def spec_records(sample: Iterable[dict], labels: dict[str, tuple[list[str], str]], whose: str) -> list[dict]:
    """The sample as spec records (``id``, ``text``, ``needs``, ``cause``) under one reading."""
    records = []
    for row in sample:
        if row["id"] not in labels:
            raise MergeError(f"{whose} has no label for {row['id']}")
        needs, cause = labels[row["id"]]
        records.append({"id": row["id"], "text": row["text"], "needs": list(needs), "cause": cause})
    return records


def write_audit(annotation_dir: Path, audit_file: Path, chunk_names: list[str], sheet: int, round_number: int) -> None:
    audit_dir = annotation_dir / "audit"
    ids_path = audit_dir / f"flagged_ids.round{round_number}.txt"
    sheet_path = audit_dir / f"sheet{sheet}.jsonl"
    for path in (ids_path, sheet_path):
        if path.exists():  # an earlier round's sheet, or one already handed to a re-reader
            raise MergeError(f"{path} exists; choose another --sheet or --round")
    chunks = round_chunks(annotation_dir, chunk_names)
    round_ids = {row["id"] for chunk in chunks for row in read_chunk(chunk)}
    flagged = flagged_pool_ids(audit_file, round_ids)
    sheet_rows = audit_sheet(flagged, current_labels(annotation_dir, POOL_FILE))
    audit_dir.mkdir(parents=True, exist_ok=True)
    ids_path.write_text("".join(f"{pool_id}\n" for pool_id in flagged), encoding="utf-8")
    write_corpus(sheet_rows, sheet_path)
    print(f"{len(flagged)} of the round's {len(round_ids)} texts flagged → {sheet_path} (and {ids_path})")


@dataclass(frozen=True)
class FreshFiles:
    """One round's fresh check, named as rounds two to nineteen named theirs."""

    sample: Path
    reading: Path
    final: Path
    reading_records: Path

    @classmethod
    def of(cls, annotation_dir: Path, round_number: int) -> FreshFiles:
        fresh = annotation_dir / "fresh"
        sample = fresh / f"f{round_number:02d}.jsonl"
        return cls(
            sample,
            sample.with_suffix(".C.jsonl"),
            fresh / f"final{round_number}.jsonl",
            fresh / f"C{round_number}.jsonl",
        )


def write_fresh(annotation_dir: Path, chunk_names: list[str], round_number: int) -> None:
    """The sample is seeded with the round's number, as rounds six to nineteen's were."""
    files = FreshFiles.of(annotation_dir, round_number)
    if files.sample.exists():
        raise MergeError(f"{files.sample} exists; a drawn sample is read as it was drawn")
    sample = fresh_sample(annotation_dir, round_chunks(annotation_dir, chunk_names), seed=round_number)
    files.sample.parent.mkdir(parents=True, exist_ok=True)
    write_corpus(sample, files.sample)
    print(f"{len(sample)} texts → {files.sample}; the reader writes {files.reading}")


def write_records(annotation_dir: Path, round_number: int) -> None:
    files = FreshFiles.of(annotation_dir, round_number)
    for path in (files.final, files.reading_records):
        if path.exists():  # the labels a past check measured, which later re-reads may since have changed
            raise MergeError(f"{path} exists; a fresh check is recorded once")
    sample = read_chunk(files.sample)
    lines = read_lines(files.reading)
    found = problems([row["id"] for row in sample], lines)
    if found:  # the reader's own check (annotation.validate) must pass before the reading counts
        raise MergeError(f"{files.reading}: " + "; ".join(found))
    reading = {row["id"]: (row["needs"], row["cause"]) for row in map(json.loads, filter(str.strip, lines))}
    final = {pool_id: (r["needs"], r["cause"]) for pool_id, r in current_labels(annotation_dir, POOL_FILE).items()}
    write_corpus(spec_records(sample, final, "the merged corpus"), files.final)
    write_corpus(spec_records(sample, reading, str(files.reading)), files.reading_records)
    print(f"needlens agreement {files.final} {files.reading_records}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m annotation.recheck", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--annotation-dir", type=Path, default=ANNOTATION_DIR)
    jobs = parser.add_subparsers(dest="job", required=True)
    audit = jobs.add_parser("audit", help="the round's flagged texts, as a re-read sheet")
    audit.add_argument("audit_file", type=Path, help="`needlens audit -o` output (CSV, JSONL, …)")
    audit.add_argument("--chunks", nargs="+", required=True, help="the round's chunk names (c271 …)")
    audit.add_argument("--sheet", type=int, required=True, help="the sheet's number: one above the last")
    audit.add_argument("--round", type=int, required=True, dest="round_number")
    fresh = jobs.add_parser("fresh", help="a seeded sample of the round's single-read texts, to read blind")
    fresh.add_argument("--chunks", nargs="+", required=True)
    fresh.add_argument("--round", type=int, required=True, dest="round_number", help="also the sample's seed")
    records = jobs.add_parser("records", help="final labels and the fresh reading as spec records")
    records.add_argument("--round", type=int, required=True, dest="round_number")
    args = parser.parse_args(argv)
    try:
        if args.job == "audit":
            write_audit(args.annotation_dir, args.audit_file, args.chunks, args.sheet, args.round_number)
        elif args.job == "fresh":
            write_fresh(args.annotation_dir, args.chunks, args.round_number)
        else:
            write_records(args.annotation_dir, args.round_number)
    except (ValueError, OSError) as exc:  # MergeError, TableError, unreadable JSON: one line
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
