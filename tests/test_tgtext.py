"""Telegram-HTML helpers, checked against the fake Bot API's own (independent) HTML parser."""

from __future__ import annotations

import html
import re

import pytest
from fake_telegram_parse import ParseError, parse_html, utf16
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.presentation.tgtext import split_message, to_plain_text, truncate_plain, visible_length

NASTY_AGENT = "<b>x</b>&co"


def agent_table(count: int) -> tuple[str, list[str]]:
    """A long summary: a header section, a table with one row per agent, a footer; agent ids escaped."""
    agents = [f"agent-{i:02d}-{'momentum' if i % 2 else 'sentiment'}" for i in range(count - 1)] + [NASTY_AGENT]
    rows = "\n".join(
        f"{html.escape(a, quote=False):<32} {i * 13.37:>10.2f} {i * 3:>5d} {0.5 + i / 200:>6.1%} 🟢" * 2
        for i, a in enumerate(agents)
    )
    header = "<b>📊 Daily report 2025-01-02 (UTC)</b>\n\nNet P&amp;L <b>+1,234.56 USDT</b> vs target 350"
    footer = "<i>Conventions: average cost, 365 periods, risk-free 0 &lt;marks from last fills&gt;</i>"
    return f"{header}\n\n<b>Agents</b>\n<pre>{rows}</pre>\n\n{footer}", agents


def assert_valid(parts: list[str], limit: int) -> None:
    for part in parts:
        text, _ = parse_html(part)  # raises if the fake (strict as Telegram) would refuse it
        assert utf16(text.strip()) > 0 and utf16(text) <= limit, part


def test_visible_length_counts_after_entity_parsing() -> None:
    assert visible_length("<b>a</b>&lt;&amp;&#33;&#x21;") == 5
    assert visible_length('<a href="https://example.com/?a=1&amp;b=2">x</a>') == 1
    assert visible_length("🟢") == 2  # outside the BMP: two UTF-16 code units, as Telegram counts
    assert visible_length("") == 0


def test_short_message_comes_back_unchanged() -> None:
    text = "<b>Hi</b>\n\n<pre>a\nb</pre>"
    assert split_message(text) == [text]
    assert split_message("  \n ") == []


def test_sixty_agents_split_into_valid_parts_that_hold_every_agent() -> None:
    summary, agents = agent_table(60)
    assert visible_length(summary) > 4096
    parts = split_message(summary)
    assert len(parts) >= 2
    assert_valid(parts, 4096)
    texts = [parse_html(p)[0] for p in parts]
    for agent in agents:
        holders = [t for t in texts if agent in t]
        assert len(holders) == 1, agent  # every agent shown, in exactly one part
    # Rows are never cut: every line of the table is whole in some part.
    lines = {line for line in parse_html(summary)[0].split("\n") if line.strip()}
    assert lines <= {line for t in texts for line in t.split("\n")}
    # The table continues in a <pre> after each cut, and the escaped agent id stays escaped.
    assert all(p.count("<pre>") == p.count("</pre>") for p in parts)
    assert "&lt;b&gt;x&lt;/b&gt;&amp;co" in "".join(parts)
    assert "<b>x</b>" not in "".join(parts)


def test_sections_are_kept_whole_when_they_fit() -> None:
    sections = [f"<b>Section {i}</b>\n" + "\n".join(f"line {i}.{j} " + "x" * 40 for j in range(15)) for i in range(8)]
    parts = split_message("\n\n".join(sections), limit=1500)
    assert_valid(parts, 1500)
    # Each part is a run of whole sections: every section starts and ends in the same part.
    for i in range(8):
        assert sum(f"Section {i}</b>" in p and f"line {i}.14" in p for p in parts) == 1


