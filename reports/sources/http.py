"""JSON over HTTP with timeouts and bounded retries, shared by the clients of every source."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import orjson

from reports.errors import FetchError
from reports.redact import redact_url

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
RETRY_STATUSES = frozenset({500, 502, 503, 504})


class HttpStatusError(FetchError):
    """The server answered with an error status that retrying will not mend (or retries ran out)."""

    def __init__(self, message: str, status: int, detail: str) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


def get_json(
    client: httpx.Client,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    what: str,
    attempts: int = 4,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    decode: Callable[[bytes], Any] | None = None,
) -> Any:
    """GET ``url`` and decode its JSON body (with ``decode`` if given: it raises ValueError on a body that is not JSON).

    Connection errors, timeouts and 5xx answers are retried ``attempts`` times in all, waiting
    ``backoff * 2**k`` seconds between tries; any other error status fails at once. Every failure
    raises :class:`FetchError` (or :class:`HttpStatusError`) whose message names ``what`` and the URL
    without its credentials (``reports.redact``), never the query's headers (they may hold a token).
    """
    shown = redact_url(url)
    last: str = ""
    for attempt in range(attempts):
        if attempt:
            sleep(backoff * 2 ** (attempt - 1))
        try:
            response = client.get(url, params=params, headers=headers)
        except httpx.TimeoutException:
            last = "timed out"
            continue
        except httpx.TransportError as exc:
            last = f"could not connect ({type(exc).__name__})"
            continue
        except httpx.RequestError as exc:  # an undecodable body, too many redirects
            last = f"answered unreadably ({type(exc).__name__})"
            continue
        if response.status_code in RETRY_STATUSES:
            last = f"answered {response.status_code}{_detail(response)}"
            if attempt + 1 < attempts:
                continue
            raise HttpStatusError(
                f"{what} at {shown} {last} after {_tries(attempts)}", response.status_code, _detail(response)
            )
        if response.status_code >= 400:
            raise HttpStatusError(
                f"{what} at {shown} answered {response.status_code}{_detail(response)}",
                response.status_code,
                _detail(response),
            )
        try:
            return (decode or decode_json)(response.content)
        except ValueError:
            raise FetchError(f"{what} at {shown} answered with a body that is not JSON") from None
    raise FetchError(f"{what} at {shown} {last} after {_tries(attempts)}")


def _tries(n: int) -> str:
    return "1 try" if n == 1 else f"{n} tries"


def decode_json(content: bytes) -> Any:
    """JSON, fast; the standard library's reading of NaN and Infinity (which orjson refuses) as a fallback."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def _detail(response: httpx.Response) -> str:
    try:
        body = decode_json(response.content)
    except ValueError:
        return ""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return f": {body['error'][:200]}"
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return f": {body['detail'][:200]}"
    return ""
