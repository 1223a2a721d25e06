"""Render a :class:`Report` through Jinja templates: the Telegram summary and the self-contained report.html.

Presentation lives in ``templates/``; this module only builds the template context and the number
filters. Autoescape is on for every template, so data never reaches the output unescaped.
"""

from __future__ import annotations

import base64
import functools
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from reports.models import AgentReport, Report, SymbolReport
from reports.presentation.flags import attention_flags, drawdown_series, source_flags, source_notes
from reports.presentation.fmt import (
    PERIOD_ADJECTIVE,
    agent_label,
    fmt_count,
    fmt_local,
    fmt_num,
    fmt_pct,
    fmt_pnl,
    fmt_qty,
    fmt_signed_pct,
    fmt_usd,
    fmt_weekday,
    heat_color,
    heat_ink,
    month_name,
    partial_months,
    period_title,
    sign_class,
    sign_emoji,
)
from reports.presentation.moves import benchmark_line, drawdown_line, headline, held, short_symbol
from reports.presentation.partial import partial_label
from reports.presentation.tgtext import split_message

if TYPE_CHECKING:
    from reports.presentation.charts import Chart  # only a type here: drawing happens elsewhere

SUMMARY_TEMPLATE = "summary.html.j2"
HTML_TEMPLATE = "report.html.j2"
PERIOD_SUMMARY_TEMPLATE = "period_summary.html.j2"
PERIOD_HTML_TEMPLATE = "period_report.html.j2"
SYMBOLS_SHOWN = 3
NO_RETURN_BG, NO_RETURN_INK = "#eeeeee", "#66707a"
"""A month with history but no computable return (its equity was 0): grey, like the chart's."""


def packaged_templates_dir() -> Path:
    """The templates shipped with the package: inside it from a wheel, else the repository's ``templates/``."""
    package = Path(__file__).resolve().parents[1]
    wheel = package / "templates"
    return wheel if wheel.is_dir() else package.parent / "templates"


@functools.lru_cache(maxsize=8)
def template_env(templates_dir: Path | None = None) -> jinja2.Environment:
    """A Jinja environment: ``templates_dir`` first, then the packaged templates; strict and autoescaping.

    One per folder, kept: its compiled templates are reused (a template file changed since is read again)."""
    search = [str(templates_dir)] if templates_dir is not None else []
    search.append(str(packaged_templates_dir()))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(
        usd=fmt_usd,
        pnl=fmt_pnl,
        pct=fmt_pct,
        spct=fmt_signed_pct,
        num=fmt_num,
        count=fmt_count,
        sign=sign_emoji,
        sclass=sign_class,
        qty=fmt_qty,
        local=fmt_local,
        unescape=html.unescape,
    )
    return env


# ---- the context: what both templates are given besides the report itself


def ranked_agents(report: Report, active_only: bool = True) -> list[AgentReport]:
    """Agents best day first (ties by id); by default those with a fill or an open position."""
    agents = [a for a in report.agents if a.active or not active_only]
    return sorted(agents, key=lambda a: (-a.totals.total_pnl, a.agent_id))


def best_and_worst(symbols: Sequence[SymbolReport]) -> tuple[list[SymbolReport], list[SymbolReport]]:
    """Up to three gaining symbols, best first, and up to three losing ones, worst first."""
    ordered = sorted(symbols, key=lambda s: (-s.net_realized_pnl, s.symbol))
    best = [s for s in ordered if s.net_realized_pnl > 0][:SYMBOLS_SHOWN]
    worst = [s for s in reversed(ordered) if s.net_realized_pnl < 0][:SYMBOLS_SHOWN]
    return best, worst


def operations_rows(report: Report) -> list[dict[str, object]]:
    """Per agent with AI cost or errors: cost, errors, and the day's P&L net of that cost."""
    ops = report.operations
    if ops is None:
        return []
    by_id = {a.agent_id: a for a in report.agents}
    rows = []
    for agent_id in sorted(set(ops.ai_cost_usd) | set(ops.agent_errors)):
        cost = ops.ai_cost_usd.get(agent_id, 0.0)
        agent = by_id.get(agent_id)
        pnl = agent.totals.total_pnl if agent else None
        rows.append(
            {
                "agent_id": agent_id,
                "label": agent_label(agent) if agent else agent_id,
                "cost": cost,
                "errors": ops.agent_errors.get(agent_id, 0.0),
                "pnl": pnl,
                "net": None if pnl is None else pnl - cost,
            }
        )
    return rows


