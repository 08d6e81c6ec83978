"""Team-written seed files from a writing round: the writer's texts, with the labels the protocol
lets stand.

A writer wrote each text and read it against the spec (``written/DOMAIN.jsonl``). ``--blind``
splits that into the text-only ``chunks/DOMAIN.jsonl`` a second reader labels blind into
``raw/DOMAIN.B.jsonl``, and the writer's labels as ``raw/DOMAIN.A.jsonl``, so
``annotation.double`` reads the round like any other. Where the two readings agree the label
stands; where they differ the adjudicator's (``adjudication.jsonl``) does, and the record is
marked hard. Like ``annotation.merge``, nothing here decides a label.

    python -m annotation.written --blind data/annotation/seed_new    # before the second reading
    python -m annotation.written data/annotation/seed_new data/seed   # after adjudication
"""

from __future__ import annotations

import sys
from pathlib import Path

from annotation.chunks import read_chunk
from annotation.merge import MergeError, Reading, adjudicated_label, read_decisions, read_readings, write_corpus


def split_for_blind_reading(round_dir: Path) -> list[Path]:
    """Each domain's chunk (id, domain, text: nothing that hints at a label) and the writer's reading."""
    (round_dir / "chunks").mkdir(exist_ok=True)
    (round_dir / "raw").mkdir(exist_ok=True)
    chunks = []
    for written in sorted((round_dir / "written").glob("*.jsonl")):
        records = read_chunk(written)
        chunk = round_dir / "chunks" / written.name
        write_corpus([{"id": r["id"], "domain": r["domain"], "text": r["text"]} for r in records], chunk)
        reading = [
            {"id": r["id"], "needs": r["needs"], "cause": r["cause"], "hard": bool(r.get("hard", False))}
            for r in records
        ]
        write_corpus(reading, round_dir / "raw" / f"{written.stem}.A.jsonl")
        chunks.append(chunk)
    return chunks


def merge_written(round_dir: Path) -> dict[str, list[dict]]:
    """Each domain's final seed records, in the writer's order."""
    adjudicated = read_decisions(round_dir / "adjudication.jsonl")
    merged: dict[str, list[dict]] = {}
    for written in sorted((round_dir / "written").glob("*.jsonl")):
        domain = written.stem
        second_path = round_dir / "raw" / f"{domain}.B.jsonl"
        if not second_path.exists():
            raise MergeError(f"{written}: no second reading at {second_path}")
        second = read_readings(second_path)
        records = []
        for record in read_chunk(written):
            b = second.get(record["id"])
            if b is None:
                raise MergeError(f"{second_path}: no reading of {record['id']}")
            decision = adjudicated_label(record["id"], domain, Reading.of(record), b, adjudicated)
            if decision is not None:
                record.update(needs=decision["needs"], cause=decision["cause"], hard=True)
            records.append(record)
        merged[domain] = records
    return merged


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--blind":
        for chunk in split_for_blind_reading(Path(argv[1])):
            print(f"{chunk} (and the writer's reading in raw/{chunk.stem}.A.jsonl)")
        return 0
    if len(argv) != 2:
        print("usage: python -m annotation.written [--blind ROUND_DIR | ROUND_DIR SEED_DIR]", file=sys.stderr)
        return 2
    round_dir, seed_dir = map(Path, argv)
    try:
        merged = merge_written(round_dir)
    except ValueError as exc:  # MergeError, or a broken line of a trail file (read_chunk)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for domain, records in merged.items():
        write_corpus(records, seed_dir / f"{domain}.jsonl")
        print(f"{len(records)} records → {seed_dir / f'{domain}.jsonl'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
