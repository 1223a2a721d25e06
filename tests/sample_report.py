"""A hand-built :class:`reports.models.Report` for the presentation tests.

``make_report()`` gives a plausible, deterministic day (seeded numbers) without the engine; keyword
arguments change what a test is about (agent ids, their count, operations, sources...).
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from reports.calendar import TradingDay
from reports.models import (
    AgentReport,
    DailyPoint,
    EquityStats,
    Executions,
    IntradaySeries,
    OpenPosition,
    Operations,
    Report,
    Risk,
    Sources,
    SymbolReport,
    Totals,
)

SIX_AGENTS = (
    "trend-momentum-agent",
    "strategy-optimization-agent",
    "financial-sentiment-agent",
    "market-prediction-agent",
    "volume-microstructure-agent",
    "vpin-hft",
)
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT", "AVAXUSDT",
           "LINKUSDT", "DOTUSDT", "LTCUSDT", "TRXUSDT", "NEARUSDT", "APTUSDT")  # fmt: skip
CAPITAL = 1000.0


def agent_ids(n: int) -> tuple[str, ...]:
    """The six real agents for n <= 6, else numbered synthetic ones."""
    return SIX_AGENTS[:n] if n <= len(SIX_AGENTS) else tuple(f"agent-{i:02d}" for i in range(n))


def risk_of(points: tuple[DailyPoint, ...], days: int) -> Risk:
    """Window risk as CONTRACT 3 defines it (good enough for rendering tests)."""
    window = points[-days:]
    r = np.array([p.return_ or 0.0 for p in window])
    growth = np.cumprod(1 + r)
    dd = float(np.min(growth / np.maximum(1.0, np.maximum.accumulate(growth)) - 1))
    std = float(np.std(r, ddof=1)) if len(r) > 1 else 0.0
    neg = r[r < 0]
    nonzero = r[r != 0]
    return Risk(
        days=len(window),
        pnl=float(sum(p.total_pnl for p in window)),
        return_=float(growth[-1] - 1),
        volatility=std * math.sqrt(365) if len(r) > 1 else None,
        sharpe=float(r.mean() / std * math.sqrt(365)) if std > 0 else None,
        sortino=float(r.mean() / math.sqrt((neg**2).sum() / len(r)) * math.sqrt(365)) if len(neg) else None,
        max_drawdown=dd,
        win_days=float((r > 0).sum() / len(nonzero)) if len(nonzero) else None,
    )


def series(pnls: list[float], end: date, capital: float) -> tuple[DailyPoint, ...]:
    """Daily points ending on ``end`` from a list of day P&Ls."""
    points, equity = [], capital
    start = end - timedelta(days=len(pnls) - 1)
    for i, pnl in enumerate(pnls):
        # In these samples a day with P&L is a day with fills.
        points.append(DailyPoint(start + timedelta(days=i), pnl, equity + pnl, pnl / equity, trades=int(pnl != 0)))
        equity += pnl
    return tuple(points)


def make_totals(rng: np.random.Generator, total: float, capital: float, equity: float, trades: int) -> Totals:
    """Day totals whose parts add up to ``total``."""
    fees = round(trades * float(rng.uniform(0.2, 0.6)), 2)
    unreal_change = round(float(rng.normal(0, 15)), 2)
    funding = round(-0.1 * fees, 2)  # longs paying, from the draws already made (no new draw: same seeds)
    realized = total - unreal_change + fees - funding
    closing = trades // 2
    wins = round(closing * float(rng.uniform(0.3, 0.8)))
    return Totals(
        trades=trades,
        volume=round(trades * float(rng.uniform(800, 5000)), 2),
        fees=fees,
        realized_pnl=realized,
        net_realized_pnl=realized - fees,
        funding_pnl=funding,
        unrealized_pnl=round(float(rng.normal(0, 40)), 2),
        total_pnl=total,
        closing_fills=closing,
        wins=wins,
        win_rate=wins / closing if closing else None,
        profit_factor=float(rng.uniform(0.5, 2.5)) if closing else None,
        capital=capital,
        equity=equity,
        unrealized_change=unreal_change,
    )


def make_report(
    n_agents: int = 6,
    *,
    ids: tuple[str, ...] | None = None,
    report_date: date = date(2024, 5, 1),
    timezone: str = "UTC",
    seed: int = 7,
    days: int = 35,
    operations: bool = True,
    sources: Sources | None = None,
    names: bool = True,
) -> Report:
    """A consistent, seeded report: totals equal the sum over agents, intraday ends at the day's P&L."""
    rng = np.random.default_rng(seed)
    ids = ids or agent_ids(n_agents)
    zone = ZoneInfo(timezone)
    start = datetime.combine(report_date, time(), zone)
    end = datetime.combine(report_date + timedelta(days=1), time(), zone)
    steps = 96
    times = tuple(start + (end - start) * i / steps for i in range(steps + 1))
    agents, by_agent = [], {}
    for k, agent in enumerate(ids):
        pnls = [round(float(rng.normal(8, 45)), 2) for _ in range(days)]
        daily = series(pnls, report_date, CAPITAL)
        trades = int(rng.integers(0, 40)) if k else 25
        if trades == 0:
            pnls[-1] = 0.0
            daily = series(pnls, report_date, CAPITAL)
        totals = make_totals(rng, pnls[-1], CAPITAL, daily[-1].equity, trades)
        walk = np.cumsum(rng.normal(0, 6, steps))
        walk = np.concatenate([[0.0], walk])
        walk = walk + np.linspace(0, totals.total_pnl - walk[-1], steps + 1)
        by_agent[agent] = tuple(round(float(v), 4) for v in walk)
        positions = tuple(
            OpenPosition(sym, float(rng.choice([-1, 1]) * rng.uniform(0.1, 3)), 100.0 + j, 101.0 + j, 12.5 - j)
            for j, sym in enumerate(SYMBOLS[k % 3 : k % 3 + (k % 3)])
        )
        agents.append(
            AgentReport(
                agent_id=agent,
                totals=totals,
                open_positions=positions,
                risk={f"{w}d": risk_of(daily, w) for w in (7, 30, 90)},
                daily=daily,
                name=agent.replace("-agent", "").replace("-", " ").title() if names else None,
                emoji=("📈", "🧠", "📰", "🔮", "📊", "⚡")[k % 6] if names else None,
            )
        )
    port_pnls = [sum(a.daily[i].total_pnl for a in agents) for i in range(days)]
    daily = series(port_pnls, report_date, CAPITAL * len(ids))
    totals = _sum_totals([a.totals for a in agents], daily[-1].equity)
    portfolio_curve = tuple(sum(v[i] for v in by_agent.values()) for i in range(steps + 1))
    symbols = _symbols(rng, totals)
    ops = _operations(rng, times, daily[-1].equity, ids) if operations else None
    return Report(
        day=TradingDay(report_date, timezone, start, end),
        generated_at=end + timedelta(minutes=5),
        totals=totals,
        agents=tuple(agents),
        symbols=symbols,
        daily=daily,
        risk={f"{w}d": risk_of(daily, w) for w in (7, 30, 90)},
        intraday=IntradaySeries(times, by_agent, portfolio_curve),
        sources=sources or Sources("ok", "ok" if operations else "not configured", "ok"),
        operations=ops,
        warnings=("exchange income covers 2 of 3 income types",),
    )


