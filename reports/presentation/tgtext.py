"""Telegram-HTML helpers: visible length, splitting into messages, and a plain-text fallback.

Telegram measures a message after entity parsing: tags do not count, ``&lt;`` counts as one character.
Lengths here are in UTF-16 code units, the unit Telegram uses for entity offsets; for text outside the
Basic Multilingual Plane (most emoji) that is 2 per character, so a length here is never below the count
Telegram applies, and a part that fits here fits there.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from dataclasses import dataclass

from telegram.constants import MessageLimit

# Tags of Telegram's HTML subset (Bot API "HTML style").
ALLOWED_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
        "a", "code", "pre", "blockquote", "tg-emoji",
    }
)  # fmt: skip

_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s[^<>]*)?)>")
_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|lt|gt|amp|quot);")
# Where a message may be cut, best first: between sections, between lines (table rows), between words.
_SEPARATORS = ("\n\n", "\n", " ")


@dataclass(frozen=True, slots=True)
class _Atom:
    """One tag, or one visible character with its raw spelling (``&lt;`` for ``<``)."""

    kind: str  # "open", "close" or "char"
    raw: str
    name: str = ""  # the tag name, for tags
    char: str = ""  # the visible character, for chars

    @property
    def width(self) -> int:
        """UTF-16 code units this atom shows (0 for a tag)."""
        return _utf16_len(self.char)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _decode_entity(raw: str) -> str:
    try:
        return html.unescape(raw)
    except (ValueError, OverflowError):  # e.g. &#9999999; is not a code point
        return raw


def _atoms(markup: str) -> list[_Atom]:
    """Tokenize leniently: anything that is not a tag or a known entity is a literal character."""
    atoms: list[_Atom] = []
    i, n = 0, len(markup)
    while i < n:
        ch = markup[i]
        if ch == "<" and (m := _TAG_RE.match(markup, i)):
            kind = "close" if m.group(1) else "open"
            atoms.append(_Atom(kind, m.group(0), name=m.group(2).lower()))
            i = m.end()
        elif ch == "&" and (m := _ENTITY_RE.match(markup, i)):
            decoded = _decode_entity(m.group(0))
            atoms.append(_Atom("char", m.group(0), char=decoded))
            i = m.end()
        else:
            atoms.append(_Atom("char", ch, char=ch))
            i += 1
    return atoms


def visible_length(markup: str) -> int:
    """Length of ``markup`` after Telegram's entity parsing, in UTF-16 code units (tags excluded)."""
    return sum(atom.width for atom in _atoms(markup) if atom.kind == "char")


def to_plain_text(markup: str) -> str:
    """The text a reader would see, without markup: for resending when Telegram can't parse the HTML.

    Tags of the HTML subset are dropped and entities decoded in one pass, so escaped text such as
    ``&lt;b&gt;`` comes out as the literal characters ``<b>`` and is never taken for a tag.
    """
    out: list[str] = []
    for atom in _atoms(markup):
        if atom.kind == "char":
            out.append(atom.char)
        elif atom.name not in ALLOWED_TAGS:
            out.append(atom.raw)  # not a tag Telegram knows: it was text all along
    return "".join(out)


def truncate_plain(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> str:
    """Plain ``text`` cut to at most ``limit`` UTF-16 code units, ending with an ellipsis when cut."""
    if _utf16_len(text) <= limit:
        return text
    out: list[str] = []
    used = 0
    for ch in text:
        if used + _utf16_len(ch) > limit - 1:
            break
        out.append(ch)
        used += _utf16_len(ch)
    return "".join(out) + "…"


class _Document:
    """A tokenized message with what is needed to cut it anywhere: widths and open tags per position."""

    def __init__(self, markup: str) -> None:
        self.atoms = _atoms(markup)
        self.cum = [0]  # cum[i]: visible width of atoms[:i]
        self.stacks: list[tuple[_Atom, ...]] = [()]  # stacks[i]: tags open before atoms[i]
        stack: tuple[_Atom, ...] = ()
        for atom in self.atoms:
            self.cum.append(self.cum[-1] + atom.width)
            if atom.kind == "open":
                stack = (*stack, atom)
            elif atom.kind == "close":
                # Close the innermost tag of that name; a stray end tag changes nothing.
                for depth in range(len(stack) - 1, -1, -1):
                    if stack[depth].name == atom.name:
                        stack = stack[:depth] + stack[depth + 1 :]
                        break
            self.stacks.append(stack)

    def __len__(self) -> int:
        return len(self.atoms)

    def width(self, start: int, end: int) -> int:
        """Visible width of ``atoms[start:end]``."""
        return self.cum[end] - self.cum[start]

    def render(self, start: int, end: int) -> str:
        """``atoms[start:end]`` as self-contained HTML: tags open at ``start`` reopened, open ones closed."""
        opening = "".join(atom.raw for atom in self.stacks[start])
        body = "".join(atom.raw for atom in self.atoms[start:end])
        closing = "".join(f"</{atom.name}>" for atom in reversed(self.stacks[end]))
        return opening + body + closing

    def has_text(self, start: int, end: int) -> bool:
        """Whether ``atoms[start:end]`` shows anything but whitespace."""
        return any(a.kind == "char" and not a.char.isspace() for a in self.atoms[start:end])

    def chars_at(self, end: int, sep: str) -> bool:
        """Whether the characters just before ``end`` spell ``sep``."""
        if end < len(sep):
            return False
        window = self.atoms[end - len(sep) : end]
        return all(a.kind == "char" for a in window) and "".join(a.char for a in window) == sep

    def skip_space(self, start: int) -> int:
        """First position at or after ``start`` holding a visible non-space character (tags are passed over:
        the stack at that position still reopens them)."""
        i = start
        while i < len(self.atoms) and (self.atoms[i].kind != "char" or self.atoms[i].char.isspace()):
            i += 1
        return i


def split_message(markup: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Split Telegram HTML into parts of at most ``limit`` visible characters (UTF-16 code units).

    Cuts go at section boundaries (a blank line) where possible, else at line boundaries (table rows),
    else between words, and only as a last resort inside a word; never inside a tag or an entity.
    A tag open across a cut is closed at the end of one part and reopened at the start of the next,
    attributes included. The separator at a cut is dropped. Markup that fits is returned unchanged.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2 (one character may take two UTF-16 code units)")
    doc = _Document(markup)
    n = len(doc)
    if doc.width(0, n) <= limit:
        return [markup] if doc.has_text(0, n) else []
    parts: list[str] = []
    start = doc.skip_space(0)
    while start < n:
        if doc.width(start, n) <= limit:
            end, following = n, n
        else:
            end, following = _cut(doc, start, limit)
        if doc.has_text(start, end):
            parts.append(doc.render(start, end))
        start = doc.skip_space(following)
    return parts


def _cut(doc: _Document, start: int, limit: int) -> tuple[int, int]:
    """Where the part starting at ``start`` ends, and where the next one starts."""
    # The furthest position whose width from start fits the limit (tags add no width).
    furthest = bisect_right(doc.cum, doc.cum[start] + limit) - 1
    furthest = max(furthest, start + 1)
    for sep in _SEPARATORS:
        for pos in range(furthest, start, -1):
            if doc.chars_at(pos, sep) and doc.has_text(start, pos - len(sep)):
                return pos - len(sep), pos
    # No separator: cut between characters, keeping tags that open right here with the next part.
    pos = furthest
    while pos > start + 1 and doc.atoms[pos - 1].kind == "open":
        pos -= 1
    while pos < len(doc) and doc.atoms[pos].kind == "close":
        pos += 1
    return pos, pos
