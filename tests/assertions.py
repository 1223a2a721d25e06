"""Checks shared by several test modules: Telegram's HTML subset, the links of a page, the chunks of a PNG,
the tick labels of a chart's axes, and what a fake Bot API was asked to post."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fake_telegram import FakeTelegram
from matplotlib.axis import Axis
from matplotlib.figure import Figure

from reports.presentation.charts import style

TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code",
                 "pre", "blockquote", "tg-emoji"}  # fmt: skip
TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^<>]*)>")
ENTITY = re.compile(r"&(#[0-9]+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_telegram_html(text: str) -> None:
    """As strict as the Bot API's HTML mode: known tags, balanced and nested, no bare < > &."""
    stack: list[str] = []
    for closing, name, _ in TAG.findall(text):
        assert name in TELEGRAM_TAGS, f"tag <{name}> is not in Telegram's subset"
        if closing:
            assert stack and stack.pop() == name, f"</{name}> closes nothing open"
        else:
            stack.append(name)
    assert not stack, f"unclosed tags {stack}"
    bare = TAG.sub("", text)
    assert "<" not in bare and ">" not in bare
    assert "&" not in ENTITY.sub("", bare), "a bare & outside an entity"


class HtmlRefs(HTMLParser):
    """Every URL-bearing attribute and every CSS url()/@import in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Keep the tag's name and its URL-bearing attributes."""
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "srcset", "poster", "data", "action")]


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (type, payload) chunks of a PNG, each CRC checked."""
    assert data.startswith(PNG_SIGNATURE)
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, payload = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + payload) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, payload))
        pos += 12 + length
    return chunks


def label_value(text: str) -> float:
    """The number a USDT tick label shows: ``−7.5`` → -7.5, ``+1,250`` → 1250, ``−4.5%`` → -4.5."""
    return float(text.replace("\u2212", "-").replace("+", "").replace(",", "").removesuffix("%"))


def usd_axes(figures: list[Figure]) -> Iterator[Axis]:
    """Every axis of these figures whose ticks are formatted as USDT."""
    for fig in figures:
        for ax in fig.axes:
            for axis in (ax.xaxis, ax.yaxis):
                if isinstance(axis.get_major_formatter(), style.UsdFormatter):
                    yield axis


def assert_labels_are_values(axis: Axis) -> int:
    """Every drawn tick's label equals its location; returns how many ticks were checked."""
    lo, hi = sorted(axis.get_view_interval())
    locs = axis.get_majorticklocs()
    labels = [t.get_text() for t in axis.get_majorticklabels()]
    assert len(locs) == len(labels)
    checked = 0
    for loc, label in zip(locs, labels, strict=True):
        if not lo <= loc <= hi:
            continue  # outside the axis: not drawn
        assert label_value(label) == pytest.approx(loc, rel=1e-9, abs=1e-9), (label, loc, list(locs))
        checked += 1
    return checked


def sends(fake: FakeTelegram) -> list[str]:
    """The methods of every posting call the fake Bot API got, in order."""
    return [c.method for c in fake.calls_of("sendMessage", "sendPhoto", "sendMediaGroup", "sendDocument")]
