"""Charts: valid PNGs of the right size, the same bytes for the same data, 60 agents, hostile names."""

from __future__ import annotations

import struct
from dataclasses import replace
from datetime import date

import matplotlib
import numpy as np
import pytest
from assertions import assert_labels_are_values, png_chunks, usd_axes
from matplotlib.figure import Figure
from sample_report import make_report, with_agent

from reports.models import IntradaySeries, Report
from reports.presentation.charts import (
    CAPTION_LIMIT,
    HEIGHT_PX,
    WIDTH_PX,
    agent_colors,
    intraday_chart,
    plain,
    render_charts,
    style,
)
from reports.presentation.charts.agents import agents_chart
from reports.presentation.tgtext import visible_length


def test_every_chart_is_a_valid_png_of_1600_by_900_without_varying_metadata() -> None:
    charts = render_charts(make_report(6))
    assert [c.filename for c in charts] == [
        "01-intraday-pnl.png",
        "02-agents-pnl.png",
        "03-last-30-days.png",
        "04-symbols-pnl.png",
        "05-operations-equity.png",
    ]
    for chart in charts:
        chunks = png_chunks(chart.png)
        kinds = [k for k, _ in chunks]
        assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
        assert struct.unpack(">II", chunks[0][1][:8]) == (WIDTH_PX, HEIGHT_PX)
        assert b"tIME" not in kinds
        text = b"".join(p for k, p in chunks if k in (b"tEXt", b"iTXt", b"zTXt"))
        assert b"Software" not in text and b"Date" not in text
        assert len(chart.png) < 1_000_000
        assert 0 < visible_length(chart.caption) <= CAPTION_LIMIT


def test_the_same_data_gives_the_same_bytes_whatever_the_global_rcparams() -> None:
    report = make_report(6)
    first = render_charts(report)
    with matplotlib.rc_context({"font.size": 5, "lines.linewidth": 9, "axes.facecolor": "black"}):
        second = render_charts(report)
    assert [c.png for c in first] == [c.png for c in second]
    assert [c.caption for c in first] == [c.caption for c in second]


def test_different_data_gives_different_bytes() -> None:
    assert render_charts(make_report(6, seed=1))[0].png != render_charts(make_report(6, seed=2))[0].png


def test_sixty_agents_render_each_in_its_own_colour() -> None:
    report = make_report(60)
    charts = render_charts(report)
    assert len(charts) == 5
    colors = agent_colors(report)
    assert len(colors) == 60 and len(set(colors.values())) == 60


def test_colours_follow_sorted_ids_not_report_order() -> None:
    report = make_report(6)
    shuffled = replace(report, agents=tuple(reversed(report.agents)))
    assert agent_colors(report) == agent_colors(shuffled)


def test_hostile_names_render_without_glyph_or_mathtext_trouble_and_captions_are_escaped() -> None:
    # pytest runs with warnings as errors: a missing-glyph warning from the emoji would fail here.
    report = make_report(3, ids=("<b>x</b>&co", "$\\alpha$ agent", "中文-agent"), names=False)
    report = with_agent(report, "$\\alpha$ agent", name="📈 Trend $x$", emoji="📈")
    assert len(render_charts(report)) == 5
    alone = make_report(1, ids=("<b>x</b>&co",), names=False)
    captions = [c.caption for c in render_charts(alone)]
    assert all("<b>" not in c for c in captions)
    assert "&lt;b&gt;x&lt;/b&gt;&amp;co" in captions[0] and "&lt;b&gt;x&lt;/b&gt;&amp;co" in captions[1]


def test_plain_drops_glyphs_the_font_lacks_and_shortens() -> None:
    assert plain("📈 Trend Momentum") == "Trend Momentum"
    assert plain("a" * 40, limit=10) == "aaaaaaaaa…"
    assert plain("P&L −5 σ") == "P&L −5 σ"


