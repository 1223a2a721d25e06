"""The buttons without a process: what each carries, where none is shown, a press read back; /agent's matching."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from reports.bot.buttons import (
    CALLBACK_MAX,
    FORGED,
    BadPress,
    markup_json,
    on_keyboard,
    read_press,
    refresh_keyboard,
    report_keyboard,
)
from reports.bot.commands import BadInput, Request, parse
from reports.models import AgentReport
from reports.presentation.bot_cards import match_agent

NOW = datetime(2025, 11, 22, 14, 5, tzinfo=UTC)  # a Saturday: yesterday 2025-11-21, last week 2025-11-10..16


def test_a_day_has_the_day_before_and_after_but_none_past_yesterday_or_before_the_history():
    kb = report_keyboard("day", date(2025, 11, 19), "UTC", NOW, date(2025, 1, 1))
    assert kb == ((("◀ 2025-11-18", "report:2025-11-18"), ("2025-11-20 ▶", "report:2025-11-20")),)
    assert report_keyboard("day", date(2025, 11, 21), "UTC", NOW, None) == ((("◀ 2025-11-20", "report:2025-11-20"),),)
    assert report_keyboard("day", date(2025, 11, 19), "UTC", NOW, date(2025, 11, 19)) == (
        (("2025-11-20 ▶", "report:2025-11-20"),),
    )
    assert report_keyboard("day", date(2025, 11, 21), "UTC", NOW, date(2025, 11, 21)) == ()


def test_a_week_and_a_month_have_the_one_before_and_after_by_their_last_day():
    week = report_keyboard("week", date(2025, 11, 9), "UTC", NOW, None)
    assert week == ((("◀ week of 2025-10-27", "week:2025-11-02"), ("week of 2025-11-10 ▶", "week:2025-11-16")),)
    assert report_keyboard("week", date(2025, 11, 16), "UTC", NOW, None) == (
        (("◀ week of 2025-11-03", "week:2025-11-09"),),
    )
    month = report_keyboard("month", date(2025, 3, 31), "UTC", NOW, None)
    assert month == ((("◀ 2025-02", "month:2025-02-28"), ("2025-04 ▶", "month:2025-04-30")),)
    assert report_keyboard("month", date(2025, 10, 31), "UTC", NOW, None) == ((("◀ 2025-09", "month:2025-09-30"),),)


def test_every_button_fits_telegram_s_64_bytes_and_reads_back_as_its_command():
    for kb in (report_keyboard("day", date(2025, 11, 19), "UTC", NOW, None), refresh_keyboard(date(2025, 11, 22))):
        for text, data in (b for row in kb for b in row):
            assert len(data.encode()) <= CALLBACK_MAX and text
    assert read_press("report:2025-11-18", "UTC", NOW) == Request(
        "report", date(2025, 11, 18), "/report 2025-11-18 (button)"
    )
    assert read_press("week:2025-11-16", "UTC", NOW).day == date(2025, 11, 16)
    assert read_press("month:2025-02-28", "UTC", NOW).command == "month"
    assert read_press("refresh:2025-11-22", "UTC", NOW) == Request("refresh", date(2025, 11, 22), "🔄 Refresh")


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (None, FORGED),
        ("", FORGED),
        ("report:2025-11-18" + " " * 60, FORGED),
        ("report:" + "1" * 58, FORGED),
        ("report:2025-02-30", FORGED),
        ("week:2025-11-12", FORGED),  # a week's button carries its Sunday
        ("delete:2025-11-18", FORGED),
        ("report:2025-11-22", "2025-11-22 has not ended yet in UTC: this button is stale"),
        ("refresh:2025-11-21", "The day so far of 2025-11-21 is over: /report 2025-11-21 shows the whole day"),
    ],
)
def test_a_forged_oversized_or_stale_press_is_one_short_line(data, line):
    with pytest.raises(BadPress) as err:
        read_press(data, "UTC", NOW)
    assert str(err.value) == line and len(str(err.value)) <= 200


def test_a_press_counts_only_for_a_button_of_its_message():
    markup = markup_json(report_keyboard("day", date(2025, 11, 19), "UTC", NOW, None))
    assert on_keyboard("report:2025-11-18", markup) and on_keyboard("report:2025-11-20", markup)
    assert not on_keyboard("report:2025-11-17", markup) and not on_keyboard("report:2025-11-18", None)


def test_agent_and_symbols_are_read_with_their_name_and_date():
    read = lambda text: parse(text, "sapphire_report_bot", "UTC", NOW)  # noqa: E731
    assert read("/agent vpin") == Request("agent", date(2025, 11, 21), "/agent vpin", "vpin")
    assert read("/agent Trend Rider 2025-11-02") == Request(
        "agent", date(2025, 11, 2), "/agent Trend Rider 2025-11-02", "Trend Rider"
    )
    assert read("/symbols 2025-11-02") == Request("symbols", date(2025, 11, 2), "/symbols 2025-11-02")
    for text, needle in (("/agent", "/agent takes an agent's id or name"), ("/agent x 2025-11-22", "not ended")):
        with pytest.raises(BadInput) as err:
            read(text)
        assert needle in str(err.value)


def _agent(agent_id: str, name: str | None = None) -> AgentReport:
    return AgentReport(agent_id, None, (), {}, (), name=name)  # type: ignore[arg-type]


def test_an_agent_is_found_by_id_name_or_unique_prefix_in_any_case():
    agents = [_agent("trend-momentum-agent", "Trend Rider"), _agent("vpin-hft", "VPIN Scalper"), _agent("volume-x")]
    assert match_agent(agents, "VPIN-HFT").agent_id == "vpin-hft"  # type: ignore[union-attr]
    assert match_agent(agents, "trend rider").agent_id == "trend-momentum-agent"  # type: ignore[union-attr]
    assert match_agent(agents, "vpin s").agent_id == "vpin-hft"  # type: ignore[union-attr]
    assert match_agent(agents, "v") == "'v' matches 2 agents: vpin-hft (VPIN Scalper), volume-x; give more of the name"
    assert match_agent(agents, "zz") == (
        "no agent 'zz' that day: the agents are trend-momentum-agent (Trend Rider), volume-x, vpin-hft (VPIN Scalper)"
    )
