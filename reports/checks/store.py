"""``report check``'s line for the store of closed days: yesterday's fills against the stored copy.

The real trading service answers 200 with no rows when its database is down, and its ``/healthz`` still says
running: only a comparison with what was read before tells. One page of yesterday's fills is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from reports.calendar import trading_day
from reports.checks.run import CheckLine
from reports.errors import FetchError
from reports.settings import Settings
from reports.sources.http import get_json
from reports.sources.store import DayStore, StoreError, store_path

PAGE = 1000
STREAK_DAYS = 5


def store_lines(settings: Settings, http: httpx.Client, now: datetime, timeout: float) -> Iterator[CheckLine]:
    """One line: the stored days, and yesterday's first page of fills against the stored count."""
    del timeout
    url = settings.trading_service_url.rstrip("/")
    path = store_path(settings.state_dir, url, settings.timezone)
    link = "store of closed days"
    if not path.exists():
        yield CheckLine(link, "ok", f"{path}: empty: the first run reads the whole history, one day at a time")
        return
    try:
        store = DayStore(path)
    except StoreError as exc:
        yield CheckLine(link, "warn", f"{exc}: the next run sets it aside and reads every day again")
        return
    with store:
        dates = store.dates()
        yesterday = now.astimezone(ZoneInfo(settings.timezone)).date() - timedelta(days=1)
        day = trading_day(yesterday, settings.timezone)
        params = {"start_date": day.start.isoformat(), "end_date": day.end.isoformat(), "limit": PAGE}
        try:
            body = get_json(http, f"{url}/api/trades/history", params=params, what="the trading service", attempts=1)
        except FetchError:  # the trading service's own line says what is wrong
            yield CheckLine(link, "ok", f"{path}: not compared with the service, which could not be read")
            return
        rows = body.get("trades") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            yield CheckLine(link, "fail", f"one page of {yesterday}'s fills: the answer has no 'trades' list")
            return
        got = len(rows)
        span = f"{path}: {len(dates)} day(s) stored" + (f", {dates[0]} to {dates[-1]}" if dates else "")
        stored = store.get(yesterday)
        if stored is not None and got < min(stored.fills, PAGE):
            yield CheckLine(
                link,
                "fail",
                f"{span}; the trading service returns {got} fills for {yesterday}, the stored copy has "
                f"{stored.fills:,}: its database may be down (it answers no rows while /healthz says running)",
            )
            return
        before = [store.get(yesterday - timedelta(days=k)) for k in range(1, STREAK_DAYS + 1)]
        if got == 0 and all(d is not None and d.fills > 0 for d in before):
            yield CheckLine(
                link,
                "warn",
                f"{span}; no fill on {yesterday} after fills on each of the {STREAK_DAYS} days before: "
                "check that the trading service records trades",
            )
            return
        shown = f"{got}" if got < PAGE else f"{PAGE} or more"
        compare = f", stored {stored.fills:,}" if stored is not None else ", not stored yet"
        yield CheckLine(link, "ok", f"{span}; {yesterday}: the service returns {shown} fills{compare}")
