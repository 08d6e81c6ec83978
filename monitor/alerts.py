"""When a window's index becomes an alert: threshold, a real change, enough texts, and a cooldown.

A window alerts when its index reaches ``threshold``, the labels that reach it also moved by
at least ``min_change`` in share, the window holds at least ``min_volume`` texts (the
baseline's own minimum is enforced by the index, which is None without one), and the
segment is not cooling down.

The cooldown is the 服务疲劳 (service fatigue) warning applied to analysts: a team told the
same thing every week stops listening. After an alert the segment is *disturbed*; it stays
so, raising nothing, until ``cooldown_windows`` windows in a row are quiet (index under
``quiet_below``, with enough texts to say so). A persistent shift therefore alerts once: the
rolling baseline takes in the new mix over the following weeks, the index falls back, and
only then may the segment alert again. Windows too small to judge neither extend nor end a
cooldown.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from monitor.index import LabelChange
from monitor.settings import MonitorSettings


@dataclass(frozen=True)
class AlertRule:
    threshold: float
    min_change: float
    min_volume: int
    quiet_below: float
    cooldown_windows: int

    @classmethod
    def from_settings(cls, settings: MonitorSettings) -> AlertRule:
        return cls(
            threshold=settings.threshold,
            min_change=settings.min_change,
            min_volume=settings.min_volume,
            quiet_below=settings.quiet_below,
            cooldown_windows=settings.cooldown_windows,
        )

    def moved(self, changes: list[LabelChange]) -> list[LabelChange]:
        """The labels that moved enough to alert, the largest |z| first."""
        moved = [
            c
            for c in changes
            if c.z is not None
            and c.change is not None
            and abs(c.z) >= self.threshold
            and abs(c.change) >= self.min_change
        ]
        return sorted(moved, key=lambda c: -abs(c.z or 0.0))


class Decision(StrEnum):
    QUIET = "quiet"
    ALERT = "alert"
    SUPPRESSED = "suppressed"
    """Would have alerted, but the segment is still cooling down from an earlier alert."""


class Cooldown:
    """One segment's alert state, stepped through its windows in time order."""

    def __init__(self, rule: AlertRule) -> None:
        self.rule = rule
        self.disturbed = False
        self.quiet_run = 0

    def step(self, volume: int, index: float | None, moved: bool) -> Decision:
        judged = volume >= self.rule.min_volume and index is not None
        if not self.disturbed:
            if judged and moved:
                self.disturbed, self.quiet_run = True, 0
                return Decision.ALERT
            return Decision.QUIET
        if judged:
            self.quiet_run = self.quiet_run + 1 if index < self.rule.quiet_below else 0  # type: ignore[operator]
            if self.quiet_run >= self.rule.cooldown_windows:
                self.disturbed = False
        return Decision.SUPPRESSED if judged and moved else Decision.QUIET