def test_a_tag_spanning_the_cut_is_closed_and_reopened_with_its_attributes() -> None:
    body = "\n".join(f"row {i:03d} " + "y" * 50 for i in range(40))
    text = f'<blockquote expandable><pre><code class="language-text">{body}</code></pre></blockquote>'
    parts = split_message(text, limit=500)
    assert len(parts) > 1
    assert_valid(parts, 500)
    for part in parts:
        assert part.startswith('<blockquote expandable><pre><code class="language-text">row ')
        assert part.endswith("</code></pre></blockquote>")
        _, entities = parse_html(part)
        assert {e["type"] for e in entities} == {"expandable_blockquote", "pre", "code"}


def test_a_long_word_is_cut_between_entities_never_inside_one() -> None:
    text = "<i>" + "&amp;&lt;é🟢" * 900 + "</i>"
    parts = split_message(text, limit=1000)
    assert_valid(parts, 1000)
    assert "".join(parse_html(p)[0] for p in parts) == parse_html(text)[0]


def test_limit_must_leave_room_for_a_character() -> None:
    with pytest.raises(ValueError):
        split_message("abc", limit=1)


def test_plain_text_keeps_escaped_text_literal_and_drops_markup() -> None:
    assert to_plain_text("<b>Agent</b> &lt;b&gt;x&lt;/b&gt;&amp;co") == "Agent <b>x</b>&co"
    # Broken markup (the reason for the fallback) is kept as text, not lost.
    assert to_plain_text("1 < 2 & <unknown>tag</unknown> <i>ok</i>") == "1 < 2 & <unknown>tag</unknown> ok"
    assert to_plain_text('<a href="https://x.test/?a&amp;b">link</a>') == "link"


def test_truncate_plain_counts_utf16_and_marks_the_cut() -> None:
    assert truncate_plain("abc", 3) == "abc"
    cut = truncate_plain("🟢" * 10, 7)
    assert cut.endswith("…") and utf16(cut) <= 7


def test_the_fake_parser_is_strict_like_telegram() -> None:
    for bad in ("a & b", "a < b", "a > b", "<br>", "<b>x", "<b>x</i>", "x</b>", "&nbsp;", '<span class="x">s</span>'):
        with pytest.raises(ParseError):
            parse_html(bad)
    assert parse_html("<b>a</b><strong>b</strong>")[1] == [
        {"type": "bold", "offset": 0, "length": 1},
        {"type": "bold", "offset": 1, "length": 1},
    ]


# -- property: any document of the subset splits into valid parts that keep every character's formatting --

_TAGS = ["b", "i", "u", "s", "code", "pre", 'a href="https://e.test/?q=1&amp;r=2"', 'span class="tg-spoiler"']
_WORDS = st.text(alphabet="ab<>&\"' é🟢\n", min_size=0, max_size=12).map(lambda t: html.escape(t, quote=False))


@st.composite
def _documents(draw: st.DrawFn, depth: int = 0) -> str:
    pieces = []
    for _ in range(draw(st.integers(1, 6))):
        if depth < 3 and draw(st.booleans()):
            tag = draw(st.sampled_from(_TAGS))
            pieces.append(f"<{tag}>{draw(_documents(depth + 1))}</{tag.split()[0]}>")
        else:
            pieces.append(draw(_WORDS) + draw(st.sampled_from(["", "\n", "\n\n", " "])))
    return "".join(pieces)


def _styled(markup: str) -> list[tuple[str, frozenset[str]]]:
    """Each non-space character with the entity types that cover it."""
    text, entities = parse_html(markup)
    units: list[tuple[str, frozenset[str]]] = []
    pos = 0
    for ch in text:
        width = utf16(ch)
        kinds = frozenset(e["type"] for e in entities if e["offset"] <= pos < e["offset"] + e["length"])
        if not ch.isspace():
            units.append((ch, kinds))
        pos += width
    return units


@settings(max_examples=150, deadline=None)
@given(doc=st.lists(_documents(), min_size=1, max_size=8).map("".join), limit=st.integers(2, 60))
def test_split_property(doc: str, limit: int) -> None:
    parts = split_message(doc, limit)
    for part in parts:
        text, _ = parse_html(part)
        assert utf16(text) <= limit
        assert re.search(r"\S", text)
    joined = [unit for part in parts for unit in _styled(part)]
    assert joined == _styled(doc)
