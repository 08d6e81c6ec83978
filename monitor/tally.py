"""Counts behind every figure: texts, texts per label, probability sums, and a few example ids per label.

A tally is additive, so a rolling baseline is the sum of the window tallies before it and
nothing is re-read.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from monitor.observations import Observation

WILSON_Z = 1.959964
"""Two-sided 95%."""


@dataclass
class Tally:
    volume: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    probability_sums: Counter[str] = field(default_factory=Counter)
    probability_counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, observation: Observation, max_examples: int) -> None:
        self.volume += 1
        self.counts.update(observation.labels)
        for label, p in observation.probabilities.items():
            self.probability_sums[label] += p
            self.probability_counts[label] += 1
        for label in observation.labels:
            kept = self.examples.setdefault(label, [])
            if len(kept) < max_examples:
                kept.append(observation.ref)

    def __iadd__(self, other: Tally) -> Tally:
        """Add another tally's counts (examples stay with the window they came from)."""
        self.volume += other.volume
        self.counts.update(other.counts)
        self.probability_sums.update(other.probability_sums)
        self.probability_counts.update(other.probability_counts)
        return self

    def share(self, label: str) -> float | None:
        return self.counts[label] / self.volume if self.volume else None

    def mean_probability(self, label: str) -> float | None:
        n = self.probability_counts[label]
        return self.probability_sums[label] / n if n else None


def wilson_interval(successes: int, n: int, z: float = WILSON_Z) -> tuple[float, float] | None:
    """Wilson score interval for a share: unlike the normal one it stays in [0, 1] and is honest at 0/n and small n."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
