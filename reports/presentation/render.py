"""Render a :class:`Report` through Jinja templates: the Telegram summary and the self-contained report.html.

Presentation lives in ``templates/``; this module only builds the template context and the number
filters. Autoescape is on for every template, so data never reaches the output unescaped.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from reports.models import AgentReport, Report, SymbolReport
from reports.presentation.flags import attention_flags, drawdown_series, source_notes
from reports.presentation.fmt import (
    agent_label,
    fmt_count,
    fmt_local,
    fmt_num,
    fmt_pct,
    fmt_pnl,
    fmt_qty,
    fmt_signed_pct,
    fmt_usd,
    sign_class,
    sign_emoji,
)
from reports.presentation.tgtext import split_message

if TYPE_CHECKING:
    from reports.presentation.charts import Chart  # only a type here: drawing happens elsewhere

DEFAULT_MAX_DRAWDOWN_LIMIT = 0.25
SUMMARY_TEMPLATE = "summary.html.j2"
HTML_TEMPLATE = "report.html.j2"
SYMBOLS_SHOWN = 3


def packaged_templates_dir() -> Path:
    """The templates shipped with the package: inside it from a wheel, else the repository's ``templates/``."""
    package = Path(__file__).resolve().parents[1]
    wheel = package / "templates"
    return wheel if wheel.is_dir() else package.parent / "templates"


def template_env(templates_dir: Path | None = None) -> jinja2.Environment:
    """A Jinja environment: ``templates_dir`` first, then the packaged templates; strict and autoescaping."""
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
    limit = getattr(report, "max_drawdown_limit", DEFAULT_MAX_DRAWDOWN_LIMIT)
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
        "target_ratio": report.totals.total_pnl / report.daily_pnl_target if report.daily_pnl_target else None,
        "max_drawdown_limit": limit,
        "ops_rows": operations_rows(report),
        "windows": [w for w in ("7d", "30d", "90d") if w in report.risk],
    }


_BLANK_RUNS = re.compile(r"\n{3,}")


def tidy(text: str) -> str:
    """Strip trailing spaces and collapse runs of blank lines (Telegram shows every newline)."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines))


def render_summary(report: Report, templates_dir: Path | None = None) -> tuple[str, ...]:
    """The Telegram summary in its HTML subset, split into parts of at most 4,096 visible characters."""
    text = template_env(templates_dir).get_template(SUMMARY_TEMPLATE).render(context(report))
    return tuple(split_message(tidy(text)))


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI, so report.html needs no other file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(report: Report, charts: Sequence[Chart], templates_dir: Path | None = None) -> str:
    """The full report as one self-contained HTML page (inline CSS, charts embedded)."""
    figures = [{"filename": c.filename, "caption": c.caption, "src": data_uri(c.png)} for c in charts]
    env = template_env(templates_dir)
    return env.get_template(HTML_TEMPLATE).render(context(report), charts=figures)
