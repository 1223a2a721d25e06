"""The funding events of a symbol from the trading service (CONTRACT 1.1, ``/api/exchange/funding-rate``).

The endpoint relays the exchange's events oldest first, both bounds inclusive, at most ``limit`` (≤ 1000) a page:
when more lie in the range, the *first* ``limit`` from ``start_time`` come back, so the reader pages forward from
the last event seen. Event times come from the rows (8, 4 or 1 hour, and changing): never from a rule.

A service without an exchange connection answers 503, an older one 404, an exchange error 500: the events are then
:class:`FundingUnavailable` and the report says its P&L excludes funding, never a guessed 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np

from reports.errors import FetchError
from reports.models import FundingEvents

FUNDING_PATH = "/api/exchange/funding-rate"
PAGE_LIMIT = 1000
"""The exchange's own maximum."""
MAX_PAGES = 1000
"""A guard against a server that keeps answering: 1000 pages of 1000 events is 900 years of 8-hour funding."""


class FundingUnavailable(FetchError):
    """The funding events could not be read (404, 503, 5xx, a timeout, a body that is no list of events)."""


def _ms(moment: datetime) -> int:
    return math.floor(moment.timestamp() * 1000)


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_funding(
    get: Callable[[str, dict[str, Any]], Any], base_url: str, symbol: str, start: datetime, end: datetime
) -> tuple[FundingEvents, list[str]]:
    """Every funding event of ``symbol`` with ``start <= fundingTime < end``, and warnings for rows left out.

    ``get(path, params)`` is the trading-service client's JSON GET (with its retries); its errors become
    :class:`FundingUnavailable`.
    """
    lo, hi = _ms(start), _ms(end) - 1  # the endpoint's bounds are inclusive; the span's end is not
    times: list[int] = []
    rates: list[float] = []
    marks: list[float] = []
    dropped = unusable = 0
    cursor = lo
    for _ in range(MAX_PAGES):
        if cursor > hi:
            break
        params = {"symbol": symbol, "start_time": cursor, "end_time": hi, "limit": PAGE_LIMIT}
        try:
            page = get(FUNDING_PATH, params)
        except FetchError as exc:
            raise FundingUnavailable(f"funding events of {symbol} could not be read: {exc}") from None
        if not isinstance(page, list):
            raise FundingUnavailable(
                f"funding events of {symbol}: the trading service at {base_url}{FUNDING_PATH} answered "
                "something that is not a list of events"
            )
        newest = cursor - 1
        for row in page:
            t = row.get("fundingTime") if isinstance(row, dict) else None
            if isinstance(t, bool) or not isinstance(t, int):
                dropped += 1
                continue
            newest = max(newest, t)
            if row.get("symbol") != symbol or not lo <= t <= hi:
                dropped += 1
                continue
            rate, mark = _number(row.get("fundingRate")), _number(row.get("markPrice"))
            if rate is None or mark is None or mark <= 0:
                unusable += 1
                continue
            if times and t <= times[-1]:
                if t == times[-1]:
                    continue  # the same event again, at a page boundary
                raise FundingUnavailable(
                    f"funding events of {symbol}: the trading service at {base_url}{FUNDING_PATH} answered "
                    "events out of time order"
                )
            times.append(t)
            rates.append(rate)
            marks.append(mark)
        if len(page) < PAGE_LIMIT:
            break
        if newest < cursor:
            raise FundingUnavailable(
                f"funding events of {symbol}: the trading service at {base_url}{FUNDING_PATH} answered a full page "
                f"with no event at or after start_time={cursor}: it does not page forward"
            )
        cursor = newest + 1
    else:
        raise FundingUnavailable(f"funding events of {symbol}: over {MAX_PAGES} pages, the service keeps answering")
    if unusable:
        # Leaving an event out would understate the funding paid: the symbol's funding is unknown instead.
        raise FundingUnavailable(
            f"funding events of {symbol}: {unusable} event(s) without a usable rate or mark price at "
            f"{base_url}{FUNDING_PATH}"
        )
    warnings = []
    if dropped:
        warnings.append(
            f"{dropped} funding event row(s) of {symbol} left out (no time, another symbol, or outside the range "
            "asked for)"
        )
    events = FundingEvents(
        symbol,
        np.asarray(times, dtype=np.int64) * 1_000_000,
        np.asarray(rates, dtype=np.float64),
        np.asarray(marks, dtype=np.float64),
    )
    return events, warnings
