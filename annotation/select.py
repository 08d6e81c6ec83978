"""Re-create the stratified chunks of data/annotation from the pool.

    python -m annotation.select POOL OUT            # round one: c01–c30
    python -m annotation.select POOL OUT --round 2  # c51–c62
    python -m annotation.select POOL OUT --round 3  # c69–c74 (4: c81–c86, 5: c95–c102)

The other chunks hold the texts `needlens suggest` ranked most uncertain: c31–c38 for the first
default model, c39–c50 and c63–c68 for the distilled default of 2026-11-30 (its two runs over
what was still unread), c75–c80 and c87–c94 for the default retrained on 8,140 texts; their
ids, in rank order, are in ``data/annotation/suggested_ids*.txt`` (a round's chunks hold them
shuffled with seed 13, so each chunk is a sample of the round). A later stratified round
excludes every text chosen before its first chunk, which is why it reads the earlier chunks.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from annotation.chunks import read_chunk, write_chunks
from annotation.sampling import STRATIFIED_ROUNDS, read_pool, select

CHUNK_SIZE = 110
ANNOTATION_DIR = Path("data/annotation")


def chosen_before(annotation_dir: Path, first_chunk: int) -> set[str]:
    """Every pool id in the chunks before ``first_chunk`` (the suggest rounds' chunks included):
    what the draw excluded when it was made."""
    chunks = annotation_dir / "chunks"
    return {row["id"] for number in range(1, first_chunk) for row in read_chunk(chunks / f"c{number:02d}.jsonl")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m annotation.select", description=__doc__)
    parser.add_argument("pool", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--round", type=int, choices=sorted(STRATIFIED_ROUNDS), default=1, dest="round_")
    args = parser.parse_args(argv)
    draw = STRATIFIED_ROUNDS[args.round_]
    exclude = chosen_before(ANNOTATION_DIR, draw.first_chunk)
    chosen = select(read_pool(args.pool), draw.quotas, seed=draw.seed, exclude=exclude)
    paths = write_chunks(chosen, args.out_dir, CHUNK_SIZE, "c", start=draw.first_chunk)
    print(f"{len(chosen)} texts in {len(paths)} chunks → {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
