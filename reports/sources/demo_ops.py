"""The Prometheus side of ``report --demo``: a deterministic Operations block consistent with the demo's P&L.

The equity curve is the portfolio's equity at the end of the day before plus its cumulative P&L through the
day (:class:`IntradaySeries`), so it closes at ``totals.equity``; the drawdown is that curve's; successful
executions are the day's fills. AI cost, failures and agent errors are drawn from a generator seeded by the
date alone: the same date always gives the same numbers.
"""

from __future__ import annotations

import zlib

import numpy as np

from reports.models import EquityStats, Executions, Operations, Report

AI_USAGE: dict[str, tuple[int, float]] = {
    # agent -> (inferences a day, USD per inference): LLM agents pay per call, the HFT agent barely calls one.
    "trend-momentum-agent": (96, 0.0021),
    "strategy-optimization-agent": (24, 0.0180),
    "financial-sentiment-agent": (288, 0.0009),
    "market-prediction-agent": (144, 0.0016),
    "volume-microstructure-agent": (48, 0.0011),
    "vpin-hft": (12, 0.0008),
}
FAILURE_REASONS = ("insufficient_margin", "rate_limited", "timeout")


def demo_operations(report: Report) -> Operations:
    """The demo's Operations block for ``report`` (its day, totals, agents and intraday P&L)."""
    rng = np.random.default_rng(zlib.crc32(f"demo-ops-{report.day.date.isoformat()}".encode()))
    opening = report.totals.equity - report.totals.total_pnl
    curve = tuple((t, opening + pnl) for t, pnl in zip(report.intraday.times, report.intraday.portfolio, strict=True))
    values = np.array([v for _, v in curve] or [opening])
    peak = np.maximum.accumulate(np.maximum(values, opening))
    drawdown = float(np.max(1.0 - values / peak))

    ai_cost: dict[str, float] = {}
    errors: dict[str, float] = {}
    for agent in sorted(a.agent_id for a in report.agents):
        if agent not in AI_USAGE:
            continue  # unattributed fills have no AI agent behind them
        calls, price = AI_USAGE[agent]
        ai_cost[agent] = round(calls * price * rng.uniform(0.85, 1.15), 4)
        failures = int(rng.choice([0, 0, 0, 1, 2]))
        if failures:
            errors[agent] = failures
    failed = {reason: int(n) for reason, n in zip(FAILURE_REASONS, rng.integers(0, [4, 3, 2]), strict=True) if n}
    equity = EquityStats(
        start=float(values[0]), end=float(values[-1]), min=float(values.min()), max=float(values.max())
    )
    return Operations(
        equity=equity,
        max_drawdown=-round(drawdown, 6) or 0.0,  # `or`: no -0.0 in report.json
        executions=Executions(ok=report.totals.trades, failed=sum(failed.values()), failed_by_reason=failed),
        ai_cost_usd=ai_cost,
        ai_cost_total_usd=round(sum(ai_cost.values()), 4),
        agent_errors=errors,
        equity_curve=curve,
    )
