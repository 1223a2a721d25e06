"""/movers: read as a command without argument, answered with the day so far's movers (the figures of
``report --today`` at that instant), in valid Telegram HTML within its limits."""

from __future__ import annotations

import html
import json
from datetime import UTC, date, datetime

import pytest
from assertions import assert_telegram_html
from markupsafe import escape

from reports.bot.commands import COMMANDS, BadInput, parse
from reports.bot.jobs import run_job
from reports.bot.records import Job
from reports.calendar import partial_day, trading_day
from reports.operations.pipeline import build
from reports.presentation import report_json
from reports.presentation.fmt import fmt_pnl
from reports.presentation.moves import SHOWN, headline
from reports.presentation.tgtext import visible_length
from reports.settings import Settings

NOW = datetime(2026, 11, 25, 14, 37, tzinfo=UTC)


def test_movers_is_a_command_without_argument():
    request = parse("/movers", "sapphire_bot", "UTC", NOW)
    assert request is not None and request.command == "movers" and request.builds
    assert parse("/movers@sapphire_bot", "sapphire_bot", "UTC", NOW).command == "movers"  # type: ignore[union-attr]
    with pytest.raises(BadInput, match="/movers takes no argument"):
        parse("/movers 2026-11-24", "sapphire_bot", "UTC", NOW)
    assert "movers" in [name for name, _ in COMMANDS]


def test_the_answer_is_the_day_so_fars_movers(tmp_path):
    settings = Settings(state_dir=tmp_path)
    answer = run_job(settings, Job("movers", None, demo=True, run_id="t"), now=NOW)
    assert answer.error is None and answer.outbox is not None
    messages = answer.outbox.messages
    for text in messages:
        assert_telegram_html(text)
        assert visible_length(text) <= 4096
    text = "\n".join(messages)
    assert text.startswith("<b>🔎 What moved the day so far</b> · 2026-11-25 00:00–14:37 UTC")
    report = build(settings, partial_day(NOW, "UTC"), demo=True)
    doc = json.loads(report_json.dumps(report))
    assert doc["period"]["kind"] == "partial"
    assert f"Net P&amp;L <b>{fmt_pnl(doc['totals']['total_pnl'])} USDT</b>, not final" in text
    for sentence in headline(report):
        assert html.escape(sentence, quote=False) in text
    assert f"of today's {fmt_pnl(doc['totals']['total_pnl'])} so far (" in headline(report)[0]
    table = text.split("<pre>", 1)[1].split("</pre>", 1)[0]
    rows = table.splitlines()[::2]
    assert len(rows) == min(SHOWN, len(doc["movers"]))
    for row, m in zip(rows, doc["movers"], strict=False):
        assert row.rstrip().endswith(fmt_pnl(m["total_pnl"])) and m["symbol"] in row
    rest = doc["movers"][SHOWN:]
    if rest:
        together = 0.0
        for m in rest:
            together += m["total_pnl"]
        assert f"… and {len(rest)} more pairs: {fmt_pnl(together)} together" in text
    assert answer.outcome == f"{len(doc['movers'])} mover(s) so far"


@pytest.mark.parametrize(
    ("command", "last"), [("report", date(2026, 11, 25)), ("week", date(2026, 11, 29)), ("month", date(2026, 11, 30))]
)
def test_report_week_and_month_answers_open_with_the_sentences(tmp_path, command, last):
    settings = Settings(state_dir=tmp_path)
    now = datetime(2026, 12, 2, 9, tzinfo=UTC)
    answer = run_job(settings, Job(command, last, demo=True, run_id="t"), now=now)
    assert answer.error is None and answer.outbox is not None
    first = answer.outbox.messages[0]
    period = {"report": "day", "week": "week", "month": "month"}[command]
    sentences = headline(build(settings, trading_day(last, "UTC"), demo=True, period=period))
    assert len(sentences) == 3
    head = first.split("Net P&amp;L", 1)[0]
    for sentence in sentences:
        assert str(escape(sentence)) in head
