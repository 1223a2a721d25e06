"""What moved the day, in words and tables: the summary's sentences, drawdown and benchmark lines carry report.json's
numbers; report.html has the full movers table, the worst drawdowns (portfolio and per agent) and the benchmark;
the 30-day chart draws the benchmark from the same equity; Telegram HTML stays valid and within limits with 60
agents."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from assertions import assert_telegram_html
from factories import EVIL, make_fill
from markupsafe import escape

from reports.calendar import trading_day
from reports.models import Fills
from reports.numbers.compute import RunInputs, build_report
from reports.operations.pipeline import build
from reports.presentation import report_json
from reports.presentation.charts.history import benchmark_curve, history_chart
from reports.presentation.fmt import fmt_num, fmt_pnl, fmt_signed_pct
from reports.presentation.moves import benchmark_line, drawdown_line, headline, movers_text
from reports.presentation.render import render_html, render_summary
from reports.presentation.tgtext import visible_length
from reports.settings import CapitalPolicy, Settings

AMOUNT = re.compile(r"[+−]?\d[\d,]*\.\d\d(?!\d)")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's 2026-11-25 (no drawdown open), 2026-11-23 (one open), the week to 2026-11-29, November 2026."""
    settings = Settings(state_dir=tmp_path_factory.mktemp("state"))
    out = {}
    cases = (
        ("day", date(2026, 11, 25), "day"),
        ("under", date(2026, 11, 23), "day"),
        ("week", date(2026, 11, 29), "week"),
        ("month", date(2026, 11, 30), "month"),
    )
    for key, when, period in cases:
        report = build(settings, trading_day(when, "UTC"), demo=True, period=period)
        out[key] = (report, json.loads(report_json.dumps(report)))
    return out


def _expected_amounts(doc: dict, shown: list[dict]) -> tuple[str, ...]:
    rest = 0.0
    for m in doc["movers"]:
        if m not in shown:
            rest += m["total_pnl"]
    return (*(fmt_pnl(m["total_pnl"]) for m in shown), fmt_pnl(doc["totals"]["total_pnl"]), fmt_pnl(rest))


@pytest.mark.parametrize("key", ["day", "week", "month"])
def test_the_sentences_numbers_are_report_jsons(demo, key):
    report, doc = demo[key]
    sentences = headline(report)
    assert 2 <= len(sentences) <= 3
    top = doc["movers"][0]
    other = next(m for m in doc["movers"][1:] if (m["total_pnl"] > 0) != (top["total_pnl"] > 0))
    names = {a["agent_id"]: a.get("name", a["agent_id"]) for a in doc["agents"]}
    assert sentences[0].startswith(f"{names[top['agent_id']]}'s {top['symbol']} ")
    assert f"{fmt_pnl(top['total_pnl'])} of the {key}'s " in sentences[0]
    assert fmt_pnl(doc["totals"]["total_pnl"]) in sentences[0]
    assert sentences[1].startswith(f"{names[other['agent_id']]} ") and f"its {other['symbol']} " in sentences[1]
    assert fmt_pnl(other["total_pnl"]) in sentences[1]
    assert f"The other {len(doc['movers']) - 2} agent × symbol pairs: " in sentences[2]
    if key != "day":  # over a period a position opens and closes many times: no "closed in" or "opened in"
        assert " in " not in sentences[0].split("(", 1)[1].replace("in profit", "").replace("in funding", "")
    expected = set(_expected_amounts(doc, [top, other]))
    if top["funding_pnl"]:
        expected.add(fmt_pnl(abs(top["funding_pnl"])).lstrip("+"))
    found = AMOUNT.findall(" ".join(sentences))
    assert found and set(found) <= expected, (found, expected)
    # at the top of the summary, before the P&L line, escaped once
    text = "\n".join(render_summary(report))
    top_part = text.split("Net P&amp;L", 1)[0]
    for s in sentences:
        assert str(escape(s)) in top_part


def test_the_benchmark_line_is_report_jsons_30_days(demo):
    report, doc = demo["day"]
    w = doc["benchmark"]["30d"]
    line = benchmark_line(report)
    assert line == (
        f"{w['days']} days: {fmt_signed_pct(w['return'] + w['excess_return'], 1)} vs BTC "
        f"{fmt_signed_pct(w['return'], 1)} (buy and hold), beta {fmt_num(w['beta'])}"
    )
    assert line in "\n".join(render_summary(report))


