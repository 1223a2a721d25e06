"""The Telegram summary and report.html: escaping, splitting, self-containment, template overrides."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import jinja2
import pytest
from assertions import HtmlRefs, assert_telegram_html
from factories import EVIL
from sample_report import make_report, with_agent

from reports.models import Report, Sources
from reports.presentation.charts import Chart, render_charts
from reports.presentation.fmt import fmt_count, fmt_pct, fmt_pnl, fmt_qty, fmt_signed_pct, fmt_usd
from reports.presentation.render import packaged_templates_dir, render_html, render_summary, template_env
from reports.presentation.tgtext import visible_length
from reports.settings import Settings


def summary_text(report: Report) -> str:
    parts = render_summary(report)
    for part in parts:
        assert_telegram_html(part)
        assert 0 < visible_length(part) <= 4096
    return "\n".join(parts)


# ---- number formatting


def test_numbers_are_formatted_for_traders() -> None:
    assert fmt_usd(1234567.891) == "1,234,567.89"
    assert fmt_usd(-3.5) == "−3.50"
    assert fmt_pnl(1234.5) == "+1,234.50"
    assert fmt_pnl(-0.5) == "−0.50"
    assert fmt_pnl(-0.001) == "0.00"  # no "−0.00"
    assert fmt_pct(0.1234) == "12.3%"
    assert fmt_pct(0.55, 0) == "55%"
    assert fmt_signed_pct(-0.0123) == "−1.23%"
    assert fmt_count(1234.0) == "1,234"
    assert fmt_qty(-0.0125) == "−0.0125"
    for fmt in (fmt_usd, fmt_pnl, fmt_pct, fmt_signed_pct, fmt_count, fmt_qty):
        assert fmt(None) == "—"
        assert fmt(float("nan")) == "—"


# ---- the summary


def test_the_summary_holds_the_days_figures_in_telegram_html() -> None:
    report = make_report(6)
    text = summary_text(report)
    t = report.totals
    assert "2024-05-01" in text and "UTC" in text
    assert f"Net P&amp;L {fmt_pnl(t.total_pnl)} USDT" in text
    assert fmt_pnl(t.realized_pnl) in text and fmt_pnl(-t.fees) in text and fmt_pnl(t.unrealized_change) in text
    assert "of the +350.00 target" in text and "(target 55%" in text
    assert f"Equity {fmt_usd(t.equity)}" in text
    assert fmt_pnl(report.risk["7d"].pnl) in text and fmt_pnl(report.risk["30d"].pnl) in text
    assert "average cost" in text and "365 periods" in text and "risk-free 0" in text
    assert "marks from last fills" in text and "generated 2024-05-02 00:05 UTC" in text
    assert "<b>Operations</b>" in text and "limit −25%" in text
    assert "exchange income covers 2 of 3 income types" in text


def test_agents_are_listed_best_first_with_name_and_emoji() -> None:
    report = make_report(6)
    text = summary_text(report)
    ranked = sorted(report.agents, key=lambda a: -a.totals.total_pnl)
    positions = [text.index(f"{a.emoji} {a.name}: <code>") for a in ranked]
    assert positions == sorted(positions)


def test_only_active_agents_are_listed_and_ids_stand_in_for_missing_names() -> None:
    report = make_report(3, names=False)
    idle = report.agents[2]
    report = with_agent(report, idle.agent_id, totals=replace(idle.totals, trades=0), open_positions=())
    text = summary_text(report)
    assert f"{report.agents[0].agent_id}: <code>" in text and f"{report.agents[1].agent_id}: <code>" in text
    assert f"{idle.agent_id}: <code>" not in text


def test_an_agent_id_with_markup_is_escaped() -> None:
    text = summary_text(make_report(2, ids=(EVIL, "plain-agent"), names=False))
    assert "&lt;b&gt;x&lt;/b&gt;&amp;co" in text
    assert "<b>x</b>" not in text


def test_sixty_agents_split_into_valid_parts_that_hold_every_agent() -> None:
    ids = tuple(f"agent-{i:02d}-with-a-deliberately-long-identifier" for i in range(60))
    report = make_report(60, ids=ids, names=False)
    parts = render_summary(report)
    assert len(parts) >= 2
    for part in parts:
        assert_telegram_html(part)
        assert visible_length(part) <= 4096
    joined = "\n".join(parts)
    listed = [a.agent_id for a in report.agents if a.active]
    assert len(listed) > 50
    assert all(joined.count(f"{agent_id}: <code>") == 1 for agent_id in listed)


def test_flags_and_notes_reach_the_summary() -> None:
    report = make_report(3, sources=Sources("ok", "unavailable", "not configured"), operations=False)
    text = summary_text(report)
    assert "Needs a look" in text and "Prometheus unavailable" in text
    assert "no ADMIN_API_TOKEN" in text
    assert "<b>Operations</b>" not in text


def test_the_risk_table_is_narrow_enough_for_a_phone() -> None:
    text = summary_text(make_report(6))
    table = text[text.index("<pre>") + 5 : text.index("</pre>")]
    assert all(len(line) <= 32 for line in table.replace("&amp;", "&").splitlines())


# ---- report.html


def test_report_html_is_self_contained_small_and_complete() -> None:
    report = make_report(60)
    charts = render_charts(report)
    page = render_html(report, charts)
    assert len(page.encode()) < 2_000_000
    refs = HtmlRefs()
    refs.feed(page)
    assert refs.urls and all(url.startswith("data:image/png;base64,") for url in refs.urls)
    assert refs.tags.count("img") == len(charts)
    assert not re.search(r"https?://", page) and "@import" not in page and "url(" not in page
    assert "<script" not in page
    for agent in report.agents:
        assert agent.agent_id in page
    for symbol in report.symbols:
        assert symbol.symbol in page
    for point in report.daily:
        assert point.date.isoformat() in page
    for heading in ("Agents", "Open positions", "Symbols", "Risk", "Operations", "Daily", "Sources", "Conventions"):
        assert f"<h2>{heading}" in page
    assert "@media print" in page and 'name="viewport"' in page


def test_report_html_escapes_agent_ids() -> None:
    report = make_report(2, ids=(EVIL, "plain-agent"), names=False)
    page = render_html(report, [])
    assert "&lt;b&gt;x&lt;/b&gt;&amp;co" in page and "<b>x</b>" not in page


def test_chart_captions_are_shown_once_escaped_in_the_page() -> None:
    chart = Chart("x.png", b"\x89PNG", "P&amp;L of &lt;b&gt;")
    page = render_html(make_report(2), [chart])
    assert "P&amp;L of &lt;b&gt;" in page and "&amp;amp;" not in page


# ---- templates: packaged, overridden, strict


def test_the_packaged_templates_are_found() -> None:
    assert (packaged_templates_dir() / "summary.html.j2").is_file()
    assert (packaged_templates_dir() / "report.html.j2").is_file()


def test_report_templates_dir_takes_precedence(tmp_path: Path) -> None:
    (tmp_path / "summary.html.j2").write_text("Custom {{ report.day.date }} {{ report.agents[0].agent_id }}")
    settings = Settings.from_env({"REPORT_TEMPLATES_DIR": str(tmp_path)})
    report = make_report(1, ids=(EVIL,))
    assert render_summary(report, settings.templates_dir) == ("Custom 2024-05-01 &lt;b&gt;x&lt;/b&gt;&amp;co",)
    # What the team did not override still comes from the package.
    assert "<h2>Agents" in render_html(report, [], settings.templates_dir)


def test_templates_are_strict_about_undefined_names(tmp_path: Path) -> None:
    (tmp_path / "summary.html.j2").write_text("{{ no_such_thing }}")
    with pytest.raises(jinja2.UndefinedError):
        render_summary(make_report(1), tmp_path)
    assert template_env().autoescape is True


# ---- the embedded demo, end to end through the real compute stage


def test_the_demo_day_renders_completely() -> None:
    from datetime import UTC, date, datetime

    from reports.calendar import trading_day
    from reports.operations.pipeline import build

    settings = Settings.from_env({"REPORT_TIMEZONE": "Europe/Berlin"})
    day = trading_day(date(2024, 3, 31), settings.timezone)  # a DST day: 23 hours
    report = build(settings, day, demo=True, clock=lambda: datetime(2024, 4, 1, 0, 5, tzinfo=UTC))
    text = summary_text(report)
    for agent in report.agents:
        if agent.active:
            assert f"{agent.emoji + ' ' if agent.emoji else ''}{agent.name or agent.agent_id}: <code>" in text
    charts = render_charts(report)
    assert len(charts) == 5
    assert [c.png for c in charts] == [c.png for c in render_charts(report)]
    page = render_html(report, charts)
    assert len(page.encode()) < 2_000_000 and not re.search(r"https?://", page)
