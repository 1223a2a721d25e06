"""report.json details: no "-0.0", no NaN, and the demo's consistency across report dates."""

from __future__ import annotations

import json
from datetime import date, timedelta

from reports.calendar import trading_day
from reports.presentation.report_json import _num
from reports.sources.demo import demo_fills


def test_negative_zero_and_non_finite_numbers_are_written_as_json_allows():
    assert json.dumps(_num(-0.0)) == "0.0"
    assert _num(float("nan")) is None and _num(float("inf")) is None
    assert _num(3) == 3 and isinstance(_num(3), int)


def test_demo_days_are_the_same_whichever_report_date_asks():
    day = date(2025, 11, 21)
    earlier = demo_fills(trading_day(day, "UTC")).fills.frame
    later = demo_fills(trading_day(day + timedelta(days=1), "UTC")).fills.frame
    overlap = later[later["ts"] < int(trading_day(day, "UTC").end.timestamp() * 1e9)]
    assert len(overlap) > 1000
    assert set(overlap["id"]) <= set(earlier["id"])
