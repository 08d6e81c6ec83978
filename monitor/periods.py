"""Time in monitoring: window lengths, baselines, timestamps as the files hold them, and window numbering.

Windows are counted from a fixed Monday (2000-01-03 00:00 local time), so a 7-day window is
always a Monday-to-Sunday week and a 1-day window a calendar day, whichever rows a file
happens to start with: two runs over growing data put a text in the same window.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from label_loop.predictions import MISSING_TIMES

ORIGIN = datetime(2000, 1, 3)
"""A Monday at midnight: window k covers [ORIGIN + k·span, ORIGIN + (k+1)·span)."""

_DURATION = re.compile(r"^\s*(\d+)\s*([hdw])\s*$", re.IGNORECASE)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_EPOCH_MS_ABOVE = 1e11
"""Epoch numbers above this are milliseconds (1e11 seconds is the year 5138)."""
LONGEST = timedelta(days=36500)
"""Windows and baselines longer than about a century are typos; this keeps every window's dates in range."""
EARLIEST, LATEST = datetime(1900, 1, 1), datetime(2200, 1, 1)
"""Times outside [EARLIEST, LATEST) are stray values (a year 0001, a 9999 sentinel), not feedback: bad times."""


class PeriodError(ValueError):
    """A window, baseline or date that does not parse; the message shows the accepted forms."""


def parse_duration(text: str) -> timedelta:
    """``7d``, ``12h``, ``2w``: a positive whole number of hours, days or weeks."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise PeriodError(f"{text!r} is not a duration; use a positive number of hours, days or weeks: 12h, 7d, 2w")
    unit = _UNITS[match.group(2).lower()]
    if int(match.group(1)) > LONGEST / unit:
        raise PeriodError(f"{text!r} is longer than {LONGEST.days} days")
    return int(match.group(1)) * unit


@dataclass(frozen=True)
class RollingBaseline:
    """The ``span`` before each window, in whole windows."""

    span: timedelta

    def windows(self, window: timedelta) -> int:
        return max(1, round(self.span / window))


@dataclass(frozen=True)
class FixedBaseline:
    """One period every window is compared with: [start, end)."""

    start: datetime
    end: datetime


Baseline = RollingBaseline | FixedBaseline


def parse_baseline(text: str) -> Baseline:
    """``90d`` (rolling) or ``2026-01-01..2026-03-31`` (fixed; a date-only end includes that day)."""
    if ".." not in text:
        return RollingBaseline(parse_duration(text))
    first, _, last = text.partition("..")
    start, end = _parse_local(first.strip()), _parse_local(last.strip())
    if start is None or end is None:
        raise PeriodError(
            f"{text!r} is not a period; write START..END with ISO dates from 1900 to 2199, e.g. 2026-01-01..2026-03-31"
        )
    if _is_date_only(last.strip()):
        end += timedelta(days=1)
    if end <= start:
        raise PeriodError(f"baseline period {text!r} ends before it starts")
    return FixedBaseline(start, end)


def _is_date_only(text: str) -> bool:
    return len(text) <= 10


def _parse_local(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        return None
    local = parsed.replace(tzinfo=None)
    return local if EARLIEST <= local < LATEST else None


class TimeParser:
    """A cell of the time column → a naive datetime in ``zone`` local time, or None when it is not a time.

    Accepted: datetime and date objects (XLSX, Parquet), ISO 8601 text with ``-`` or ``/``
    (``2026-01-05``, ``2026/01/05 10:00``, ``2026-01-05T10:00:00+08:00``, ``…Z``), and Unix
    epoch numbers in seconds or milliseconds. Aware times and epoch numbers are converted
    to ``zone``; naive times are taken to be in it already.
    """

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone

    def __call__(self, value: Any) -> datetime | None:
        moment = self._parse(value)
        return moment if moment is not None and EARLIEST <= moment < LATEST else None

    def _parse(self, value: Any) -> datetime | None:
        if isinstance(value, datetime):
            return self._local(value)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return self._from_epoch(float(value))
            except OverflowError:  # an int of hundreds of digits, which JSON and the API allow
                return None
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            try:
                return self._local(datetime.fromisoformat(text.replace("/", "-")))
            except ValueError:
                pass
            try:
                return self._from_epoch(float(text))
            except ValueError:
                return None
        return None

    def _local(self, value: datetime) -> datetime | None:
        if value.tzinfo is None:
            return value
        try:
            return value.astimezone(self.zone).replace(tzinfo=None)
        except OverflowError:  # year 1 or 9999 with an offset
            return None

    def _from_epoch(self, seconds: float) -> datetime | None:
        if not math.isfinite(seconds):
            return None
        if abs(seconds) > _EPOCH_MS_ABOVE:
            seconds /= 1000.0
        try:
            return datetime.fromtimestamp(seconds, self.zone).replace(tzinfo=None)
        except (OverflowError, OSError, ValueError):
            return None


def parse_since(text: str, parse_time: TimeParser) -> datetime | timedelta:
    """``--since``: a duration back from the latest time in the data (``7d``) or a date/time."""
    try:
        return parse_duration(text)
    except PeriodError:
        pass
    moment = parse_time(text)
    if moment is None:
        raise PeriodError(f"{text!r} is neither a duration (7d) nor a date or time (2026-03-01)")
    return moment


def window_number(moment: datetime, span: timedelta) -> int:
    return (moment - ORIGIN) // span


def window_start(number: int, span: timedelta) -> datetime:
    return ORIGIN + number * span


def is_unreadable_time(value: Any) -> bool:
    """A stored ``time`` the monitor will skip as a bad time, said when it is stored (by the API and
    `needlens label --store`) rather than only when monitoring runs. Null and "" are a time not given."""
    return value not in MISSING_TIMES and TimeParser(UTC)(value) is None
