"""A week's and a month's charts: file names, captions, size, bytes, tick labels, the calendar's cells and the
monthly returns heatmap's cells, read back from what was drawn."""

from __future__ import annotations

import dataclasses
import itertools
import struct
from datetime import date, timedelta

import matplotlib
import pytest
from assertions import assert_labels_are_values, assert_telegram_html, png_chunks, usd_axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from period_sample import make_period_report

from reports.models import DailyPoint, MonthRow
from reports.presentation.charts import CAPTION_LIMIT, HEIGHT_PX, WIDTH_PX, chart_share, render_charts
from reports.presentation.charts.calendar import calendar_cells, calendar_chart
from reports.presentation.charts.monthly import MAX_YEARS, monthly_returns_chart, return_text
from reports.presentation.fmt import fmt_pnl, heat_color
from reports.presentation.tgtext import visible_length

MONTH_ALBUM = ["01-period-pnl.png", "02-month-calendar.png", "03-agents-pnl.png", "04-symbols-pnl.png",
               "05-monthly-returns.png"]  # fmt: skip


@pytest.mark.parametrize(("kind", "last"), [("week", date(2026, 11, 29)), ("month", date(2026, 11, 30))])
def test_a_periods_album_has_its_own_charts_valid_and_captioned(kind: str, last: date) -> None:
    report, _ = make_period_report(kind, last)
    charts = render_charts(report)
    expected = MONTH_ALBUM if kind == "month" else [n for n in MONTH_ALBUM if n != "02-month-calendar.png"]
    assert [c.filename for c in charts] == expected
    for chart in charts:
        assert struct.unpack(">II", png_chunks(chart.png)[0][1][:8]) == (WIDTH_PX, HEIGHT_PX)
        assert 0 < visible_length(chart.caption) <= CAPTION_LIMIT and len(chart.png) < 1_000_000
        assert_telegram_html(chart.caption)  # escaped: "P&L" is "P&amp;L"
    title = "November 2026" if kind == "month" else "2026-11-23 – 2026-11-29"
    assert charts[0].caption.startswith(f"{kind.capitalize()}ly report {title}: net P&amp;L ")
    assert fmt_pnl(report.totals.total_pnl) in charts[0].caption
    # The workers draw the album in shares: together they give the same charts in the same order.
    shares = sorted(pair for part in range(8) for pair in chart_share(report, part, 8))
    assert [c.filename for _, c in shares] == expected


def test_the_same_period_gives_the_same_bytes_and_another_other_bytes() -> None:
    report, _ = make_period_report("month")
    first = render_charts(report)
    with matplotlib.rc_context({"font.size": 5, "axes.facecolor": "black"}):
        second = render_charts(report)
    assert [c.png for c in first] == [c.png for c in second]
    other, _ = make_period_report("month", seed=12)
    assert all(a.png != b.png for a, b in zip(first, render_charts(other), strict=True))


def test_hostile_names_are_escaped_in_the_period_captions() -> None:
    report, _ = make_period_report("month", n_agents=2, ids=("<b>x</b>&co", "$\\alpha$"), names=False)
    captions = [c.caption for c in render_charts(report)]
    assert all("<b>" not in c for c in captions)
    assert any("&lt;b&gt;x&lt;/b&gt;&amp;co" in c for c in captions)


@pytest.mark.parametrize("factor", [1.0, 0.01, 40.0])
@pytest.mark.parametrize("kind", ["week", "month"])
def test_period_tick_labels_read_as_the_tick_values(drawn: list[Figure], kind: str, factor: float) -> None:
    report, _ = make_period_report(kind, date(2026, 11, 29) if kind == "week" else date(2026, 11, 30))
    f = report.period
    days = tuple(dataclasses.replace(p, total_pnl=p.total_pnl * factor) for p in f.days)
    report = dataclasses.replace(report, period=dataclasses.replace(f, days=days))
    render_charts(report)
    checked = [assert_labels_are_values(axis) for axis in usd_axes(drawn)]
    assert len(checked) == 5 and all(n >= 2 for n in checked)  # equity, day P&L, agents, symbols, monthly bars


# ---- the calendar


@pytest.mark.parametrize(
    ("first", "rows"),
    [(date(2027, 2, 1), 4), (date(2026, 11, 1), 6), (date(2026, 8, 1), 6), (date(2024, 2, 1), 5)],
)
def test_the_calendar_has_one_cell_per_day_in_weeks_from_monday(first: date, rows: int) -> None:
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    cells = calendar_cells(first, last, ())
    assert [c.day for c in cells] == [first + timedelta(days=i) for i in range((last - first).days + 1)]
    assert all(c.column == c.day.weekday() for c in cells)
    assert cells[-1].row + 1 == rows
    for a, b in itertools.pairwise(cells):
        assert b.row == a.row + (b.column == 0)


