"""A week's and a month's summary and report.html; the day's output as it was before periods existed.

Run ``python tests/test_period_render.py --write-golden`` only to record a deliberate change of the day's output.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import matplotlib
import matplotlib.ft2font
import pytest
from assertions import HtmlRefs, assert_telegram_html
from factories import EVIL
from period_sample import make_period_report
from sample_report import make_report

from reports.models import Report, Sources
from reports.presentation.charts import render_charts
from reports.presentation.fmt import fmt_count, fmt_num, fmt_pct, fmt_pnl, fmt_signed_pct, fmt_usd, fmt_weekday
from reports.presentation.render import period_trade_stats, render_html, render_summary
from reports.presentation.tgtext import visible_length
from reports.settings import Settings

GOLDEN = Path(__file__).parent / "golden" / "day_render.json"


def summary_text(report: Report) -> str:
    parts = render_summary(report)
    assert parts
    for part in parts:
        assert_telegram_html(part)
        assert 0 < visible_length(part) <= 4096
    return "\n".join(parts)


# ---- the summary


def test_the_weekly_summary_holds_the_weeks_figures() -> None:
    report, _ = make_period_report("week", date(2026, 11, 29))
    f, t = report.period, report.totals
    text = summary_text(report)
    assert text.startswith("<b>📊 Sapphire weekly report · 2026-11-23 – 2026-11-29</b>")
    assert "7 days in UTC" in text
    assert f"<b>Net P&amp;L {fmt_pnl(t.total_pnl)} USDT</b> · return {fmt_signed_pct(f.risk.return_)}" in text
    change = t.total_pnl - f.previous_total_pnl
    assert f"Previous week (2026-11-16 – 2026-11-22) {fmt_pnl(f.previous_total_pnl)} · change {fmt_pnl(change)}" in text
    parts = f"Realized {fmt_pnl(t.realized_pnl)} · fees {fmt_pnl(-t.fees)} · funding {fmt_pnl(t.funding_pnl)}"
    assert f"{parts} · unrealized Δ" in text
    start = f.days[0].equity - f.days[0].total_pnl
    assert f"Equity {fmt_usd(start)} → {fmt_usd(f.days[-1].equity)}" in text
    assert f"Best day {fmt_weekday(f.best_day.date)} <code>{fmt_pnl(f.best_day.total_pnl)}</code>" in text
    assert f"Worst day {fmt_weekday(f.worst_day.date)} <code>{fmt_pnl(f.worst_day.total_pnl)}</code>" in text
    assert "<b>Agents</b> (week P&amp;L, best first)" in text
    r = f.risk
    assert (
        f"This week: return {fmt_signed_pct(r.return_)} · volatility {fmt_pct(r.volatility)} · Sharpe "
        f"{fmt_num(r.sharpe)} · Sortino {fmt_num(r.sortino)} · max drawdown {fmt_signed_pct(r.max_drawdown, 1)}"
    ) in text
    # The trailing windows, as the daily summary shows them.
    assert "Trailing to 2026-11-29:" in text
    for w in ("7d", "30d"):
        assert re.search(rf"^{w} +{re.escape(fmt_pnl(report.risk[w].pnl))} ", text, re.M), w
    assert "generated 2026-11-30 00:05 UTC" in text


def test_the_monthly_summary_names_the_month_and_the_one_before() -> None:
    report, _ = make_period_report("month", date(2026, 11, 30))
    text = summary_text(report)
    assert text.startswith("<b>📊 Sapphire monthly report · November 2026</b>")
    assert "<i>2026-11-01 – 2026-11-30 · 30 days in UTC</i>" in text
    assert f"Previous month (October 2026) {fmt_pnl(report.period.previous_total_pnl)}" in text
    assert "This month: return" in text and "(month P&amp;L, best first)" in text


def test_agents_are_listed_best_period_first_with_trades_win_rate_and_open_positions() -> None:
    report, _ = make_period_report("month")
    text = summary_text(report)
    ranked = sorted((a for a in report.agents if a.active), key=lambda a: (-a.totals.total_pnl, a.agent_id))
    lines = [f"{a.emoji} {a.name}: <code>{fmt_pnl(a.totals.total_pnl)}</code> · {fmt_count(a.totals.trades)} trades"
             f" · win {fmt_pct(a.totals.win_rate, 0)}" for a in ranked]  # fmt: skip
    positions = [text.index(line) for line in lines]
    assert positions == sorted(positions)
    holder = next(a for a in ranked if a.open_positions)
    assert f"{holder.name}: <code>{fmt_pnl(holder.totals.total_pnl)}</code>" in text
    assert re.search(rf"{re.escape(holder.name)}: .* · {len(holder.open_positions)} open( · funding \S+)?\n", text)


def test_the_trade_statistics_add_up_the_agents_closing_fills() -> None:
    report, sums = make_period_report("month")
    wins = sum(s.win_sum for s in sums.values())
    losses = sum(s.loss_sum for s in sums.values())
    stats = period_trade_stats(report)
    assert stats.closes == sum(s.closes for s in sums.values()) and stats.wins == sum(s.wins for s in sums.values())
    assert stats.expectancy == pytest.approx((wins + losses) / stats.closes, rel=1e-12)
    assert stats.average_win == pytest.approx(wins / stats.wins, rel=1e-12)
    assert stats.average_loss == pytest.approx(losses / sum(s.losses for s in sums.values()), rel=1e-12)
    assert stats.profit_factor == pytest.approx(wins / abs(losses), rel=1e-12)
    text = summary_text(report)
    assert f"Closes {fmt_count(stats.closes)} · win rate {fmt_pct(stats.win_rate)}" in text
    assert f"Profit factor {fmt_num(stats.profit_factor)} · expectancy {fmt_pnl(stats.expectancy)} a close" in text
    assert f"Average win {fmt_pnl(stats.average_win)} · average loss {fmt_pnl(stats.average_loss)}" in text


def test_ai_cost_per_agent_and_pnl_net_of_it_when_prometheus_gave_it() -> None:
    report, _ = make_period_report("week", date(2026, 11, 29))
    text = summary_text(report)
    ops = report.operations
    assert "<b>AI cost</b> (week, P&amp;L net of it, best first)" in text
    for a in report.agents:
        if a.agent_id in ops.ai_cost_usd:
            cost = ops.ai_cost_usd[a.agent_id]
            net = a.totals.total_pnl - cost
            assert (
                f"{a.name}: <code>{fmt_pnl(net)}</code> · AI {fmt_usd(cost)} · P&amp;L {fmt_pnl(a.totals.total_pnl)}"
                in text
            )
    assert f"P&amp;L net of it {fmt_pnl(report.totals.total_pnl - ops.ai_cost_total_usd)}" in text
    without, _ = make_period_report("week", date(2026, 11, 29), operations=False)
    assert "AI cost" not in summary_text(without)


def test_no_history_before_the_period_says_so() -> None:
    report, _ = make_period_report("month", date(2026, 11, 30), history_days=20)
    text = summary_text(report)
    assert "No history for the previous month (October 2026)" in text
    assert "history from 2026-11-11" in text


def test_over_a_period_only_the_sources_are_flagged_not_the_last_days_outliers() -> None:
    report, _ = make_period_report("month", sources=Sources("ok", "unavailable", "mismatch"), operations=False)
    big = dataclasses.replace(report.agents[0], totals=dataclasses.replace(report.agents[0].totals, total_pnl=1e6))
    text = summary_text(dataclasses.replace(report, agents=(big, *report.agents[1:])))
    assert "Prometheus unavailable" in text and "Reconciliation mismatch" in text
    assert "σ" not in text and "30-day mean" not in text


def test_hostile_agent_ids_are_escaped_and_sixty_agents_split_at_telegrams_limit() -> None:
    report, _ = make_period_report("week", date(2026, 11, 29), n_agents=2, ids=(EVIL, "plain"), names=False)
    text = summary_text(report)
    assert "&lt;b&gt;x&lt;/b&gt;&amp;co: <code>" in text and "<b>x</b>" not in text
    ids = tuple(f"agent-{i:02d}-with-a-deliberately-long-identifier" for i in range(60))
    many, _ = make_period_report("month", n_agents=60, ids=ids, names=False, operations=False)
    assert len(render_summary(many)) >= 2
    joined = summary_text(many)
    assert all(joined.count(f"{agent_id}: <code>") == 1 for agent_id in ids)


# ---- report.html


def test_the_monthly_report_html_is_self_contained_with_the_periods_sections() -> None:
    report, _ = make_period_report("month")
    charts = render_charts(report)
    page = render_html(report, charts)
    refs = HtmlRefs()
    refs.feed(page)
    assert refs.urls and all(url.startswith("data:image/png;base64,") for url in refs.urls)
    assert refs.tags.count("img") == len(charts) == 5
    assert not re.search(r"https?://", page) and "<script" not in page and "url(" not in page
    assert "<title>Sapphire monthly report November 2026</title>" in page
    for heading in ("Agents", "Open positions at the end of the month", "Symbols", "Risk", "Monthly returns",
                    "Daily (portfolio, this month)", "Sources", "Conventions"):  # fmt: skip
        assert f"<h2>{heading}</h2>" in page, heading
    f = report.period
    for agent in report.agents:
        e = f.agents[agent.agent_id]
        assert agent.agent_id in page
        assert f'{fmt_pnl(e.best_day.total_pnl)}<br><small class="muted">{fmt_weekday(e.best_day.date)}</small>' in page
        assert fmt_pnl(e.expectancy) in page
    for point in f.days:
        assert f'<td class="day">{fmt_weekday(point.date)}</td>' in page
    assert sum(1 for _ in re.finditer(r'<td class="day">', page)) == len(f.days)


def test_the_monthly_returns_table_of_report_html_has_a_coloured_cell_per_month_with_history() -> None:
    report, _ = make_period_report("month", date(2026, 11, 30), history_days=430)  # from 2025-09-27
    page = render_html(report, [])
    wide = page[page.index('<div class="scroll wide heat-wide">') : page.index('<div class="scroll wide heat-tall">')]
    rows = re.findall(r"<tr><td>(\d{4})</td>(.*?)</tr>", wide)
    assert [int(y) for y, _ in rows] == [2025, 2026]
    cells = {int(y): re.findall(r'<td class="(none|m[^"]*)"[^>]*>(.*?)</td>', body) for y, body in rows}
    by_month = {(m.year, m.month): m for m in report.period.monthly}
    for year, row in cells.items():
        assert len(row) == 12
        for month, (kind, content) in enumerate(row, start=1):
            m = by_month.get((year, month))
            if m is None:
                assert kind == "none" and content == ""
                continue
            star = "*" if (year, month) == (2025, 9) else ""
            assert content == f"{fmt_signed_pct(m.return_, 1)}{star}<small>{fmt_pnl(m.pnl)}</small>", (year, month)
            assert ("current" in kind) == ((year, month) == (2026, 11))
    colours = re.findall(r'style="background:(#[0-9a-f]{6});color:(#[0-9a-f]{6})"', wide)
    assert len(colours) == len(by_month)
    gains = [c for (c, _), m in zip(colours, sorted(by_month.values(), key=lambda m: (m.year, m.month)), strict=True)
             if m.return_ > 0]  # fmt: skip
    assert all(int(c[3:5], 16) > int(c[1:3], 16) for c in gains)  # green over red
    assert "Part of the month only: Sep 2025 from 2025-09-27" in page


# ---- the day: what it showed before weeks and months existed


def _snapshot(report: Report) -> dict:
    charts = render_charts(report)
    return {
        "summary": list(render_summary(report)),
        "html_sha256": hashlib.sha256(render_html(report, charts).encode()).hexdigest(),
        "charts": [[c.filename, c.caption, hashlib.sha256(c.png).hexdigest()] for c in charts],
    }


DAY_CASES = {
    "six": lambda: make_report(6),
    "three_no_ops": lambda: make_report(3, operations=False, seed=5),
    "sixty": lambda: make_report(60),
}


@pytest.mark.parametrize("case", sorted(DAY_CASES))
def test_the_days_summary_html_and_charts_are_as_before(case: str) -> None:
    golden = json.loads(GOLDEN.read_text())
    now = _snapshot(DAY_CASES[case]())
    want = golden[case]
    assert now["summary"] == want["summary"]
    assert [c[:2] for c in now["charts"]] == [c[:2] for c in want["charts"]]
    if (matplotlib.__version__, matplotlib.ft2font.__freetype_version__) != (golden["matplotlib"], golden["freetype"]):
        pytest.skip("the PNG bytes were recorded with another matplotlib or FreeType")
    assert [c[2] for c in now["charts"]] == [c[2] for c in want["charts"]]
    assert now["html_sha256"] == want["html_sha256"]


def test_the_demo_day_is_rendered_by_the_days_templates_and_album() -> None:
    from reports.calendar import trading_day
    from reports.operations.pipeline import build

    settings = Settings.from_env({})
    clock = lambda: datetime(2026, 11, 26, 0, 5, tzinfo=UTC)  # noqa: E731
    report = build(settings, trading_day(date(2026, 11, 25), "UTC"), demo=True, clock=clock)
    assert report.period is None
    assert render_summary(report)[0].startswith("<b>📊 Sapphire daily report · 2026-11-25</b>")
    names = [c.filename for c in render_charts(report)]
    assert names == ["01-intraday-pnl.png", "02-agents-pnl.png", "03-last-30-days.png", "04-symbols-pnl.png",
                     "05-operations-equity.png"]  # fmt: skip


def test_the_demo_month_end_to_end() -> None:
    from reports.calendar import trading_day
    from reports.operations.pipeline import build

    settings = Settings.from_env({})
    clock = lambda: datetime(2026, 12, 1, 0, 5, tzinfo=UTC)  # noqa: E731
    report = build(settings, trading_day(date(2026, 11, 30), "UTC"), demo=True, clock=clock, period="month")
    text = summary_text(report)
    assert f"Net P&amp;L {fmt_pnl(report.totals.total_pnl)} USDT" in text
    stats = period_trade_stats(report)
    # The profit factor the numbers stage computed from the stored sums, against the one the summary adds up.
    assert stats.profit_factor is not None and stats.average_loss is not None and stats.average_loss < 0
    assert stats.average_win * stats.wins / abs(stats.expectancy * stats.closes - stats.average_win * stats.wins) == (
        pytest.approx(report.totals.profit_factor, rel=1e-9)
    )
    charts = render_charts(report)
    assert [c.filename for c in charts] == ["01-period-pnl.png", "02-month-calendar.png", "03-agents-pnl.png",
                                            "04-symbols-pnl.png", "05-monthly-returns.png"]  # fmt: skip
    page = render_html(report, charts)
    assert len(page.encode()) < 2_000_000 and 'Sapphire monthly report · <span class="nowrap">November 2026' in page


def _write_golden() -> None:
    out = {
        "how": json.loads(GOLDEN.read_text())["how"] if GOLDEN.exists() else "",
        "matplotlib": matplotlib.__version__,
        "freetype": matplotlib.ft2font.__freetype_version__,
        **{case: _snapshot(make()) for case, make in sorted(DAY_CASES.items())},
    }
    GOLDEN.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__" and "--write-golden" in sys.argv:
    _write_golden()