def context(report: Report) -> dict[str, object]:
    """Everything a template may use: the report plus derived, presentation-only figures."""
    best, worst = best_and_worst(report.symbols)
    drawdowns = drawdown_series(report.daily)
    targets = report.targets
    return {
        "report": report,
        "tz": report.day.timezone,
        "agents_ranked": ranked_agents(report),
        "agents_all": ranked_agents(report, active_only=False),
        "agent_label": agent_label,
        "best_symbols": best,
        "worst_symbols": worst,
        "flags": attention_flags(report),
        "notes": source_notes(report),
        "drawdown_now": drawdowns[-1] if drawdowns else None,
        "target_ratio": report.totals.total_pnl / targets.daily_pnl if targets.daily_pnl else None,
        "max_drawdown_limit": targets.max_drawdown,
        "ops_rows": operations_rows(report),
        "windows": [w for w in ("7d", "30d", "90d") if w in report.risk],
        "as_of": partial_label(report),  # the day so far: "as of 14:05 UTC, not final"; None otherwise
        "headline": headline(report),  # what moved the day (or the period), in two or three sentences
        "drawdown_text": drawdown_line(report),
        "benchmark_text": benchmark_line(report),
        "held": held,
        "short_symbol": short_symbol,
        "labels": {a.agent_id: agent_label(a) for a in report.agents},
        "span": "the day so far" if partial_label(report) else "the day",
    }


# ---- a week's or a month's context: the day's, plus what the period adds


@dataclass(frozen=True, slots=True)
class TradeStats:
    """The portfolio's closing fills over a period: counts, win rate, profit factor, expectancy, average win/loss."""

    closes: int
    wins: int
    win_rate: float | None
    profit_factor: float | None
    expectancy: float | None
    average_win: float | None
    average_loss: float | None


def period_trade_stats(report: Report) -> TradeStats:
    """The portfolio's trade statistics over the period, as the numbers stage computed them from the stored sums."""
    figures = report.period
    assert figures is not None
    t = report.totals
    return TradeStats(
        closes=t.closing_fills,
        wins=t.wins,
        win_rate=t.win_rate,
        profit_factor=t.profit_factor,
        expectancy=figures.expectancy,
        average_win=figures.average_win,
        average_loss=figures.average_loss,
    )


def period_agent_rows(report: Report, active_only: bool = True) -> list[dict[str, object]]:
    """Agents best period first, each with what the period adds (best/worst day, expectancy, risk)."""
    figures = report.period
    assert figures is not None
    return [{"agent": a, "extra": figures.agents.get(a.agent_id)} for a in ranked_agents(report, active_only)]


def period_ai_rows(report: Report) -> list[dict[str, object]]:
    """Per agent with an AI cost (Prometheus): the cost and the period's P&L net of it, best net first."""
    if report.operations is None or not report.operations.ai_cost_usd:
        return []
    return sorted(operations_rows(report), key=lambda r: (r["net"] is None, -(r["net"] or 0.0), r["agent_id"]))


def monthly_returns_table(report: Report) -> list[dict[str, object]]:
    """The monthly returns table for report.html: one row per year (every year from the first to the last), twelve
    cells each, coloured on the charts' diverging scale; a month without history is None."""
    figures = report.period
    assert figures is not None
    rows = {(m.year, m.month): m for m in figures.monthly}
    if not rows:
        return []
    scale = max((abs(m.return_) for m in figures.monthly if m.return_ is not None), default=0.0)
    partial = partial_months(report)
    current = (figures.period.last.year, figures.period.last.month) if figures.period.kind == "month" else None
    table = []
    for year in range(min(y for y, _ in rows), max(y for y, _ in rows) + 1):
        cells: list[dict[str, object] | None] = []
        for month in range(1, 13):
            m = rows.get((year, month))
            cells.append(
                None
                if m is None
                else {
                    "row": m,
                    "bg": heat_color(m.return_, scale) if m.return_ is not None else NO_RETURN_BG,
                    "ink": heat_ink(m.return_, scale) if m.return_ is not None else NO_RETURN_INK,
                    "current": (year, month) == current,
                    "partial": (year, month) in partial,
                }
            )
        table.append({"year": year, "cells": cells})
    return table


