"""The fluctuation index (需求波动指数): how far a window's label mix moved from its baseline, in standard errors.

For each label l — the three need levels (each a share of texts: needs are multi-label) and
the three causes (shares that sum to one) — with k texts carrying it out of n:

    window share    p_w = k_w / n_w          baseline share  p_b = k_b / n_b
    pooled share    p   = (k_w + k_b) / (n_w + n_b)
    z_l = (p_w − p_b) / sqrt(p · (1 − p) · (1/n_w + 1/n_b) · φ_l)

    index = max over labels of |z_l|

Without φ, z_l is the two-proportion z statistic: the change in the label's share divided
by the change that sampling alone would typically produce with these two volumes. φ_l says
how much more than sampling the label's share varies from window to window *within the
baseline* anyway. Real segments have good and bad weeks beyond sampling noise, and at a few
hundred texts a week that wobble alone is several plain standard errors; dividing it out is
what keeps a large segment from alerting every few weeks. φ is estimated as in Laney's p′
control chart: each baseline window's share as a z score against the baseline share,
s_j = (p_j − p_b) / sqrt(p_b (1 − p_b) / n_j), then σ = mean |s_j − s_(j−1)| / 1.128 (the
average moving range of consecutive windows, which a level shift inside the baseline
raises once rather than at every window) and φ = max(1, σ²); φ = 1 when the baseline has
fewer than 4 windows with texts.

So the index reads the same for a segment of 60 texts a week and one of 6,000 ("the
most-moved label moved 4.6 standard errors of what this segment's weeks normally do"),
one threshold fits every segment, and the label with the largest |z| *is* the explanation:
which label, from which share to which. Two alternatives were set aside. A distance between
distributions (Jensen–Shannon) has no scale for noise: in a small segment it is large every
week, so its threshold would have to depend on volume, and it names no label. A plain
change in percentage points has the same problem. What z does not do is judge importance:
at very large volume a small real change is many standard errors, so an alert also needs
the label to move by at least ``min_change`` (``monitor.alerts``). Without texts in the
window, or with a baseline under ``min_baseline_volume`` texts, there is no index.

The mean model probabilities are reported beside the shares (a shift often shows in them
before hard labels flip) but are not part of the index: the index is about the labels the
team sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise

from monitor.observations import LABELS
from monitor.tally import Tally, wilson_interval

MIN_DISPERSION_WINDOWS = 4
"""Fewer baseline windows with texts than this say too little about week-to-week variation: φ = 1."""
MOVING_RANGE_TO_SIGMA = 1.128
"""d2 for ranges of two: the mean |difference| of two independent normal draws is 1.128 σ."""


@dataclass
class Reference:
    """A baseline: its pooled tally and, for φ, the windows it pools one by one in time order."""

    total: Tally = field(default_factory=Tally)
    windows: list[Tally] = field(default_factory=list)


def dispersion(label: str, reference: Reference) -> float:
    """φ: the squared average moving range of the baseline windows' standardised shares / 1.128, at least 1."""
    used = [w for w in reference.windows if w.volume]
    share = reference.total.share(label)
    if len(used) < MIN_DISPERSION_WINDOWS or share is None or share in (0.0, 1.0):
        return 1.0
    scores = [(w.counts[label] / w.volume - share) / math.sqrt(share * (1.0 - share) / w.volume) for w in used]
    moving_range = sum(abs(b - a) for a, b in pairwise(scores)) / (len(scores) - 1)
    return max(1.0, (moving_range / MOVING_RANGE_TO_SIGMA) ** 2)


@dataclass(frozen=True)
class LabelChange:
    """One label in one window: its share with a Wilson 95% interval, against the baseline."""

    label: str
    count: int
    share: float | None
    low: float | None
    high: float | None
    mean_probability: float | None
    baseline_share: float | None
    baseline_mean_probability: float | None
    change: float | None
    """Window share minus baseline share (0.12 = up 12 percentage points)."""
    z: float | None
    dispersion: float | None
    """φ of the label in the baseline (1 = it varies no more than sampling explains)."""


def two_proportion_z(k_w: int, n_w: int, k_b: int, n_b: int, phi: float = 1.0) -> float:
    pooled = (k_w + k_b) / (n_w + n_b)
    if pooled in (0.0, 1.0):
        return 0.0  # the label is absent (or universal) in both: nothing moved
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_w + 1.0 / n_b) * phi)
    return (k_w / n_w - k_b / n_b) / se


def label_changes(window: Tally, reference: Reference | None) -> list[LabelChange]:
    """Every label's figures; ``reference`` None (too small or absent) leaves the comparison empty."""
    changes = []
    for label in LABELS:
        k, n = window.counts[label], window.volume
        interval = wilson_interval(k, n)
        share = window.share(label)
        baseline_share = phi = z = change = None
        if reference is not None:
            baseline_share = reference.total.share(label)
            phi = dispersion(label, reference)
            if share is not None and baseline_share is not None:
                change = share - baseline_share
                z = two_proportion_z(k, n, reference.total.counts[label], reference.total.volume, phi)
        changes.append(
            LabelChange(
                label=label,
                count=k,
                share=share,
                low=None if interval is None else interval[0],
                high=None if interval is None else interval[1],
                mean_probability=window.mean_probability(label),
                baseline_share=baseline_share,
                baseline_mean_probability=None if reference is None else reference.total.mean_probability(label),
                change=change,
                z=z,
                dispersion=phi,
            )
        )
    return changes


def fluctuation_index(changes: list[LabelChange]) -> tuple[float, str] | None:
    """The index and the label that set it, or None without a comparison."""
    scored = [(abs(c.z), c.label) for c in changes if c.z is not None]
    return max(scored) if scored else None
