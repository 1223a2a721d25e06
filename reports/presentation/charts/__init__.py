"""The report's charts as PNG bytes (matplotlib, headless, no pyplot state).

Every chart is 1600×900 px with phone-sized type, draws each agent in the same colour (a stable
mapping from the sorted agent ids), keeps labels apart however many agents there are (legends and
rows for the top few, the rest grouped as "others"), uses only the DejaVu fonts matplotlib ships,
and gives identical bytes for identical data (fixed rcParams, no software or date metadata).
"""

from __future__ import annotations

from collections.abc import Callable

from reports.calendar import ADJECTIVE
from reports.models import Report
from reports.presentation.charts.agents import agents_chart
from reports.presentation.charts.calendar import calendar_chart
from reports.presentation.charts.equity import equity_chart
from reports.presentation.charts.history import history_chart
from reports.presentation.charts.intraday import intraday_chart
from reports.presentation.charts.monthly import monthly_returns_chart
from reports.presentation.charts.period import period_pnl_chart
from reports.presentation.charts.style import CAPTION_LIMIT, HEIGHT_PX, WIDTH_PX, Chart, agent_colors, plain
from reports.presentation.charts.symbols import symbols_chart
from reports.presentation.fmt import period_title

__all__ = [
    "CAPTION_LIMIT",
    "HEIGHT_PX",
    "WIDTH_PX",
    "Chart",
    "agent_colors",
    "chart_share",
    "intraday_chart",
    "plain",
    "render_charts",
]


def render_charts(report: Report) -> list[Chart]:
    """Every chart of the report, in album order; the equity chart only when Prometheus gave a curve."""
    return [chart for _, chart in chart_share(report)]


def chart_share(report: Report, part: int = 0, parts: int = 1) -> list[tuple[int, Chart]]:
    """The charts whose album position ``i`` has ``i % parts == part``, with that position.

    Worker processes each draw one share; the bytes are those :func:`render_charts` gives.
    """
    colors = agent_colors(report)
    jobs = _day_jobs(report, colors) if report.period is None else _period_jobs(report, colors)
    drawn = ((i, job()) for i, job in enumerate(jobs) if i % parts == part)
    return [(i, chart) for i, chart in drawn if chart is not None]


def _day_jobs(report: Report, colors: dict[str, str]) -> list[Callable[[], Chart | None]]:
    """A day's album: intraday, agents, the last 30 days, symbols, and the account equity from Prometheus."""
    return [
        lambda: intraday_chart(report, colors),
        lambda: agents_chart(report, colors),
        lambda: history_chart(report),
        lambda: symbols_chart(report),
        lambda: equity_chart(report),
    ]


def _period_jobs(report: Report, colors: dict[str, str]) -> list[Callable[[], Chart | None]]:
    """A week's or a month's album: daily P&L and equity, the calendar (a month only), agents, symbols and the
    monthly returns table. The day's intraday and Prometheus equity charts are of its last day only: left out."""
    assert report.period is not None
    period = report.period.period
    when = f"{'in' if period.kind == 'month' else 'over'} {period_title(period)}"
    total = f"{period.kind} total" if period.kind in ADJECTIVE else "total"
    return [
        lambda: period_pnl_chart(report),
        lambda: calendar_chart(report),
        lambda: agents_chart(report, colors, when=when, total=total, filename="03-agents-pnl.png"),
        lambda: symbols_chart(report, when=when),
        lambda: monthly_returns_chart(report),
    ]
