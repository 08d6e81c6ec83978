"""Double readings: the two annotators' labels as spec records (for `needlens agreement`) and the
sheet of disagreements an adjudicator works through."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from annotation.chunks import read_chunk
from annotation.merge import ANNOTATION_DIR, read_readings


def double_read_chunks(annotation_dir: Path) -> list[Path]:
    return sorted(
        chunk
        for chunk in (annotation_dir / "chunks").glob("c*.jsonl")
        if (annotation_dir / "raw" / f"{chunk.stem}.B.jsonl").exists()
    )


def write_reading_records(annotation_dir: Path, out_dir: Path) -> tuple[Path, Path, Path]:
    """``A.jsonl``/``B.jsonl`` in the spec's record format and ``disagreements.jsonl`` (text plus
    both readings, for the adjudicator)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = out_dir / "A.jsonl", out_dir / "B.jsonl", out_dir / "disagreements.jsonl"
    with (
        paths[0].open("w", encoding="utf-8") as a_out,
        paths[1].open("w", encoding="utf-8") as b_out,
        paths[2].open("w", encoding="utf-8") as d_out,
    ):
        for chunk in double_read_chunks(annotation_dir):
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


if __name__ == "__main__":
    annotation_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ANNOTATION_DIR
    for path in write_reading_records(annotation_dir, annotation_dir / "double"):
        print(path)
