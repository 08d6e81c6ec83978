"""Re-create the chunks of data/annotation from the pool.

    python -m annotation.select POOL OUT            # round one: c01–c30
    python -m annotation.select POOL OUT --round 2  # c51–c62
    python -m annotation.select POOL OUT --round 3  # c69–c74 (4: c81–c86, 5: c95–c102,
                                                    #          6: c111–c118, 7: c127–c134, 8: c143–c150,
                                                    #          9: c159–c166, 10: c175–c182, 11: c191–c198,
                                                    #          12: c207–c214, 13: c223–c230, 14: c231–c238,
                                                    #          15: c239–c246, 16: c247–c254, 17: c255–c262,
                                                    #          18: c263–c270, 19: c271–c278)
    python -m annotation.select POOL OUT --suggested data/annotation/suggested_ids.round6.txt --first-chunk 103

The other chunks hold the texts `needlens suggest` ranked most uncertain: c31–c38 for the first
default model, c39–c50 and c63–c68 for the distilled default of 2026-11-30 (its two runs over
what was still unread), c75–c80 and c87–c94 for the default retrained on 8,140 texts,
c103–c110 and c119–c126 for the default trained on 11,220, c135–c142 for the one trained on
14,740, c151–c158 for the one trained on 16,500, c167–c174 for the one trained on 18,260,
c183–c190 and c199–c206 for the one trained on 20,020 (ranked by its emotional decision
alone, ``--about emotional``; the second over what round eleven left unread), c215–c222 for the one
trained on 22,660 (the same way). Their ids, in rank order, are in ``data/annotation/suggested_ids*.txt``, and ``--suggested`` re-creates a round's chunks from
them (shuffled with seed 13, so each chunk is a sample of the round rather than its most or
least uncertain end). A later stratified round excludes every text chosen before its first
chunk, which is why it reads the earlier chunks; a held-out round drawn for one model also excludes
the texts that model learned as soft labels (``StratifiedRound.learned_ids``, a file beside the
chunks), so the whole round counts against it.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from pathlib import Path

from annotation.chunks import read_chunk, write_chunks
from annotation.sampling import STRATIFIED_ROUNDS, PoolText, StratifiedRound, read_pool, select

CHUNK_SIZE = 110
SUGGESTED_SHUFFLE_SEED = 13
ANNOTATION_DIR = Path("data/annotation")


def chosen_before(annotation_dir: Path, first_chunk: int) -> set[str]:
    """Every pool id in the chunks before ``first_chunk`` (the suggest rounds' chunks included):
    what the draw excluded when it was made."""
    chunks = annotation_dir / "chunks"
    return {row["id"] for number in range(1, first_chunk) for row in read_chunk(chunks / f"c{number:02d}.jsonl")}


def excluded_from(draw: StratifiedRound, annotation_dir: Path) -> set[str]:
    """What a stratified draw leaves out: every text chosen before it and, for a round drawn for one
    model, the texts that model learned as soft labels."""
    exclude = chosen_before(annotation_dir, draw.first_chunk)
    if draw.learned_ids:
        exclude |= set((annotation_dir / draw.learned_ids).read_text(encoding="utf-8").split())
    return exclude


def suggested_texts(pool: Sequence[PoolText], ids_file: Path) -> list[PoolText]:
    """A suggest round's texts in the order its chunks hold them."""
    by_id = {text.pool_id: text for text in pool}
    ids = ids_file.read_text(encoding="utf-8").split()
    missing = [pool_id for pool_id in ids if pool_id not in by_id]
    if missing:
        raise SystemExit(f"{ids_file}: {len(missing)} ids not in the pool, e.g. {missing[0]}")
    random.Random(SUGGESTED_SHUFFLE_SEED).shuffle(ids)
    return [by_id[pool_id] for pool_id in ids]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m annotation.select", description=__doc__)
    parser.add_argument("pool", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--round", type=int, choices=sorted(STRATIFIED_ROUNDS), dest="round_", help="[default: 1]")
    parser.add_argument("--suggested", type=Path, help="a suggest round's ids file: its chunks instead of a draw")
    parser.add_argument("--first-chunk", type=int, help="with --suggested: the number of its first chunk")
    args = parser.parse_args(argv)
    if args.suggested is not None:
        if args.first_chunk is None or args.round_ is not None:
            parser.error("--suggested needs --first-chunk, and no --round")
        texts, first_chunk = suggested_texts(read_pool(args.pool), args.suggested), args.first_chunk
    else:
        draw = STRATIFIED_ROUNDS[args.round_ or 1]
        exclude = excluded_from(draw, ANNOTATION_DIR)
        texts = select(read_pool(args.pool), draw.quotas, seed=draw.seed, exclude=exclude)
        first_chunk = draw.first_chunk
    paths = write_chunks(texts, args.out_dir, CHUNK_SIZE, "c", start=first_chunk)
    print(f"{len(texts)} texts in {len(paths)} chunks → {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
