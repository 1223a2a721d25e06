"""Credentials out of every URL that is shown: in check lines, error lines, logs and artifacts.

A URL setting may carry a password (``http://user:password@prometheus:9090``, Prometheus behind basic auth)
or a secret query parameter (``?api_key=...``). :func:`redact_url` replaces them with ``***``;
:func:`redact_text` does it for every URL inside a line of text, and also replaces the secret parts of the
configured URLs wherever they appear without their URL around them (an exception that quotes ``pw@host:9091``).
Imports no stage: every stage, and the shared settings and errors, may use it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from urllib.parse import unquote

MASK = "***"
MIN_SECRET = 4  # a shorter value would mask ordinary words in every line
# Query parameters whose value is a credential: token, key, api_key, secret, password, auth, signature...
_SECRET_PARAM = re.compile(
    r"token|key|secret|pass(word|wd)?|pwd|auth|sig(nature)?|credential|session|cookie|jwt|bearer", re.IGNORECASE
)
# scheme://, then anything up to a blank, a quote or an angle bracket (how URLs end in our lines and in HTML).
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>()\[\]{}]+")
_known: set[str] = set()
_lock = threading.Lock()


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
    """The secret parts of ``url`` (its password or whole user-info, secret query values), raw and decoded."""
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


def remember(urls: Iterable[str | None]) -> None:
    """Keep the secret parts of these URLs, to mask them in any text from now on (the settings call this)."""
    secrets = [s for url in urls for s in url_secrets(url)]
    if secrets:
        with _lock:
            _known.update(secrets)


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted, and every remembered URL secret masked wherever it appears."""
    if "://" in text:
        text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    if _known:
        with _lock:
            known = sorted(_known, key=len, reverse=True)  # the longest first: one secret may contain another
        for secret in known:
            if secret in text:
                text = text.replace(secret, MASK)
    return text