def monthly_by_month(table: list[dict[str, object]]) -> dict[str, object]:
    """The monthly returns table turned for a phone: a row per month of the year that has history in some year,
    a column per year, the latest first."""
    years = [row["year"] for row in reversed(table)]
    rows = []
    for month in range(12):
        cells = [row["cells"][month] for row in reversed(table)]  # type: ignore[index]
        if any(cells):
            rows.append({"month": month + 1, "cells": cells})
    return {"years": years, "rows": rows}


def period_context(report: Report) -> dict[str, object]:
    """Everything a week's or a month's template may use: the day's context, then the period's figures."""
    figures = report.period
    assert figures is not None
    period, previous = figures.period, figures.previous
    base = context(report)
    first = report.daily[0].date if report.daily else None
    days = figures.days
    previous_pnl = figures.previous_total_pnl
    table = monthly_returns_table(report)
    base.update(
        figures=figures,
        period=period,
        kind=period.kind,
        adjective=PERIOD_ADJECTIVE.get(period.kind, period.kind),
        title=period_title(period),
        previous_title=period_title(previous),
        previous_from=first if previous_pnl is not None and first is not None and first > previous.first else None,
        change=None if previous_pnl is None else report.totals.total_pnl - previous_pnl,
        days_in_period=(period.last - period.first).days + 1,
        history_from=first if first is not None and first > period.first else None,
        start_equity=days[0].equity - days[0].total_pnl if days else None,
        end_equity=days[-1].equity if days else None,
        stats=period_trade_stats(report),
        period_agents=period_agent_rows(report),
        period_agents_all=period_agent_rows(report, active_only=False),
        ai_rows=period_ai_rows(report),
        ai_net_total=report.totals.total_pnl - report.operations.ai_cost_total_usd if report.operations else None,
        # The day's flags judge one day (3 σ days, silences, today's drawdown): over a period only the sources'.
        flags=source_flags(report),
        monthly_table=table,
        monthly_turned=monthly_by_month(table),
        partial_months=list(partial_months(report).values()),
        span=f"this {period.kind}",
        month_name=month_name,
        weekday=fmt_weekday,
    )
    return base


_BLANK_RUNS = re.compile(r"\n{3,}")


def tidy(text: str) -> str:
    """Strip trailing spaces and collapse runs of blank lines (Telegram shows every newline)."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines))


def render_summary(report: Report, templates_dir: Path | None = None) -> tuple[str, ...]:
    """The Telegram summary in its HTML subset, split into parts of at most 4,096 visible characters.

    A day's comes from ``summary.html.j2``, a week's or a month's from ``period_summary.html.j2``.
    """
    if report.period is None:
        text = template_env(templates_dir).get_template(SUMMARY_TEMPLATE).render(context(report))
    else:
        text = template_env(templates_dir).get_template(PERIOD_SUMMARY_TEMPLATE).render(period_context(report))
    return tuple(split_message(tidy(text)))


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI, so report.html needs no other file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(report: Report, charts: Sequence[Chart], templates_dir: Path | None = None) -> str:
    """The full report as one self-contained HTML page (inline CSS, charts embedded).

    A day's comes from ``report.html.j2``, a week's or a month's from ``period_report.html.j2``.
    """
    figures = [{"filename": c.filename, "caption": c.caption, "src": data_uri(c.png)} for c in charts]
    env = template_env(templates_dir)
    if report.period is None:
        return env.get_template(HTML_TEMPLATE).render(context(report), charts=figures)
    return env.get_template(PERIOD_HTML_TEMPLATE).render(period_context(report), charts=figures)
