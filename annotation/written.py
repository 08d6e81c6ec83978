"""Team-written seed files from a writing round: the writer's texts, with the labels the protocol
lets stand.

A writer wrote each text and read it against the spec (``written/DOMAIN.jsonl``, its labels
copied to ``raw/DOMAIN.A.jsonl`` beside the text-only ``chunks/DOMAIN.jsonl`` a second reader
labeled blind into ``raw/DOMAIN.B.jsonl``). Where the two readings agree the label stands; where
they differ the adjudicator's (``adjudication.jsonl``) does, and the record is marked hard. Like
``annotation.merge``, nothing here decides a label.

    python -m annotation.written data/annotation/seed_new data/seed
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from annotation.merge import MergeError, read_decisions, read_readings, write_corpus


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
        for line in written.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            b = second.get(record["id"])
            if b is None:
                raise MergeError(f"{second_path}: no reading of {record['id']}")
            if (tuple(record["needs"]), record["cause"]) != (b.needs, b.cause):
                decision = adjudicated.get(record["id"])
                if decision is None:
                    raise MergeError(f"{record['id']} ({domain}): the two readings differ and nobody adjudicated them")
                record.update(needs=decision["needs"], cause=decision["cause"], hard=True)
            records.append(record)
        merged[domain] = records
    return merged


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m annotation.written ROUND_DIR SEED_DIR", file=sys.stderr)
        return 2
    round_dir, seed_dir = map(Path, argv)
    try:
        merged = merge_written(round_dir)
    except MergeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for domain, records in merged.items():
        write_corpus(records, seed_dir / f"{domain}.jsonl")
        print(f"{len(records)} records → {seed_dir / f'{domain}.jsonl'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
