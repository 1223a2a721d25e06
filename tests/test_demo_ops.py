"""The demo's Operations block: consistent with the demo's own P&L, and the same for the same date."""

from __future__ import annotations

from datetime import date

import pytest

from reports.calendar import trading_day
from reports.models import Report
from reports.numbers.compute import RunInputs, build_report
from reports.settings import CapitalPolicy
from reports.sources.demo import demo_fills
from reports.sources.demo_ops import demo_operations


@pytest.fixture(scope="module")
def report() -> Report:
    day = trading_day(date(2025, 3, 14), "UTC")
    fetched = demo_fills(day)
    return build_report(fetched.fills, day, CapitalPolicy(), RunInputs(day.end, fetched.agents))


def test_demo_operations_follow_the_demo_pnl(report: Report) -> None:
    ops = demo_operations(report)

    assert ops.equity is not None
    assert ops.equity.end - ops.equity.start == pytest.approx(report.totals.total_pnl, abs=1e-9)
    assert ops.equity.end == pytest.approx(report.totals.equity, abs=1e-9)
    assert ops.equity.min <= min(ops.equity.start, ops.equity.end) <= max(ops.equity.start, ops.equity.end)
    assert ops.equity.max == max(v for _, v in ops.equity_curve)
    assert [t for t, _ in ops.equity_curve] == list(report.intraday.times)
    assert ops.max_drawdown is not None and -1 < ops.max_drawdown <= 0
    assert ops.executions.ok == report.totals.trades
    assert ops.executions.failed == sum(ops.executions.failed_by_reason.values())
    assert ops.ai_cost_total_usd == pytest.approx(sum(ops.ai_cost_usd.values()))
    assert "unattributed" not in ops.ai_cost_usd and set(ops.ai_cost_usd) <= {a.agent_id for a in report.agents}


def test_demo_operations_are_deterministic(report: Report) -> None:
    assert demo_operations(report) == demo_operations(report)
