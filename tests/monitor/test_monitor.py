"""Need-mix monitoring: the figures, the fluctuation index, and when it alerts (monitor/)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from labeling.tables import PROBLEM, RowProblem
from monitor.alerts import AlertRule, Cooldown, Decision
from monitor.index import Reference, dispersion, two_proportion_z
from monitor.periods import FixedBaseline, PeriodError, TimeParser, parse_baseline, parse_duration, window_number
from monitor.pipeline import MonitorError, monitor_rows, write_jsonl
from monitor.settings import MonitorSettings
from monitor.tally import Tally, wilson_interval

MONDAY = datetime(2025, 1, 6)
BASE_MIX = {"system_error": 0.5, "perception_mismatch": 0.25, "none": 0.25}
DOUBLED_MISMATCH = {"system_error": 0.3, "perception_mismatch": 0.5, "none": 0.2}


def exact_week(week: int, n: int, mix: dict[str, float], segment: str = "app") -> list[dict]:
    """``n`` rows in week ``week`` whose causes follow ``mix`` exactly (no sampling noise)."""
    rows = []
    for cause, share in mix.items():
        for i in range(round(share * n)):
            moment = MONDAY + timedelta(weeks=week, hours=1 + i % 150)
            rows.append(
                {"id": f"{segment}-{week}-{cause}-{i}", "time": moment.isoformat(), "channel": segment,
                 "needs": ["surface"], "cause": cause}
            )  # fmt: skip
    return rows


def sampled_week(week: int, n: int, mix: dict[str, float], rng: random.Random, segment: str) -> list[dict]:
    causes = rng.choices(list(mix), weights=list(mix.values()), k=n)
    return [
        {
            "id": f"{segment}-{week}-{i}",
            "time": (MONDAY + timedelta(weeks=week, minutes=rng.randrange(7 * 24 * 60))).isoformat(),
            "channel": segment,
            "needs": ["surface", "emotional"] if rng.random() < 0.3 else ["surface"],
            "cause": cause,
        }
        for i, cause in enumerate(causes)
    ]


def settings(**overrides: object) -> MonitorSettings:
    return MonitorSettings(by=["channel"], **overrides)  # type: ignore[arg-type]


def test_wilson_interval_matches_the_textbook_values():
    low, high = wilson_interval(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and round(high, 4) == 0.2775
    assert wilson_interval(0, 0) is None


def test_two_proportion_z_is_the_change_over_its_standard_error():
    # 50/100 against 25/100: pooled 0.375, se = sqrt(0.375 * 0.625 * 0.02) = 0.0685
    assert two_proportion_z(50, 100, 25, 100) == pytest.approx(0.25 / 0.068465, rel=1e-4)
    assert two_proportion_z(0, 100, 0, 500) == 0.0
    assert two_proportion_z(50, 100, 25, 100, phi=4.0) == pytest.approx(0.25 / 0.068465 / 2, rel=1e-4)


def test_dispersion_is_one_for_steady_windows_and_grows_with_wobble():
    def tally(k: int, n: int) -> Tally:
        t = Tally(volume=n)
        t.counts["none"] = k
        return t

    steady = [tally(25, 100) for _ in range(6)]
    wobbly = [tally(k, 100) for k in (10, 40, 15, 35, 12, 38)]
    for windows, expected_above_one in ((steady, False), (wobbly, True)):
        total = Tally()
        for w in windows:
            total += w
        phi = dispersion("none", Reference(total, windows))
        assert (phi > 1.0) is expected_above_one
    assert dispersion("none", Reference(tally(25, 300), [tally(25, 100)] * 3)) == 1.0  # too few windows to say


def test_a_planted_shift_alerts_once_at_the_window_it_starts():
    rows = [r for week in range(30) for r in exact_week(week, 200, BASE_MIX if week < 16 else DOUBLED_MISMATCH)]
    result = monitor_rows(rows, settings())
    assert len(result.alerts) == 1
    alert = result.alerts[0]
    assert alert.window_start == MONDAY + timedelta(weeks=16)
    assert alert.moved[0].label == "perception_mismatch"
    assert (alert.moved[0].baseline_share, alert.moved[0].share) == (0.25, 0.5)
    assert alert.examples["perception_mismatch"][0].startswith("app-16-perception_mismatch-")
    assert "system_error" not in alert.examples  # it fell: no examples for a label that went down
    later = [w for w in result.windows if w.window_start > alert.window_start]
    assert any(w.suppressed for w in later), "the shift kept going, held back by the cooldown"


def test_a_stationary_stream_raises_no_alert():
    rng = random.Random(7)
    rows = [
        r
        for week in range(52)
        for segment, n in (("app", 120), ("web", 400), ("phone", 60))
        for r in sampled_week(week, max(0, round(rng.gauss(n, n**0.5))), BASE_MIX, rng, segment)
    ]
    result = monitor_rows(rows, settings())
    assert result.alerts == []
    indexed = [w.index for w in result.windows if w.index is not None]
    assert len(indexed) > 100 and max(indexed) < 4.0


def test_tiny_segments_never_alert_however_far_their_mix_moves():
    flipped = {"system_error": 0.1, "perception_mismatch": 0.8, "none": 0.1}
    rows = [r for week in range(30) for r in exact_week(week, 20, BASE_MIX if week < 16 else flipped)]
    result = monitor_rows(rows, settings(min_baseline_volume=100))
    shifted = next(w for w in result.windows if w.window_start == MONDAY + timedelta(weeks=16))
    assert shifted.index is not None and shifted.index > 4.0  # the index sees it ...
    assert result.alerts == [] and not any(w.alert for w in result.windows)  # ... but 20 texts cannot alert


def test_the_cooldown_holds_until_enough_quiet_windows_in_a_row():
    rule = AlertRule(threshold=4.0, min_change=0.05, min_volume=50, quiet_below=2.0, cooldown_windows=3)
    cooldown = Cooldown(rule)
    steps = [
        (100, 5.0, True, Decision.ALERT),
        (100, 6.0, True, Decision.SUPPRESSED),  # the same shift, a week later
        (100, 1.0, False, Decision.QUIET),
        (100, 1.0, False, Decision.QUIET),
        (100, 3.0, False, Decision.QUIET),  # not quiet enough: the run of quiet windows starts over
        (10, 0.5, False, Decision.QUIET),  # too small to judge: neither extends nor ends the cooldown
        (100, 1.0, False, Decision.QUIET),
        (100, 1.0, False, Decision.QUIET),
        (100, 5.0, True, Decision.SUPPRESSED),  # two quiet windows are not three
        (100, 1.0, False, Decision.QUIET),
        (100, 1.0, False, Decision.QUIET),
        (100, 1.0, False, Decision.QUIET),
        (100, 5.0, True, Decision.ALERT),  # re-armed after three
    ]
    for volume, index, moved, expected in steps:
        assert cooldown.step(volume, index, moved) is expected


def test_a_fixed_baseline_compares_every_window_with_that_period():
    rows = [r for week in range(30) for r in exact_week(week, 200, BASE_MIX if week < 16 else DOUBLED_MISMATCH)]
    result = monitor_rows(rows, settings(baseline="2025-01-06..2025-03-30"))
    assert [a.window_start for a in result.alerts] == [MONDAY + timedelta(weeks=16)]
    last = result.windows[-1]
    assert (last.baseline_start, last.baseline_end) == (datetime(2025, 1, 6), datetime(2025, 3, 31))
    assert last.labels["perception_mismatch"].baseline_share == 0.25  # never takes in the new mix


def test_alerts_before_since_are_not_listed_but_still_start_the_cooldown():
    rows = [r for week in range(30) for r in exact_week(week, 200, BASE_MIX if week < 16 else DOUBLED_MISMATCH)]
    assert monitor_rows(rows, settings(), since=MONDAY + timedelta(weeks=17)).alerts == []
    assert len(monitor_rows(rows, settings(), since=timedelta(weeks=10)).alerts) == 0  # back from the last time
    assert len(monitor_rows(rows, settings(), since=timedelta(weeks=14)).alerts) == 1


def test_unusable_rows_are_counted_with_their_row_numbers_and_the_rest_monitored():
    rows = exact_week(0, 40, BASE_MIX)
    rows[1]["time"] = "yesterday"
    rows[4]["time"] = ""
    rows[5] = {"row": 6, "id": "e", "error_code": "empty", "error": "text is empty"}
    rows[6]["cause"] = "angry"
    rows[7] = {PROBLEM: RowProblem("unparseable", "not valid JSON")}
    rows[8]["needs"] = {"surface": True}  # an object, not a label list
    result = monitor_rows(rows, settings())
    source = result.input
    assert (source.rows, source.used) == (40, 34)
    assert (source.bad_time.count, source.bad_time.rows) == (2, [2, 5])
    assert (source.bad_labels.count, source.bad_labels.rows) == (2, [7, 9])
    assert source.unlabeled == {"empty": 1} and source.unreadable.rows == [8]
    assert sum(w.volume for w in result.windows) == 34


def test_chinese_label_names_and_split_needs_are_read_like_the_spec():
    rows = [{"id": "1", "time": "2025-01-06 10:00", "needs": "表层需求|情感需求", "cause": "认知错位"}]
    window = monitor_rows(rows, MonitorSettings()).windows[0]
    assert window.segment_name == "all"
    assert window.labels["emotional"].count == 1 and window.labels["perception_mismatch"].count == 1


def test_segment_values_with_lone_surrogates_or_nul_are_written_as_visible_escapes(tmp_path):
    rows = exact_week(0, 4, BASE_MIX, segment="\ud800<b>渠\x00道")
    rows[0]["id"] = "x\udfff"
    result = monitor_rows(rows, settings(examples=5))
    write_jsonl(result, tmp_path)
    record = json.loads((tmp_path / "windows.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert record["segment"] == {"channel": "\\ud800<b>渠\\x00道"}


def test_an_id_column_given_as_segment_is_one_error_not_a_million_figures():
    rows = [dict(r, channel=str(i)) for i, r in enumerate(exact_week(0, 200, BASE_MIX) * 5)]
    rows += exact_week(1500, 1, {"none": 1.0})  # 1,500 weeks later: 1,000 segments x 1,501 windows
    with pytest.raises(MonitorError, match="segments × 1501 windows"):
        monitor_rows(rows, settings())


def test_a_stray_timestamp_is_one_error_instead_of_millions_of_windows():
    rows = exact_week(0, 10, BASE_MIX)
    rows[0]["time"] = 0  # epoch 0: 1970
    with pytest.raises(MonitorError, match="check the 'time' column"):
        monitor_rows(rows, settings(window="1d"))


def test_times_parse_from_the_forms_files_hold():
    parse = TimeParser(ZoneInfo("Asia/Shanghai"))
    assert parse("2026-01-05") == datetime(2026, 1, 5)
    assert parse("2026/01/05 10:00") == datetime(2026, 1, 5, 10)
    assert parse("2026-01-05T02:00:00Z") == datetime(2026, 1, 5, 10)  # to Shanghai time
    assert parse(1767225600) == parse("1767225600000") == datetime(2026, 1, 1, 8)
    assert parse(datetime(2026, 1, 5, 9)) == datetime(2026, 1, 5, 9)
    for junk in ("yesterday", "", None, float("nan"), True, 1e30, "2026-13-01"):
        assert parse(junk) is None


def test_seven_day_windows_are_monday_to_sunday_weeks():
    week = parse_duration("7d")
    assert window_number(datetime(2026, 3, 2), week) == window_number(datetime(2026, 3, 8, 23, 59), week)
    assert window_number(datetime(2026, 3, 9), week) == window_number(datetime(2026, 3, 2), week) + 1


def test_periods_parse_or_say_what_is_accepted():
    assert parse_duration("12h") == timedelta(hours=12) and parse_duration("2w") == timedelta(days=14)
    assert parse_baseline("2026-01-01..2026-03-31") == FixedBaseline(datetime(2026, 1, 1), datetime(2026, 4, 1))
    for bad in ("7", "0d", "7 months", "-3d"):
        with pytest.raises(PeriodError, match="hours, days or weeks"):
            parse_duration(bad)
    with pytest.raises(PeriodError, match="ends before it starts"):
        parse_baseline("2026-03-01..2026-01-01")


def test_monitor_settings_come_from_needlens_monitor_variables(monkeypatch):
    from classifier.settings import Settings

    monkeypatch.setenv("NEEDLENS_MONITOR__THRESHOLD", "5.5")
    monkeypatch.setenv("NEEDLENS_MONITOR__BY", '["渠道", "region"]')
    assert Settings().monitor.threshold == 5.5 and Settings().monitor.by == ["渠道", "region"]
    monkeypatch.setenv("NEEDLENS_MONITOR__WINDOW", "a week")
    with pytest.raises(ValueError, match="not a duration"):
        Settings()


def test_times_out_of_any_feedback_s_range_are_bad_times_not_a_crash():
    parse = TimeParser(ZoneInfo("Asia/Shanghai"))
    for stray in ("0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-12:00", "0001-01-05", "2200-01-01", -1e13):
        assert parse(stray) is None, stray
    rows = [{"time": t, "needs": ["surface"], "cause": "none"} for t in ("0001-01-05", "2025-01-06", "9999-12-31")]
    result = monitor_rows(rows, MonitorSettings())
    assert (result.input.used, result.input.bad_time.count) == (1, 2)


def test_windows_and_baselines_over_a_century_are_refused_not_an_overflow():
    with pytest.raises(PeriodError, match="longer than 36500 days"):
        parse_duration("99999999999d")
    with pytest.raises(ValueError, match="longer than 36500 days"):
        MonitorSettings(baseline="999999w")
    assert parse_duration("5214w").days == 36498
