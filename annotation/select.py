"""Re-create the stratified chunks of data/annotation from the pool: ``python -m annotation.select POOL OUT``.

The remaining chunks (c31–c38) hold the texts `needlens suggest` ranked most uncertain for the
first default model; their ids, in rank order, are in ``data/annotation/suggested_ids.txt``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from annotation.chunks import write_chunks
from annotation.sampling import QUOTAS, SEED, read_pool, select

CHUNK_SIZE = 110


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m annotation.select POOL.jsonl OUT_DIR", file=sys.stderr)
        return 2
    pool_path, out_dir = map(Path, argv)
    chosen = select(read_pool(pool_path), QUOTAS, seed=SEED)
    paths = write_chunks(chosen, out_dir, CHUNK_SIZE, "c")
    print(f"{len(chosen)} texts in {len(paths)} chunks → {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
