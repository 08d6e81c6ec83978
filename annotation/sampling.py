"""Choosing which pool texts to read: complaints carry the cause distinction, so negatives and
longer texts are over-sampled, and every domain gets a quota.

The draw is seeded, so the chosen ids can be reproduced from the pool file alone.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Texts longer than this are skipped: a reader cannot weigh a 3,000-character essay in the
# same minute as a review, and the model segments long texts anyway.
MAX_CHARS = 500
MIN_CHARS = 4


@dataclass(frozen=True)
class PoolText:
    pool_id: str
    text: str
    domain: str
    source: str
    source_row: int
    sentiment: int


def read_pool(path: Path) -> list[PoolText]:
    with path.open(encoding="utf-8") as handle:
        return [
            PoolText(r["pool_id"], r["text"], r["domain"], r["source"], int(r["source_row"]), int(r["sentiment"]))
            for r in map(json.loads, handle)
        ]


def _weight(text: PoolText, negative_weight: float) -> float:
    """Longer texts weigh more (square root, so short texts still appear), negatives more still."""
    base = math.sqrt(min(len(text.text), MAX_CHARS))
    return base * (negative_weight if text.sentiment == 0 else 1.0)


def weighted_sample(
    candidates: Sequence[PoolText], k: int, rng: random.Random, negative_weight: float
) -> list[PoolText]:
    """Sampling without replacement proportional to weight (Efraimidis–Spirakis keys)."""
    keyed = sorted(candidates, key=lambda t: rng.random() ** (1.0 / _weight(t, negative_weight)), reverse=True)
    return keyed[:k]


def select(
    pool: Iterable[PoolText],
    quotas: dict[str, int],
    *,
    seed: int = 13,
    negative_weight: float = 3.0,
    exclude: set[str] = frozenset(),
) -> list[PoolText]:
    """Per-domain weighted draws; ``exclude`` holds pool ids already chosen or read."""
    rng = random.Random(seed)
    by_domain: dict[str, list[PoolText]] = {}
    for text in pool:
        if text.pool_id in exclude or not MIN_CHARS <= len(text.text) <= MAX_CHARS:
            continue
        by_domain.setdefault(text.domain, []).append(text)
    chosen: list[PoolText] = []
    for domain, quota in sorted(quotas.items()):
        chosen.extend(weighted_sample(by_domain.get(domain, []), quota, rng, negative_weight))
    rng.shuffle(chosen)
    return chosen


# The draw behind data/real: 3,300 texts, every pool domain, food delivery and hotel (the pool's
# largest service domains) twice the others; chunks c01–c30 of data/annotation.
QUOTAS = {
    "food_delivery": 570,
    "hotel": 570,
    "books": 300,
    "clothing": 310,
    "computer": 310,
    "dairy": 310,
    "fresh_fruit": 310,
    "phone": 310,
    "tablet": 310,
}
SEED = 13


@dataclass(frozen=True)
class StratifiedRound:
    """One stratified draw: its quotas, seed and first chunk number. A later round excludes every
    text chosen before it: every earlier chunk, the suggest rounds' included."""

    quotas: dict[str, int]
    seed: int
    first_chunk: int
    learned_ids: str | None = None
    """A file of data/annotation listing the pool ids the default of the day learned as soft
    labels, left out of the draw: a held-out round that model learned none of counts whole
    against it."""


# A quarter of round one's 3,300 texts, in its proportions (rounds three and four).
QUARTER_QUOTAS = {
    "food_delivery": 114,
    "hotel": 114,
    "books": 60,
    "clothing": 62,
    "computer": 62,
    "dairy": 62,
    "fresh_fruit": 62,
    "phone": 62,
    "tablet": 62,
}

# A third of round one's 3,300 texts, in its proportions (rounds five to eleven).
THIRD_QUOTAS = {
    "food_delivery": 152,
    "hotel": 152,
    "books": 80,
    "clothing": 83,
    "computer": 83,
    "dairy": 83,
    "fresh_fruit": 83,
    "phone": 82,
    "tablet": 82,
}

# Later draws keep round one's proportions. Between them, `needlens suggest` rounds filled chunks
# c31–c38, c39–c50, c63–c68, c75–c80, c87–c94, c103–c110, c119–c126, c135–c142, c151–c158,
# c167–c174, c183–c190, c199–c206 and c215–c222 (data/annotation/suggested_ids*.txt).
STRATIFIED_ROUNDS = {
    1: StratifiedRound(QUOTAS, SEED, 1),
    2: StratifiedRound(
        {
            "food_delivery": 228,
            "hotel": 228,
            "books": 120,
            "clothing": 124,
            "computer": 124,
            "dairy": 124,
            "fresh_fruit": 124,
            "phone": 124,
            "tablet": 124,
        },
        14,
        51,
    ),
    3: StratifiedRound(QUARTER_QUOTAS, 15, 69),
    4: StratifiedRound(QUARTER_QUOTAS, 16, 81),
    5: StratifiedRound(THIRD_QUOTAS, 17, 95),
    6: StratifiedRound(THIRD_QUOTAS, 18, 111),
    7: StratifiedRound(THIRD_QUOTAS, 19, 127),
    8: StratifiedRound(THIRD_QUOTAS, 20, 143),
    9: StratifiedRound(THIRD_QUOTAS, 21, 159),
    10: StratifiedRound(THIRD_QUOTAS, 22, 175),
    11: StratifiedRound(THIRD_QUOTAS, 23, 191),
    12: StratifiedRound(THIRD_QUOTAS, 24, 207),
    13: StratifiedRound(THIRD_QUOTAS, 25, 223),
    14: StratifiedRound(THIRD_QUOTAS, 26, 231),
    15: StratifiedRound(THIRD_QUOTAS, 27, 239),
    16: StratifiedRound(THIRD_QUOTAS, 28, 247),
    17: StratifiedRound(THIRD_QUOTAS, 29, 255, learned_ids="learned_ids.round17.txt"),
    18: StratifiedRound(THIRD_QUOTAS, 30, 263, learned_ids="learned_ids.round17.txt"),
    # the default of round eighteen learned the same 10,750 soft-label ids as round sixteen's
    19: StratifiedRound(THIRD_QUOTAS, 31, 271, learned_ids="learned_ids.round17.txt"),
}
