"""Applying re-read decisions to labeled JSONL files in place: ``python -m annotation.revise DATA_DIR DECISIONS… --mark NAME``.

Used when the spec changes: readers re-read the records a new rule may touch and record a
decision per record (``{"id", "needs", "cause", "note"}``); records whose label changed get
``"revised": NAME`` so the data card can count them and anyone can find them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from annotation.merge import read_decisions


def revise(data_dir: Path, decisions: dict[str, dict], mark: str) -> int:
    changed = 0
    for path in sorted(data_dir.glob("*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        out = []
        for line in lines:
            record = json.loads(line)
            decision = decisions.get(record["id"])
            if decision and (decision["needs"], decision["cause"]) != (record["needs"], record["cause"]):
                record.update(needs=decision["needs"], cause=decision["cause"], revised=mark)
                changed += 1
            out.append(json.dumps(record, ensure_ascii=False))
        path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("decisions", nargs="+", type=Path)
    parser.add_argument("--mark", required=True)
    args = parser.parse_args()
    decisions = {k: v for path in args.decisions for k, v in read_decisions(path).items()}
    print(f"{revise(args.data_dir, decisions, args.mark)} of {len(decisions)} re-read records changed")


if __name__ == "__main__":
    main()
