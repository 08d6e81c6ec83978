"""The promotion gate: a candidate ships only if it is not worse than the active model.

"Not worse" means, on the same held-out texts, neither macro-F1 (needs, cause) drops by
more than the tolerance. The rule is deliberately simple so an analyst can check it by hand
from the comparison report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GATED_METRICS = ("needs_macro_f1", "cause_macro_f1")


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: list[str]
    deltas: dict[str, float]  # candidate minus active, per gated metric


def promotion_gate(candidate: dict[str, Any], active: dict[str, Any] | None, tolerance: float) -> GateDecision:
    """Judge candidate metrics against the active model's (None: nothing to beat yet)."""
    if active is None:
        return GateDecision(True, ["no active model yet: the first candidate becomes active"], {})
    deltas = {m: float(candidate[m] - active[m]) for m in GATED_METRICS}
    reasons = []
    for metric, delta in deltas.items():
        verdict = "worse beyond tolerance" if delta < -tolerance else "within tolerance" if delta < 0 else "not worse"
        reasons.append(
            f"{metric}: {candidate[metric]:.4f} vs active {active[metric]:.4f} ({delta:+.4f}, tolerance {tolerance:.4f}): {verdict}"
        )
    return GateDecision(all(d >= -tolerance for d in deltas.values()), reasons, deltas)