def _sum_totals(parts: list[Totals], equity: float) -> Totals:
    closing = sum(t.closing_fills for t in parts)
    wins = sum(t.wins for t in parts)
    return Totals(
        trades=sum(t.trades for t in parts),
        volume=sum(t.volume for t in parts),
        fees=sum(t.fees for t in parts),
        realized_pnl=sum(t.realized_pnl for t in parts),
        net_realized_pnl=sum(t.net_realized_pnl for t in parts),
        funding_pnl=sum(t.funding_pnl or 0.0 for t in parts),
        unrealized_pnl=sum(t.unrealized_pnl for t in parts),
        total_pnl=sum(t.total_pnl for t in parts),
        closing_fills=closing,
        wins=wins,
        win_rate=wins / closing if closing else None,
        profit_factor=1.4,
        capital=sum(t.capital for t in parts),
        equity=equity,
        unrealized_change=sum(t.unrealized_change for t in parts),
    )


def _symbols(rng: np.random.Generator, totals: Totals) -> tuple[SymbolReport, ...]:
    shares = rng.dirichlet(np.ones(len(SYMBOLS)))
    noise = rng.normal(0, 60, len(SYMBOLS))
    noise -= noise.mean()
    out = []
    for sym, share, extra in zip(SYMBOLS, shares, noise, strict=True):
        fees = float(totals.fees * share)
        realized = float(totals.realized_pnl * share + extra)
        out.append(
            SymbolReport(
                sym,
                max(1, int(totals.trades * share)),
                totals.volume * share,
                fees,
                realized,
                realized - fees,
                (totals.funding_pnl or 0.0) * share,
            )
        )
    return tuple(sorted(out, key=lambda s: -s.net_realized_pnl))


def _operations(rng: np.random.Generator, times: tuple[datetime, ...], end_equity: float, ids) -> Operations:
    walk = end_equity + np.cumsum(rng.normal(0, 20, len(times)))
    walk += end_equity - walk[-1]
    curve = tuple((t, round(float(v), 2)) for t, v in zip(times, walk, strict=True))
    costs = {a: round(float(rng.uniform(0.5, 4)), 4) for a in ids[:8]}
    return Operations(
        equity=EquityStats(float(walk[0]), float(walk[-1]), float(walk.min()), float(walk.max())),
        max_drawdown=-0.031,
        executions=Executions(ok=412.0, failed=7.0, failed_by_reason={"timeout": 4.0, "insufficient_margin": 3.0}),
        ai_cost_usd=costs,
        ai_cost_total_usd=sum(costs.values()),
        agent_errors={ids[0]: 3.0},
        equity_curve=curve,
    )


def with_agent(report: Report, agent_id: str, **changes) -> Report:
    """The report with one agent's record changed."""
    agents = tuple(replace(a, **changes) if a.agent_id == agent_id else a for a in report.agents)
    return replace(report, agents=agents)
