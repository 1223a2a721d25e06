"""Where a run's artifacts go: one folder per report, named after what it covers (docs/contract.md, --output)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from reports.operations.artifacts import artifacts_dir


def test_the_day_its_week_its_month_and_the_day_so_far_each_have_a_folder():
    end = date(2025, 11, 30)  # a Sunday and the last day of November: the day, its week and its month end on it
    names = {kind: artifacts_dir(kind, end).as_posix() for kind in ("day", "week", "month", "partial")}
    assert names == {
        "day": "out/2025-11-30",
        "week": "out/2025-W48",
        "month": "out/2025-11",
        "partial": "out/2025-11-30-today",
    }
    assert artifacts_dir("month", end, Path("/srv/reports")) == Path("/srv/reports/2025-11")


def test_a_week_is_its_iso_week_whichever_day_names_it_across_a_new_year():
    week = [date(2026, 12, 28) + timedelta(days=k) for k in range(7)]  # Monday 2026-12-28 to Sunday 2027-01-03
    assert {artifacts_dir("week", d).name for d in week} == {"2026-W53"}
    assert artifacts_dir("week", date(2027, 1, 4)).name == "2027-W01"
    assert artifacts_dir("month", date(2027, 1, 1)).name == "2027-01"


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown report kind 'year'"):
        artifacts_dir("year", date(2025, 11, 30))