def test_the_risk_line_names_the_open_drawdown(demo):
    report, doc = demo["under"]
    (now,) = [d for d in doc["drawdowns"] if d["end"] is None]
    start, valley = date.fromisoformat(now["start"]), date.fromisoformat(now["valley"])
    line = drawdown_line(report)
    assert line == (
        f"In a drawdown since {start.day} {start.strftime('%b')} ({now['days']} days), deepest "
        f"{fmt_signed_pct(now['depth'], 1)} on {valley.day} {valley.strftime('%b')}."
    )
    risk = "\n".join(render_summary(report)).split("<b>Risk</b>", 1)[1]
    assert line in risk
    assert drawdown_line(demo["day"][0]) == "No drawdown: equity at its high."


def test_report_html_has_every_mover_the_drawdowns_and_the_benchmark(demo):
    for key in ("day", "week"):
        report, doc = demo[key]
        page = render_html(report, [])
        movers = page.split('id="movers"', 1)[1].split("</section>", 1)[0]
        assert movers.count("<tr>") == len(doc["movers"]) + 1  # and the header
        for m in doc["movers"]:
            assert fmt_pnl(m["total_pnl"]) in movers
        drawdowns = page.split('id="drawdowns"', 1)[1].split("</section>", 1)[0]
        for d in doc["drawdowns"]:
            assert (
                f'{fmt_signed_pct(d["depth"], 1)}</td><td class="n">{d["days"]}</td><td class="nowrap">{d["start"]}'
                in drawdowns
            )
        assert fmt_num(doc["benchmark"]["30d"]["beta"]) in drawdowns
        agents = page.split("<h2>Agents</h2>", 1)[1].split('id="movers"', 1)[0]
        per_agent = agents.split("Worst drawdowns per agent", 1)[1]
        for a in report.agents:  # per agent, in the Agents section
            for d in a.drawdowns:
                row = f'{fmt_signed_pct(d.depth, 1)}</td><td class="n">{d.days}</td><td class="nowrap">{d.start}'
                assert row in per_agent


def test_the_30_day_chart_draws_the_benchmark_from_the_same_equity(demo, drawn):
    report, _ = demo["day"]
    window = report.daily[-30:]
    name, days, values = benchmark_curve(report, window)
    closes = dict(report.benchmark.closes)
    assert name == "BTC" and days[0] == window[0].date
    assert values[0] == pytest.approx(window[0].equity)
    assert values[-1] / values[0] == pytest.approx(closes[days[-1]] / closes[days[0]])
    chart = history_chart(report)
    labels = [t.get_text() for f in drawn for ax in f.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert "BTC buy & hold, same start" in labels
    assert "dashed: BTC held from the same equity" in chart.caption


def _sixty_agents() -> Fills:
    rng = random.Random(60)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    prices = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 150.0}
    fills = []
    for k in range(60 * 8):
        symbol = rng.choice(list(prices))
        prices[symbol] *= 1 + rng.gauss(0, 0.01)
        agent = EVIL if k % 60 == 0 else f"agent-{rng.randrange(60):02d}-with-a-long-identifier"
        fills.append(
            make_fill(
                agent_id=agent,
                symbol=symbol,
                side=rng.choice(["BUY", "SELL"]),
                price=round(prices[symbol], 2),
                quantity=round(rng.uniform(0.01, 1.0), 3),
                fee=0.01,
                timestamp=start + timedelta(seconds=rng.randrange(10 * 86_400)),
            )
        )
    return Fills.from_records(fills)


def test_sixty_agents_keep_telegram_html_valid_and_within_limits():
    day = trading_day(date(2026, 3, 10), "UTC")
    report = build_report(_sixty_agents(), day, CapitalPolicy(), RunInputs(day.end))
    assert len({m.agent_id for m in report.movers}) >= 50
    parts = render_summary(report)
    for part in parts:
        assert_telegram_html(part)
        assert visible_length(part) <= 4096
    joined = "\n".join(parts)
    assert joined.count(str(escape(headline(report)[0]))) == 1
    answer = movers_text(report)
    for part in answer:
        assert_telegram_html(part)
        assert visible_length(part) <= 4096
    assert EVIL in {m.agent_id for m in report.movers}
    assert "&lt;b&gt;x&lt;/b&gt;&amp;co" in joined
    assert "<b>x</b>" not in "".join(answer + parts)
