"""The monitoring knobs, hung on ``classifier.settings.Settings`` as ``monitor`` (NEEDLENS_MONITOR__*).

The alerting defaults come from ``bench/monitor_sim.py`` (streams of annotated real reviews
with a planted shift, README "Monitoring"): at threshold 4 a doubled 认知错位 share was
caught within one window in 27 of 30 runs with 0.33 false alarms per 100 windows when
weekly mixes wobble; 3.5 caught 29 of 30 but with 0.71 false alarms, 4.5 only 21 of 30.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.periods import Baseline, parse_baseline, parse_duration


class MonitorSettings(BaseModel):
    """What `needlens monitor` groups by, compares against, and when it alerts."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a misspelled alert limit is refused, not ignored

    time_column: str = Field("time", description="column holding each text's timestamp")
    by: list[str] = Field(default_factory=list, description="segment columns (a JSON list in the environment)")
    id_column: str = Field("id", description="column whose values name example texts in an alert")
    window: str = Field("7d", description="window length: N h, N d or N w; 7-day windows are Monday-to-Sunday weeks")
    baseline: str = Field(
        "90d", description="rolling span before each window (e.g. 90d), or a fixed period 2026-01-01..2026-03-31"
    )
    threshold: float = Field(4.0, gt=0.0, description="fluctuation index (standard errors) that raises an alert")
    min_change: float = Field(
        0.05, ge=0.0, le=1.0, description="a label must also move by this share (0.05 = 5 points) to count as moved"
    )
    min_volume: int = Field(50, ge=1, description="texts a window needs before it may alert")
    min_baseline_volume: int = Field(200, ge=1, description="texts the baseline needs before an index is computed")
    quiet_below: float = Field(2.0, ge=0.0, description="an index under this counts as a quiet window")
    cooldown_windows: int = Field(
        3, ge=1, description="after an alert, quiet windows in a row before the segment may alert again"
    )
    examples: int = Field(5, ge=0, description="example text ids kept per label that rose in an alert")
    timezone: str = Field(
        "Asia/Shanghai", description="zone that aware timestamps and epoch numbers are converted to; windows are local"
    )
    chart_segments: int = Field(8, ge=1, description="charts draw the largest segments, at most this many")

    @field_validator("window")
    @classmethod
    def _window_parses(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("baseline")
    @classmethod
    def _baseline_parses(cls, value: str) -> str:
        parse_baseline(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai or UTC)") from None
        return value

    @model_validator(mode="after")
    def _quiet_is_below_alerting(self) -> MonitorSettings:
        if self.quiet_below >= self.threshold:
            raise ValueError(f"quiet_below ({self.quiet_below}) must be under threshold ({self.threshold})")
        return self

    @property
    def window_span(self) -> timedelta:
        return parse_duration(self.window)

    @property
    def baseline_spec(self) -> Baseline:
        return parse_baseline(self.baseline)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
