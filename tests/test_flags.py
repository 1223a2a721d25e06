"""Attention flags on hand-made cases: outliers, silent agents, a new drawdown, degraded sources."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pytest
from sample_report import CAPITAL, make_report, make_totals, series

from reports.models import AgentReport, Operations, Report, Sources
from reports.presentation.flags import attention_flags, drawdown_series, source_notes

DAY = date(2024, 5, 1)


def agent(pnls: list[float], trades_today: int, agent_id: str = "a1") -> AgentReport:
    """An agent whose daily series ends on DAY with ``pnls`` (the last one is today's)."""
    daily = series(pnls, DAY, CAPITAL)
    totals = make_totals(np.random.default_rng(0), pnls[-1], CAPITAL, daily[-1].equity, trades_today)
    return AgentReport(agent_id, totals, (), {}, daily)


def quiet_report(*agents: AgentReport, **changes: object) -> Report:
    """The sample report with only the given agents, healthy sources and a flat portfolio history."""
    base = make_report(2, report_date=DAY)
    fields = {"agents": agents, "daily": series([10.0] * 35, DAY, 2 * CAPITAL), "sources": Sources("ok", "ok", "ok")}
    return replace(base, **{**fields, **changes})


def alternating(n: int, today: float) -> list[float]:
    return [10.0 if i % 2 else -10.0 for i in range(n)] + [today]


def test_drawdown_series_starts_from_the_equity_before_the_first_day() -> None:
    points = series([10.0, -11.0, 22.0, -12.1], DAY, 100.0)  # equity 110, 99, 121, 108.9
    assert drawdown_series(points) == pytest.approx([0.0, -0.1, 0.0, -0.1])
    assert drawdown_series(series([-5.0], DAY, 100.0)) == pytest.approx([-0.05])
    assert drawdown_series(()) == []


def test_a_day_beyond_three_sigma_of_the_agents_own_month_is_flagged() -> None:
    flags = attention_flags(quiet_report(agent(alternating(30, 100.0), 12)))
    assert len(flags) == 1
    assert flags[0].startswith("a1: day P&L +100.00 USDT is ") and "above its 30-day mean" in flags[0]


def test_a_large_loss_is_flagged_as_below_the_mean() -> None:
    flags = attention_flags(quiet_report(agent(alternating(30, -60.0), 12)))
    assert len(flags) == 1 and "below its 30-day mean" in flags[0]


def test_a_day_within_three_sigma_is_not_flagged() -> None:
    # The 30 prior days alternate ±10: mean 0, sample std ≈ 10.2; 30 is under 3σ.
    assert attention_flags(quiet_report(agent(alternating(30, 30.0), 12))) == []


def test_a_short_history_gives_no_outlier_flag() -> None:
    assert attention_flags(quiet_report(agent(alternating(4, 500.0), 12))) == []


def test_only_the_thirty_days_before_count_for_the_mean() -> None:
    # A huge day 40 days ago is outside the window: without it the history is ±10 and today's 100 is an outlier.
    pnls = [5000.0] + [0.0] * 9 + alternating(30, 100.0)
    flags = attention_flags(quiet_report(agent(pnls, 12)))
    assert len(flags) == 1 and "above" in flags[0]


def test_no_fill_today_after_five_days_with_fills_is_flagged() -> None:
    pnls = [0.0] * 10 + [5.0, -3.0, 8.0, 2.0, -1.0, 0.0]
    flags = attention_flags(quiet_report(agent(pnls, 0, "silent")))
    assert flags == ["silent: no fill today after 5 straight days with fills"]


@pytest.mark.parametrize(
    ("pnls", "trades"),
    [
        ([0.0] * 10 + [0.0, -3.0, 8.0, 2.0, -1.0, 0.0], 0),  # only four days with fills before today
        ([0.0] * 10 + [5.0, -3.0, 8.0, 2.0, -1.0, 0.0], 3),  # it did fill today
        ([5.0, -3.0, 8.0, 0.0], 0),  # fewer than five days of history
    ],
)
def test_no_silence_flag_without_a_full_streak_or_with_a_fill_today(pnls: list[float], trades: int) -> None:
    assert attention_flags(quiet_report(agent(pnls, trades))) == []


def test_a_new_thirty_day_maximum_drawdown_is_flagged() -> None:
    pnls = [10.0] * 30 + [-50.0, 20.0, -80.0]  # 1300 peak, then 1250, 1270, 1190: deeper than before
    report = quiet_report(daily=series(pnls, DAY, 1000.0))
    assert attention_flags(report) == ["Portfolio: new 30-day maximum drawdown, −8.5%"]


@pytest.mark.parametrize(
    "pnls",
    [
        [10.0] * 30 + [-120.0, 60.0, -30.0],  # 1180 two days ago, 1210 today: under water, not deeper
        [10.0] * 33,  # a new high
        [10.0] * 30 + [-80.0, 0.0],  # unchanged: the maximum was set yesterday, not today
    ],
)
def test_no_drawdown_flag_unless_today_is_the_deepest(pnls: list[float]) -> None:
    assert attention_flags(quiet_report(daily=series(pnls, DAY, 1000.0))) == []


@pytest.mark.parametrize(
    ("sources", "needle"),
    [
        (Sources("unavailable", "ok", "ok"), "Trading service: unavailable"),
        (Sources("ok", "unavailable", "ok"), "Prometheus unavailable"),
        (Sources("ok", "ok", "mismatch"), "Reconciliation mismatch"),
    ],
)
def test_a_degraded_source_is_flagged(sources: Sources, needle: str) -> None:
    flags = attention_flags(quiet_report(sources=sources))
    assert len(flags) == 1 and flags[0].startswith(needle)


def test_an_unconfigured_source_is_a_note_not_a_flag() -> None:
    report = quiet_report(sources=Sources("ok", "not configured", "not configured"))
    assert attention_flags(report) == []
    notes = source_notes(report)
    assert len(notes) == 2 and "PROMETHEUS_URL" in notes[0] and "ADMIN_API_TOKEN" in notes[1]
    assert source_notes(quiet_report()) == []


def test_an_operations_drawdown_past_the_limit_is_flagged() -> None:
    ops = make_report(2).operations
    assert isinstance(ops, Operations)
    assert attention_flags(quiet_report(operations=replace(ops, max_drawdown=-0.24))) == []
    flags = attention_flags(quiet_report(operations=replace(ops, max_drawdown=-0.3)))
    assert flags == ["Drawdown −30.0% today is past the limit of −25.0%"]
