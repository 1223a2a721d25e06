"""The one secret scrubber: no secret in any line, error, log or file, each replaced by ``***``.

Secrets are registered once, when they become known (``Settings`` registers its tokens and the credentials
of its URL settings as it is made); from then on :func:`redact_text` masks them wherever they appear. It also
masks anything shaped like a Telegram bot token, registered or not, and the credentials of every URL in the
text: the user-info (``http://user:password@prometheus:9090``, Prometheus behind basic auth) and the values
of secret-looking query parameters (``?api_key=...``); :func:`redact_url` does that for one URL.
Every place that shows text calls it: the log handler and its filter (``reports.logs``), the errors
(``reports.errors``), the delivery's and the bot's lines. Imports no stage: every module may use it.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import unquote

MASK = "***"
MIN_SECRET = 4  # a shorter value would mask ordinary words in every line
# The shape of any Telegram bot token: the bot's id, a colon, 35 more characters (30 or more are taken for one).
# Not preceded by a digit (rather than a word boundary), so that it is found in a Bot API path: ``/bot123456:AA...``.
TOKEN_SHAPE = re.compile(r"(?<![0-9])[0-9]{5,}:[A-Za-z0-9_-]{30,}")
# Query parameters whose value is a credential: token, key, api_key, secret, password, auth, signature...
_SECRET_PARAM = re.compile(
    r"token|key|secret|pass(word|wd)?|pwd|auth|sig(nature)?|credential|session|cookie|jwt|bearer", re.IGNORECASE
)
# scheme://, then anything up to a blank, a quote or an angle bracket (how URLs end in our lines and in HTML).
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>()\[\]{}]+")
_lock = threading.Lock()
# The registered secrets, the longest first (one secret may contain another); replaced whole, never
# changed in place, so that a reader needs no lock.
_known: tuple[str, ...] = ()


def register(*secrets: str | None) -> None:
    """Mask each of ``secrets`` in every text from now on; ``None`` and values shorter than
    :data:`MIN_SECRET` are ignored. For the whole process: a secret is never forgotten."""
    global _known
    fresh = {s for s in secrets if s and len(s) >= MIN_SECRET}
    with _lock:
        if fresh - set(_known):
            _known = tuple(sorted(fresh | set(_known), key=lambda s: (-len(s), s)))


def redact_text(text: str) -> str:
    """``text`` with every URL's credentials, every registered secret and every bot-token shape masked."""
    if "://" in text:  # first: a URL whose password was masked would no longer parse as one
        text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    for secret in _known:
        if secret in text:
            text = text.replace(secret, MASK)
    return TOKEN_SHAPE.sub(MASK, text)


def _split(url: str) -> tuple[str, str, str] | None:
    """(scheme, netloc, the rest) of an absolute URL, without decoding anything; None for other text."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    return scheme, rest[:cut], rest[cut:]


def redact_url(url: str) -> str:
    """``url`` with its user-info and the values of secret-looking query parameters replaced by ``***``."""
    parts = _split(url)
    if parts is None:
        return url
    scheme, netloc, tail = parts
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rpartition("@")[2]
    path, qmark, query = tail.partition("?")
    if qmark:
        query, hash_, fragment = query.partition("#")
        query = "&".join(_redact_param(p) for p in query.split("&")) + hash_ + fragment
    return f"{scheme}://{netloc}{path}{qmark}{query}"


def _redact_param(param: str) -> str:
    name, eq, value = param.partition("=")
    if eq and value and _SECRET_PARAM.search(unquote(name)):
        return f"{name}={MASK}"
    return param


def url_secrets(url: str | None) -> list[str]:
    """The secret parts of ``url`` (its password or whole user-info, secret query values), raw and decoded,
    for :func:`register`: masked wherever they appear without their URL around them."""
    parts = _split(url) if url else None
    if parts is None:
        return []
    _, netloc, tail = parts
    found: list[str] = []
    if "@" in netloc:
        userinfo = netloc.rpartition("@")[0]
        _, colon, password = userinfo.partition(":")
        found += [password] if colon else [userinfo]  # a lone user-info is a token as often as a name
    query = tail.partition("?")[2].partition("#")[0]
    for param in query.split("&") if query else ():
        name, eq, value = param.partition("=")
        if eq and value and _SECRET_PARAM.search(unquote(name)):
            found.append(value)
    out: list[str] = []
    for value in found:
        for form in (value, unquote(value)):
            if len(form) >= MIN_SECRET and form not in out:
                out.append(form)
    return out
