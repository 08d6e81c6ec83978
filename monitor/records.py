"""What monitoring produces, as JSON-ready records: the window figures, the alerts, and what the input held.

The same models serve the JSONL files, the charts and HTML report, and can serve an API
response unchanged.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from classifier.labels import CHINESE_NAMES


class LabelFigures(BaseModel):
    count: int
    share: float | None = Field(description="share of the window's texts carrying the label")
    low: float | None = Field(description="Wilson 95% interval of the share")
    high: float | None
    mean_probability: float | None = Field(description="mean model probability of the label (p_* columns)")
    baseline_share: float | None
    change: float | None = Field(description="share minus baseline share")
    z: float | None = Field(description="the change in standard errors (see monitor.index)")
    dispersion: float | None = Field(description="φ: how much more than sampling the label varies in the baseline")


class WindowFigures(BaseModel):
    segment: dict[str, str]
    segment_name: str
    window_start: datetime
    window_end: datetime
    volume: int
    labels: dict[str, LabelFigures]
    baseline_start: datetime
    baseline_end: datetime
    baseline_volume: int
    index: float | None = Field(description="fluctuation index: the largest |z| over labels; None without a baseline")
    index_label: str | None
    alert: bool
    suppressed: bool = Field(description="over the threshold, but the segment was cooling down from an earlier alert")


class MovedLabel(BaseModel):
    label: str
    name_zh: str
    baseline_share: float
    share: float
    change: float
    z: float
    baseline_mean_probability: float | None
    mean_probability: float | None

    @property
    def headline(self) -> str:
        return (
            f"{self.name_zh} {self.label} {self.baseline_share:.0%} → {self.share:.0%} "
            f"({self.change * 100:+.0f} pts, z {self.z:+.1f})"
        )


class Alert(BaseModel):
    segment: dict[str, str]
    segment_name: str
    window_start: datetime
    window_end: datetime
    volume: int
    baseline_volume: int
    index: float
    threshold: float
    moved: list[MovedLabel]
    examples: dict[str, list[str]] = Field(description="ids of texts in the window carrying each label that rose")


class RowNumbers(BaseModel):
    count: int
    rows: list[int] = Field(description="the first of them, 1-based data rows")


class InputSummary(BaseModel):
    rows: int
    used: int
    unlabeled: dict[str, int] = Field(description="rows labeling could not label, by error code")
    unreadable: RowNumbers = Field(description="rows the file reader could not read")
    bad_time: RowNumbers
    bad_labels: RowNumbers
    first_time: datetime | None
    last_time: datetime | None


class MonitorResult(BaseModel):
    settings: dict[str, object]
    input: InputSummary
    windows: list[WindowFigures]
    alerts: list[Alert] = Field(description="alerts in windows ending after `since` (all when it is unset)")
    since: datetime | None = None


def name_zh(label: str) -> str:
    return CHINESE_NAMES.get(label, label)
