"""The demo's Operations block: consistent with the demo's own P&L, and the same for the same date.

Every expected value here is computed apart from ``demo_operations``: the equity curve and its drawdown from the
report's own intraday P&L with a plain loop, the AI cost bounds from the daily usage written out by hand, and the
draws of 2025-03-14 pinned as they were first recorded (a change of seed or of draw order changes them).
"""

from __future__ import annotations

from datetime import date

import pytest

from reports.calendar import trading_day
from reports.models import Report
from reports.operations.pipeline import build
from reports.settings import Settings
from reports.sources.demo_ops import demo_operations

DAY = date(2025, 3, 14)
# Inferences a day x USD per inference, multiplied out by hand: the nominal AI cost of each demo agent.
NOMINAL_AI_COST = {
    "trend-momentum-agent": 0.2016,  # 96 x 0.0021
    "strategy-optimization-agent": 0.4320,  # 24 x 0.0180
    "financial-sentiment-agent": 0.2592,  # 288 x 0.0009
    "market-prediction-agent": 0.2304,  # 144 x 0.0016
    "volume-microstructure-agent": 0.0528,  # 48 x 0.0011
    "vpin-hft": 0.0096,  # 12 x 0.0008
}


def demo_report(day: date, clock_hour: int = 0) -> Report:
    """The demo report of ``day`` through the whole pipeline, generated ``clock_hour`` hours after the day's end."""
    trading = trading_day(day, "UTC")
    generated = trading.end.replace(hour=clock_hour)
    return build(Settings(), trading, demo=True, clock=lambda: generated)


@pytest.fixture(scope="module")
def report() -> Report:
    return demo_report(DAY)


def test_demo_operations_follow_the_demo_pnl(report: Report) -> None:
    ops = demo_operations(report)
    opening = report.totals.equity - report.totals.total_pnl  # the equity at the end of the day before
    curve = [opening + pnl for pnl in report.intraday.portfolio]
    peak, deepest = opening, 0.0
    for value in curve:  # the largest fall from a running peak (the opening counts as one), as a fraction
        peak = max(peak, value)
        deepest = max(deepest, (peak - value) / peak)

    assert [t for t, _ in ops.equity_curve] == list(report.intraday.times)
    assert [v for _, v in ops.equity_curve] == pytest.approx(curve, abs=1e-9)
    assert ops.equity is not None
    assert (ops.equity.start, ops.equity.end) == pytest.approx((curve[0], report.totals.equity), abs=1e-9)
    assert (ops.equity.min, ops.equity.max) == pytest.approx((min(curve), max(curve)), abs=1e-9)
    assert ops.max_drawdown == pytest.approx(-deepest, abs=1e-6) and deepest > 0
    assert ops.executions.ok == report.totals.trades == 155
    # Fills of no agent have no AI behind them: every other agent of the day has a cost.
    assert set(ops.ai_cost_usd) == {a.agent_id for a in report.agents} - {"unattributed"} == set(NOMINAL_AI_COST)
    for agent, cost in ops.ai_cost_usd.items():  # drawn within ±15 % of the nominal daily cost
        assert 0.85 * NOMINAL_AI_COST[agent] - 1e-4 <= cost <= 1.15 * NOMINAL_AI_COST[agent] + 1e-4, agent
    assert ops.ai_cost_total_usd == pytest.approx(sum(ops.ai_cost_usd.values()), abs=1e-4)


def test_demo_operations_are_the_same_for_the_same_date(report: Report) -> None:
    ops = demo_operations(report)
    # Pinned from the first run: the draws of the seed of 2025-03-14.
    assert ops.ai_cost_usd == {
        "financial-sentiment-agent": 0.2971,
        "market-prediction-agent": 0.2627,
        "strategy-optimization-agent": 0.4106,
        "trend-momentum-agent": 0.2008,
        "volume-microstructure-agent": 0.0458,
        "vpin-hft": 0.01,
    }
    assert ops.ai_cost_total_usd == 1.227
    assert (ops.executions.failed, ops.executions.failed_by_reason) == (2, {"rate_limited": 1, "timeout": 1})
    assert ops.agent_errors == {"trend-momentum-agent": 2}
    # A second report of the same date, built apart and at another hour, gives the same block.
    assert demo_operations(demo_report(DAY, clock_hour=9)) == ops


def test_another_date_draws_other_numbers(report: Report) -> None:
    other = demo_operations(demo_report(date(2025, 3, 17)))
    assert other.ai_cost_usd != demo_operations(report).ai_cost_usd
    assert other.executions.ok == 187
