"""The promotion gate: a candidate ships only if it is not worse than the active model, judged
on a yardstick the new labels cannot move.

Both models are scored on the same held-out texts of two sets (``label_loop/pool.py``):
the gold set, which new labels cannot move, and the held-out new labels. For each set and each
gated macro-F1 the gate reads the delta (candidate minus active) and its paired-bootstrap 95%
interval, and refuses when

    the interval's upper end < -tolerance

that is, the candidate is, beyond resampling doubt, worse by more than the tolerance (with the
bootstrap off, when the delta itself is). A gold refusal stands whatever the new labels say (a
bad batch moves the new labels with it); the new labels can refuse too (the candidate did not
learn what analysts just taught) but never overturn a gold refusal.

Why this rule, measured by ``bench/gate.py`` (bundled data, a 721-text gold set; README):
retrains on the same data with other training seeds differ by up to 0.05 macro-F1, and the
bootstrap interval, which resamples texts but not training runs, calls many of those
differences real. Among 42 ordered pairs of seven such models, the old rule (delta < -0.01)
refused 24, "delta < -0.01 with the interval below 0" 13, and this rule at a tolerance of
0.02 / 0.03 / 0.04 refused 3 / 1 / 0; poisoned and careless imports moved the gold delta by
0.10 to 0.17, with upper ends at -0.08 or lower. The price: a real drop smaller than the
tolerance plus half the interval (about 0.03 + 0.02 there) is not refused; one retrain cannot
tell it from retraining noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

GATED_METRICS = ("needs_macro_f1", "cause_macro_f1")
RULE = "refused when the 95% paired-bootstrap interval of the delta lies wholly below -tolerance"


@dataclass(frozen=True)
class MetricDelta:
    """One gated figure of one judging set: both models' values and the delta's interval."""

    set_name: str
    metric: str
    active: float
    candidate: float
    interval: tuple[float, float] | None  # None when the bootstrap is off

    @property
    def delta(self) -> float:
        return self.candidate - self.active


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: list[str]  # one line per judged figure, and why any set was not judged
    refused_by: list[str]  # "<set> <metric>" of each figure that refused


def worse_beyond_tolerance(d: MetricDelta, tolerance: float) -> bool:
    return (d.delta if d.interval is None else d.interval[1]) < -tolerance


def _verdict(d: MetricDelta, tolerance: float) -> str:
    if worse_beyond_tolerance(d, tolerance):
        return "worse beyond tolerance"
    if d.delta < -tolerance:
        return "below the tolerance, but not beyond resampling doubt"
    return "within tolerance" if d.delta < 0 else "not worse"


def promotion_gate(deltas: Sequence[MetricDelta] | None, tolerance: float, notes: Sequence[str] = ()) -> GateDecision:
    """Judge the candidate's deltas (None: no active model, nothing to beat yet)."""
    if deltas is None:
        return GateDecision(True, ["no active model yet: the first candidate becomes active"], [])
    reasons = list(notes)
    if not deltas:
        reasons.append("nothing to judge on: no held-out text is left to score both models on")
        return GateDecision(False, reasons, ["no judging texts"])
    for d in deltas:
        ci = f", 95% CI [{d.interval[0]:+.4f}, {d.interval[1]:+.4f}]" if d.interval else ""
        reasons.append(
            f"{d.set_name} {d.metric}: {d.candidate:.4f} vs active {d.active:.4f} ({d.delta:+.4f}{ci}; "
            f"tolerance {tolerance:.4f}): {_verdict(d, tolerance)}"
        )
    refused_by = [f"{d.set_name} {d.metric}" for d in deltas if worse_beyond_tolerance(d, tolerance)]
    return GateDecision(not refused_by, reasons, refused_by)
