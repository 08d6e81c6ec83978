"""Double readings: the two annotators' labels as spec records (for `needlens agreement`) and the
sheet of disagreements an adjudicator works through.

    python -m annotation.double                                            # every double-read chunk
    python -m annotation.double --chunks c39 c40 c51 c52 --out data/annotation/double/round2
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Collection
from pathlib import Path

from annotation.chunks import read_chunk
from annotation.merge import ANNOTATION_DIR, read_readings


def double_read_chunks(annotation_dir: Path, only: Collection[str] = ()) -> list[Path]:
    """Chunks with a second reading; ``only`` (chunk names) narrows them to one round."""
    return sorted(
        chunk
        for chunk in (annotation_dir / "chunks").glob("*.jsonl")
        if (annotation_dir / "raw" / f"{chunk.stem}.B.jsonl").exists() and (not only or chunk.stem in only)
    )


def write_reading_records(annotation_dir: Path, out_dir: Path, only: Collection[str] = ()) -> tuple[Path, Path, Path]:
    """``A.jsonl``/``B.jsonl`` in the spec's record format and ``disagreements.jsonl`` (text plus
    both readings, for the adjudicator)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = out_dir / "A.jsonl", out_dir / "B.jsonl", out_dir / "disagreements.jsonl"
    with (
        paths[0].open("w", encoding="utf-8") as a_out,
        paths[1].open("w", encoding="utf-8") as b_out,
        paths[2].open("w", encoding="utf-8") as d_out,
    ):
        for chunk in double_read_chunks(annotation_dir, only):
            first = read_readings(annotation_dir / "raw" / f"{chunk.stem}.A.jsonl")
            second = read_readings(annotation_dir / "raw" / f"{chunk.stem}.B.jsonl")
            for row in read_chunk(chunk):
                a, b = first[row["id"]], second[row["id"]]
                for reading, out in ((a, a_out), (b, b_out)):
                    record = {
                        "id": row["id"],
                        "text": row["text"],
                        "needs": list(reading.needs),
                        "cause": reading.cause,
                    }
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                if (a.needs, a.cause) != (b.needs, b.cause):
                    sheet = {
                        "id": row["id"],
                        "domain": row["domain"],
                        "text": row["text"],
                        "reading_1": {"needs": list(a.needs), "cause": a.cause},
                        "reading_2": {"needs": list(b.needs), "cause": b.cause},
                    }
                    d_out.write(json.dumps(sheet, ensure_ascii=False) + "\n")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m annotation.double", description=__doc__)
    parser.add_argument("annotation_dir", type=Path, nargs="?", default=ANNOTATION_DIR)
    parser.add_argument("--chunks", nargs="+", default=(), help="only these double-read chunks (one round)")
    parser.add_argument("--out", type=Path, help="[default: ANNOTATION_DIR/double]")
    args = parser.parse_args(argv)
    for path in write_reading_records(args.annotation_dir, args.out or args.annotation_dir / "double", args.chunks):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
