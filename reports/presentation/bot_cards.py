"""The bot's cards: one agent's day (``/agent``) and a day's table by symbol (``/symbols``).

Telegram HTML like the summary: every dynamic string escaped, split into parts of at most 4,096 characters. The
figures are the report's (the same :class:`~reports.models.Report` as ``report --date D`` builds), only laid out
for one agent or by symbol.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from reports.models import AgentReport, Report
from reports.presentation.bot_text import fmt_price
from reports.presentation.fmt import agent_label, fmt_count, fmt_num, fmt_pct, fmt_pnl, fmt_qty, fmt_signed_pct, fmt_usd
from reports.presentation.tgtext import split_message

MOVERS_SHOWN = 5


def _funding(x: float | None) -> str:
    return fmt_pnl(x) if x is not None else "n/a"


def agent_card(report: Report, agent: AgentReport) -> tuple[str, ...]:
    """``/agent``: the agent's day (P&L and its parts, funding, trades, win rate), its open positions at the end
    of the day, its 7/30/90-day risk and, when the report has movers, its (agent, symbol) pairs among them."""
    t = agent.totals
    e = html.escape
    lines = [f"<b>🤖 {e(agent_label(agent))}</b> · {report.day.date.isoformat()}"]
    if agent.name and agent.name != agent.agent_id:
        lines.append(f"<i>id {e(agent.agent_id)}</i>")
    lines += [
        "",
        f"<b>Day P&amp;L {fmt_pnl(t.total_pnl)} USDT</b>",
        f"Realized {fmt_pnl(t.realized_pnl)} · fees {fmt_pnl(-t.fees)} · funding {_funding(t.funding_pnl)} · "
        f"unrealized Δ {fmt_pnl(t.unrealized_change)}",
        f"Trades {fmt_count(t.trades)} · volume {fmt_usd(t.volume)}",
        f"Win rate {fmt_pct(t.win_rate)} ({t.wins}/{t.closing_fills} closes) · "
        f"profit factor {fmt_num(t.profit_factor)}",
        f"Equity {fmt_usd(t.equity)} (capital {fmt_usd(t.capital)})",
    ]
    lines += ["", f"<b>Open positions</b> at the end of the day ({len(agent.open_positions)})"]
    for p in agent.open_positions:
        lines.append(
            f"• {e(p.symbol)} <code>{fmt_qty(p.quantity)}</code> · avg {fmt_price(p.avg_entry_price)} · mark "
            f"{fmt_price(p.mark_price)} · {fmt_pnl(p.unrealized_pnl)}"
        )
    if not agent.open_positions:
        lines.append("None.")
    every = getattr(report, "movers", ())  # (agent, symbol) pairs, largest |P&L| first; () before they existed
    movers = [m for m in every if m.agent_id == agent.agent_id]
    moved = sum(abs(m.total_pnl) for m in every)
    if movers and moved:
        mine = sum(abs(m.total_pnl) for m in movers)
        lines += [
            "",
            f"<b>Its share of the day's movers</b>: {fmt_pct(mine / moved, 0)} of the P&amp;L moved "
            f"({len(movers)} of {len(every)} agent × symbol pairs, by |total P&amp;L|)",
        ]
        for m in movers[:MOVERS_SHOWN]:
            lines.append(f"• {e(m.symbol)} {fmt_pnl(m.total_pnl)} · {fmt_pct(abs(m.total_pnl) / moved, 0)}")
    lines += ["", "<b>Risk</b>", _risk_table(agent, [w for w in ("7d", "30d", "90d") if w in agent.risk])]
    lines.append(f"<i>Days in {e(report.day.timezone)} · average cost · marks from last fills</i>")
    return tuple(split_message("\n".join(lines)))


def _risk_table(agent: AgentReport, windows: Sequence[str]) -> str:
    rows = [f"{'':<4}{'P&L':>11}{'Sharpe':>8}{'Max DD':>8}"]
    for w in windows:
        r = agent.risk[w]
        rows.append(f"{w:<4}{fmt_pnl(r.pnl):>11}{fmt_num(r.sharpe):>8}{fmt_signed_pct(r.max_drawdown, 1):>8}")
    return "<pre>" + html.escape("\n".join(rows), quote=False) + "</pre>"


def symbols_table(report: Report) -> tuple[str, ...]:
    """``/symbols``: every symbol of the day, best net realized first: trades, volume, fees, net realized, funding."""
    rows = sorted(report.symbols, key=lambda s: (-s.net_realized_pnl, s.symbol))
    lines = [f"<b>💱 Symbols</b> · {report.day.date.isoformat()} ({len(rows)})"]
    if not rows:
        return (*lines, "No symbol traded or funded that day.")
    # Narrow enough for a phone (36 columns): fees are inside net; their sum is on the line below.
    body = [f"{'symbol':<9}{'fills':>6}{'net':>11}{'funding':>10}"]
    for s in rows:
        body.append(
            f"{s.symbol[:9]:<9}{fmt_count(s.trades):>6}{fmt_pnl(s.net_realized_pnl):>11}{_funding(s.funding_pnl):>10}"
        )
    t = report.totals
    funding = _funding(t.funding_pnl)
    lines += [
        "<pre>" + html.escape("\n".join(body), quote=False) + "</pre>",
        f"Net realized {fmt_pnl(t.net_realized_pnl)} · fees {fmt_pnl(-t.fees)} · funding {funding} · "
        f"volume {fmt_usd(t.volume)} USDT",
        "<i>Net realized = realized − fees, per symbol over every agent; the day's total P&amp;L adds funding and "
        "the change of unrealized P&amp;L</i>",
    ]
    return tuple(split_message("\n".join(lines)))


def match_agent(agents: Sequence[AgentReport], name: str) -> AgentReport | str:
    """The agent ``name`` means: its id or display name in any case, or the unique agent whose id or name starts
    with it; else the one line to answer (no such agent, or several), naming the agents."""
    wanted = name.strip().casefold()

    def names(a: AgentReport) -> list[str]:
        return [a.agent_id.casefold(), *([a.name.casefold()] if a.name else [])]

    exact = [a for a in agents if wanted in names(a)]
    if len(exact) == 1:
        return exact[0]
    prefixed = exact or [a for a in agents if any(n.startswith(wanted) for n in names(a))]
    if len(prefixed) == 1:
        return prefixed[0]
    if prefixed:
        shown = ", ".join(_named(a) for a in prefixed)
        return f"{name!r} matches {len(prefixed)} agents: {shown}; give more of the name"
    shown = ", ".join(_named(a) for a in sorted(agents, key=lambda a: a.agent_id)) or "none"
    return f"no agent {name!r} that day: the agents are {shown}"


def _named(agent: AgentReport) -> str:
    return agent.agent_id if not agent.name or agent.name == agent.agent_id else f"{agent.agent_id} ({agent.name})"
