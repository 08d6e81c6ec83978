"""Checking one annotator's file against its chunk: every id once, legal values, needs in spec order.

Runs with the standard library alone (``python3 -m annotation.validate CHUNK ANNOTATIONS``), so an
annotator can check a file before any environment is installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

NEED_ORDER = ("surface", "emotional", "growth")
CAUSES = ("system_error", "perception_mismatch", "none")
FIELDS = {"id", "needs", "cause", "hard"}


def problems(chunk_ids: list[str], lines: list[str]) -> list[str]:
    """Every problem found, each naming the line; empty when the file is complete and legal."""
    found: list[str] = []
    seen: set[str] = set()
    expected = set(chunk_ids)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            found.append(f"line {number}: not JSON ({exc.msg})")
            continue
        if not isinstance(row, dict) or set(row) != FIELDS:
            found.append(f"line {number}: fields must be exactly {sorted(FIELDS)}")
            continue
        rid, needs, cause, hard = row["id"], row["needs"], row["cause"], row["hard"]
        if rid not in expected:
            found.append(f"line {number}: id {rid!r} is not in the chunk")
        elif rid in seen:
            found.append(f"line {number}: id {rid!r} appears twice")
        seen.add(rid)
        if not isinstance(needs, list) or not needs or any(n not in NEED_ORDER for n in needs):
            found.append(f"line {number}: needs must be a non-empty list from {NEED_ORDER}")
        elif list(needs) != [n for n in NEED_ORDER if n in needs]:
            found.append(f"line {number}: needs must be in the order surface, emotional, growth, each once")
        if cause not in CAUSES:
            found.append(f"line {number}: cause must be one of {CAUSES}")
        if not isinstance(hard, bool):
            found.append(f"line {number}: hard must be true or false")
    missing = [rid for rid in chunk_ids if rid not in seen]
    if missing:
        found.append(
            f"{len(missing)} chunk ids have no line yet: {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}"
        )
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python3 -m annotation.validate CHUNK.jsonl ANNOTATIONS.jsonl", file=sys.stderr)
        return 2
    chunk_path, ann_path = map(Path, argv)
    chunk_ids = [json.loads(line)["id"] for line in chunk_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    lines = ann_path.read_text(encoding="utf-8").splitlines() if ann_path.exists() else []
    found = problems(chunk_ids, lines)
    for problem in found:
        print(problem)
    if not found:
        print(f"ok: {len(chunk_ids)} texts, every id once, legal values")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
