"""What the fake Bot API server checks a request with: Telegram's HTML subset, images, request bodies.

The HTML parser is written apart from ``reports.presentation.tgtext`` on purpose: a bug shared by both would hide.
It follows the Bot API's rules strictly: every ``<``, ``>`` and ``&`` outside a tag or entity is an error.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import struct
from typing import Any
from urllib.parse import parse_qsl


class ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


_ENTITY_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "span": "spoiler",
    "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}  # fmt: skip
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ATTR_RE = re.compile(r"""\s*([A-Za-z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")


class ParseError(ValueError):
    """Telegram's "can't parse entities" with its reason."""


def utf16(text: str) -> int:
    """Length in UTF-16 code units, Telegram's unit."""
    return len(text.encode("utf-16-le")) // 2


def _decode_entity(src: str, i: int) -> tuple[str, int] | None:
    """The character of the entity at ``src[i] == '&'`` and the index after it, or None."""
    end = src.find(";", i + 1, i + 12)
    if end < 0:
        return None
    name = src[i + 1 : end]
    if name in _NAMED:
        return _NAMED[name], end + 1
    try:
        if re.fullmatch(r"#[0-9]{1,7}", name):
            return chr(int(name[1:])), end + 1
        if re.fullmatch(r"#[xX][0-9a-fA-F]{1,6}", name):
            return chr(int(name[2:], 16)), end + 1
    except (ValueError, OverflowError):
        return None
    return None


def parse_html(src: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into (text, entities) or raise :class:`ParseError` with Telegram's wording.

    Strict: every ``<``, ``>`` and ``&`` outside a tag or entity is an error, as the Bot API asks.
    Offsets are in UTF-16 code units, like Telegram's.
    """
    text: list[str] = []
    length = 0  # UTF-16 units so far
    stack: list[tuple[str, int, dict[str, str]]] = []
    entities: list[dict[str, Any]] = []
    i, n = 0, len(src)
    while i < n:
        ch = src[i]
        offset = len(src[:i].encode())
        if ch == "&":
            decoded = _decode_entity(src, i)
            if decoded is None:
                raise ParseError(f"Unsupported HTML entity or unescaped '&' at byte offset {offset}")
            text.append(decoded[0])
            length += utf16(decoded[0])
            i = decoded[1]
        elif ch == ">":
            raise ParseError(f"Unescaped '>' at byte offset {offset}")
        elif ch == "<":
            end = src.find(">", i)
            if end < 0:
                raise ParseError(f"Unclosed start tag at byte offset {offset}")
            body = src[i + 1 : end]
            if "<" in body:
                raise ParseError(f"Unclosed start tag at byte offset {offset}")
            if body.startswith("/"):
                name = body[1:].strip().lower()
                if not stack:
                    raise ParseError(f"Unexpected end tag at byte offset {offset}")
                open_name, start, attrs = stack.pop()
                if name != open_name:
                    raise ParseError(
                        f'Unmatched end tag at byte offset {offset}, expected "</{open_name}>", found "</{name}>"'
                    )
                entities.append(_entity(open_name, start, length - start, attrs))
            else:
                m = re.match(r"([A-Za-z][A-Za-z0-9-]*)", body)
                name = m.group(1).lower() if m else ""
                if name not in _ENTITY_TYPES:
                    raise ParseError(f'Unsupported start tag "{name}" at byte offset {offset}')
                attrs = _attributes(body[len(name) :], name, offset)
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    raise ParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
                if name == "code" and "class" in attrs and not (stack and stack[-1][0] == "pre"):
                    attrs.pop("class")  # a language only counts on <code> directly inside <pre>
                stack.append((name, length, attrs))
            i = end + 1
        else:
            text.append(ch)
            length += utf16(ch)
            i += 1
    if stack:
        raise ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return "".join(text), sorted(
        (e for e in entities if e["length"] > 0), key=lambda e: (e["offset"], -e["length"], e["type"])
    )


def _attributes(rest: str, tag: str, offset: int) -> dict[str, str]:
    attrs: dict[str, str] = {}
    pos = 0
    rest = rest.rstrip().removesuffix("/")
    while pos < len(rest) and rest[pos:].strip():
        m = _ATTR_RE.match(rest, pos)
        if not m or m.end() == pos:
            raise ParseError(f'Empty attribute name in the tag "{tag}" at byte offset {offset}')
        value = next((v for v in m.group(2, 3, 4) if v is not None), "")
        attrs[m.group(1).lower()] = _unescape_attr(value, offset)
        pos = m.end()
    return attrs


def _unescape_attr(value: str, offset: int) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "&":
            decoded = _decode_entity(value, i)
            if decoded is None:
                raise ParseError(f"Unsupported HTML entity in an attribute at byte offset {offset}")
            out.append(decoded[0])
            i = decoded[1]
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _entity(name: str, start: int, length: int, attrs: dict[str, str]) -> dict[str, Any]:
    kind = _ENTITY_TYPES[name]
    entity: dict[str, Any] = {"type": kind, "offset": start, "length": length}
    if name == "a":
        entity["url"] = attrs.get("href", "")
    elif name == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif name == "code" and "class" in attrs and attrs["class"].startswith("language-"):
        entity["language"] = attrs["class"].removeprefix("language-")
    elif name == "tg-emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    return entity


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG or JPEG, or None when it is neither."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            seg_len = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return width, height
            i += 2 + seg_len
    return None


_JSON_FIELDS = ("media", "link_preview_options", "reply_markup", "entities", "caption_entities", "reply_parameters")


def decode_body(content_type: str, body: bytes, query: str) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """Parameters and uploaded files of a request, whichever way PTB or another client encoded them."""
    params: dict[str, Any] = dict(parse_qsl(query))
    files: dict[str, tuple[str, bytes]] = {}
    mime = content_type.split(";")[0].strip().lower()
    if mime == "application/json":
        try:
            params |= json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse JSON body") from None
        return params, files
    if mime == "application/x-www-form-urlencoded":
        params |= dict(parse_qsl(body.decode()))
    elif mime == "multipart/form-data":
        for name, filename, data in _multipart(content_type, body):
            if filename is None:
                params[name] = data.decode()
            else:
                files[name] = (filename, data)
    for key in _JSON_FIELDS:  # form encodings carry these as JSON text
        if isinstance(params.get(key), str):
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                raise ApiError(400, f"Bad Request: can't parse {key} JSON object") from None
    # Uploads named in the parameters directly ("photo": <file>) become attach:// references.
    for name in list(files):
        if name in ("photo", "document") and name not in params:
            params[name] = f"attach://{name}"
    return params, files


def _multipart(content_type: str, body: bytes) -> list[tuple[str, str | None, bytes]]:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ApiError(400, "Bad Request: multipart body without a boundary")
    delimiter = b"--" + match.group(1).encode()
    out: list[tuple[str, str | None, bytes]] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = email.parser.BytesHeaderParser(policy=email.policy.HTTP).parsebytes(head + b"\r\n\r\n")
        disposition = headers.get("content-disposition", "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        if not name:
            raise ApiError(400, "Bad Request: multipart part without a name")
        out.append((name.group(1), filename.group(1) if filename else None, data))
    return out