def _cell_texts(fig: Figure) -> dict[tuple[int, int], list[str]]:
    """The texts drawn inside each unit cell (column, row) of the calendar or the heatmap."""
    (ax,) = fig.axes
    out: dict[tuple[int, int], list[str]] = {}
    for text in ax.texts:
        x, y = text.get_position()
        if y >= 0:
            out.setdefault((int(x // 1), int(y // 1)), []).append(text.get_text())
    return out


def _faces(fig: Figure) -> dict[tuple[int, int], str]:
    ax = fig.axes[0]
    return {
        (int(p.get_x() // 1), int(p.get_y() // 1)): matplotlib.colors.to_hex(p.get_facecolor())
        for p in ax.patches
        if isinstance(p, Rectangle) and p.get_facecolor()[3] > 0
    }


def test_the_calendar_shows_each_days_number_and_pnl_in_its_cell(drawn: list[Figure]) -> None:
    report, _ = make_period_report("month", date(2026, 11, 30), history_days=24)  # history from 2026-11-07
    f = report.period
    chart = calendar_chart(report)
    assert chart is not None and chart.filename == "02-month-calendar.png"
    (fig,) = drawn
    texts, faces = _cell_texts(fig), _faces(fig)
    by_date = {p.date: p for p in f.days}
    scale = max(abs(p.total_pnl) for p in f.days)
    offset = f.period.first.weekday()
    weeks: dict[int, list[float]] = {}
    for n in range(1, 31):
        day = date(2026, 11, n)
        column, row = day.weekday(), (n - 1 + offset) // 7  # Sunday the 1st: the first row holds one day
        shown, point = texts[(column, row)], by_date.get(day)
        assert shown[0] == str(n)
        assert shown[1] == ("no data" if point is None else fmt_pnl(point.total_pnl)), day
        if point is not None:
            assert faces[(column, row)] == heat_color(point.total_pnl, scale)
            weeks.setdefault(row, []).append(point.total_pnl)
    assert (offset, max(weeks)) == (6, 5)
    for row, values in weeks.items():  # the week column: the sum of the row's days with history
        assert texts[(7, row)] == [fmt_pnl(sum(values))]
    assert (7, 0) not in texts  # Sunday the 1st has no history: no week total
    assert "6 days without history (grey)" in chart.caption
    assert calendar_chart(make_period_report("week", date(2026, 11, 29))[0]) is None


def test_heat_colours_are_centred_on_zero() -> None:
    assert heat_color(0.0, 10.0) == "#f7f7f7"
    assert heat_color(10.0, 10.0) == "#1a9850" and heat_color(-10.0, 10.0) == "#d73027"
    gain, loss = heat_color(2.0, 10.0), heat_color(-2.0, 10.0)
    assert int(gain[3:5], 16) > int(gain[1:3], 16) and int(loss[1:3], 16) > int(loss[3:5], 16)
    assert heat_color(1.0, 10.0) != heat_color(2.0, 10.0) and heat_color(None, 10.0) == "#f7f7f7"


# ---- the monthly returns heatmap


def _with_monthly(report, rows: tuple[MonthRow, ...], daily: tuple[DailyPoint, ...] | None = None):
    f = dataclasses.replace(report.period, monthly=rows)
    return dataclasses.replace(report, period=f, daily=daily if daily is not None else report.daily)


def test_the_monthly_heatmap_has_a_cell_per_month_with_history_and_blanks_elsewhere(drawn: list[Figure]) -> None:
    report, _ = make_period_report("month", date(2026, 11, 30))
    rows = (MonthRow(2024, 3, 0.052, 51.0), MonthRow(2024, 4, -0.1234, -130.5), MonthRow(2025, 1, None, 0.0),
            MonthRow(2025, 12, 12.5, 25_000.0), MonthRow(2026, 11, 0.004, 4.25))  # fmt: skip
    daily = tuple(p for p in report.daily if p.date >= date(2026, 11, 1))  # whole months: no partial mark
    chart = monthly_returns_chart(_with_monthly(report, rows, daily))
    table = next(fig for fig in drawn)
    ax = table.axes[0]
    cells: dict[tuple[int, int], list[str]] = {}
    for text in ax.texts:
        x, y = text.get_position()
        if 0 <= x < 12 and y >= 0:
            cells.setdefault((int(y // 1), int(x // 1)), []).append(text.get_text())
    years = [t.get_text() for t in ax.texts if t.get_position()[0] < 0]
    assert years == ["2024", "2025", "2026"]
    expected = {
        (0, 2): [return_text(0.052), "+51.00"],
        (0, 3): [return_text(-0.1234), "−130.50"],
        (1, 0): ["—", "0.00"],
        (1, 11): [return_text(12.5), "+25,000"],
        (2, 10): [return_text(0.004), "+4.25"],
    }
    assert cells == expected
    assert return_text(0.052) == "+5.2" and return_text(-0.1234) == "−12.3" and return_text(12.5) == "+1,250"
    filled = [p for p in ax.patches if p.get_facecolor()[3] > 0]
    assert len(filled) == len(rows)  # the 31 other months are outlines only
    assert "best Dec 2025 +1,250.0%, worst Apr 2024 −12.3%" in chart.caption


def test_a_long_history_shows_its_last_years(drawn: list[Figure]) -> None:
    report, _ = make_period_report("month", date(2026, 11, 30))
    rows = tuple(MonthRow(y, m, 0.01 * (m - 6), 10.0 * (m - 6)) for y in range(2012, 2027) for m in range(1, 13)
                 if (y, m) <= (2026, 11))  # fmt: skip
    chart = monthly_returns_chart(_with_monthly(report, rows))
    ax = drawn[0].axes[0]
    assert [t.get_text() for t in ax.texts if t.get_position()[0] < 0] == [
        str(y) for y in range(2027 - MAX_YEARS, 2027)
    ]
    assert "the last 8 years" in chart.caption and len(drawn[0].axes) == 1  # no room for the bars under 8 years
