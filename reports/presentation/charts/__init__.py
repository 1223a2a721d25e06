"""The report's charts as PNG bytes (matplotlib, headless, no pyplot state).

Every chart is 1600×900 px with phone-sized type, draws each agent in the same colour (a stable
mapping from the sorted agent ids), keeps labels apart however many agents there are (legends and
rows for the top few, the rest grouped as "others"), uses only the DejaVu fonts matplotlib ships,
and gives identical bytes for identical data (fixed rcParams, no software or date metadata).
"""

from __future__ import annotations

from collections.abc import Callable

from reports.models import Report
from reports.presentation.charts.agents import agents_chart
from reports.presentation.charts.equity import equity_chart
from reports.presentation.charts.history import history_chart
from reports.presentation.charts.intraday import intraday_chart
from reports.presentation.charts.style import CAPTION_LIMIT, HEIGHT_PX, WIDTH_PX, Chart, agent_colors, plain
from reports.presentation.charts.symbols import symbols_chart

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
    jobs: list[Callable[[], Chart | None]] = [
        lambda: intraday_chart(report, colors),
        lambda: agents_chart(report, colors),
        lambda: history_chart(report),
        lambda: symbols_chart(report),
        lambda: equity_chart(report),
    ]
    drawn = ((i, job()) for i, job in enumerate(jobs) if i % parts == part)
    return [(i, chart) for i, chart in drawn if chart is not None]