def test_a_day_without_fills_or_prometheus_still_renders_placeholders() -> None:
    report = make_report(3, operations=False)
    empty = IntradaySeries(report.intraday.times, {k: (0.0,) * len(v) for k, v in report.intraday.by_agent.items()},
                           (0.0,) * len(report.intraday.times))  # fmt: skip
    idle = tuple(replace(a, totals=replace(a.totals, trades=0), open_positions=()) for a in report.agents)
    report = replace(report, intraday=empty, agents=idle, symbols=(), daily=())
    charts = render_charts(report)
    assert [c.filename for c in charts] == [
        "01-intraday-pnl.png",
        "02-agents-pnl.png",
        "03-last-30-days.png",
        "04-symbols-pnl.png",
    ]
    assert all(struct.unpack(">II", png_chunks(c.png)[0][1][:8]) == (WIDTH_PX, HEIGHT_PX) for c in charts)


@pytest.mark.parametrize("timezone", ["America/New_York", "Asia/Kolkata"])
def test_time_zones_and_dst_days_render(timezone: str) -> None:
    report = make_report(2, report_date=date(2024, 3, 10), timezone=timezone)
    chart = intraday_chart(report, agent_colors(report))
    assert struct.unpack(">II", png_chunks(chart.png)[0][1][:8]) == (WIDTH_PX, HEIGHT_PX)


# -- tick labels: each one reads as its tick's value -------------------------------------------------


def scaled(report: Report, factor: float) -> Report:
    """The report with every agent's P&L figures multiplied by ``factor`` (a quiet day: small amounts)."""
    fields = ("fees", "realized_pnl", "net_realized_pnl", "unrealized_pnl", "total_pnl", "unrealized_change")
    agents = tuple(
        replace(a, totals=replace(a.totals, **{f: getattr(a.totals, f) * factor for f in fields}))
        for a in report.agents
    )
    return replace(report, agents=agents)


@pytest.mark.parametrize("factor", [1.0, 0.1, 0.06, 0.01, 0.002])
def test_every_chart_tick_label_reads_as_the_tick_value(drawn: list[Figure], factor: float) -> None:
    report = scaled(make_report(6, seed=3), factor)
    render_charts(report)
    checked = [assert_labels_are_values(axis) for axis in usd_axes(drawn)]
    assert len(checked) >= 5 and all(n >= 2 for n in checked)


def test_agents_chart_with_ticks_two_and_a_half_apart_keeps_the_half(drawn: list[Figure]) -> None:
    # The demo day of the issue: P&L between about -9 and +6, ticks every 2.5 ("-7.5" read "-8").
    report = make_report(3, seed=4)
    totals = [(-7.9, 0.4), (1.2, 0.1), (5.8, 0.05)]
    agents = tuple(
        replace(
            a,
            totals=replace(
                a.totals, net_realized_pnl=pnl - fee, fees=fee, unrealized_change=0.0, total_pnl=pnl, funding_pnl=0.0
            ),
        )
        for a, (pnl, fee) in zip(report.agents, totals, strict=True)
    )
    agents_chart(replace(report, agents=agents), agent_colors(report))
    (axis,) = usd_axes(drawn)
    steps = set(np.round(np.diff(axis.get_majorticklocs()), 9))
    assert steps == {2.5}, steps  # the case in point, whatever matplotlib's version picks elsewhere
    assert assert_labels_are_values(axis) >= 4
    assert "\u22127.5" in [t.get_text() for t in axis.get_majorticklabels()]


def test_tick_labels_on_axes_of_every_range(drawn: list[Figure]) -> None:
    rng = np.random.default_rng(12)
    spans = [(-7.9, 3.1), (0.0, 0.3), (-0.013, 0.004), (1_234.5, 1_290.0), (-2.6e5, 1.1e5), (99.9, 100.2)]
    spans += [tuple(sorted(rng.uniform(-1, 1, 2) * 10.0 ** rng.integers(-3, 6))) for _ in range(40)]
    for lo, hi in spans:
        fig = Figure()
        ax = fig.add_subplot()
        style.usd_axis(ax, "x", bins=int(rng.integers(3, 9)))
        ax.set_xlim(lo, hi)
        fig.canvas.draw()
        assert assert_labels_are_values(ax.xaxis) >= 2, (lo, hi)
