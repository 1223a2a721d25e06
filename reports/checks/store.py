"""``report check``'s line for the store of closed days: yesterday's fills against the stored copy.

The real trading service answers 200 with no rows when its database is down, and its ``/healthz`` still says
running: only a comparison with what was read before tells. One page of yesterday's fills is read; when it is
empty, one fill before now is asked for, since a day without fills is no proof of a loss.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx

from reports.calendar import trading_day, yesterday
from reports.checks.lines import CheckLine, trading_client
from reports.errors import FetchError
from reports.settings import Settings
from reports.sources.store import DayStore, StoreError, store_path
from reports.sources.trading_service import TradingService

PAGE = 1000
STREAK_DAYS = 5
LINK = "store of closed days"


def store_lines(settings: Settings, http: httpx.Client, now: datetime, timeout: float) -> Iterator[CheckLine]:
    """One line: the stored days, and yesterday's first page of fills against the stored count."""
    del http  # the trading service is read through its own client
    if settings.state_url:
        yield from _database_store_lines(settings, now, timeout)
        return
    path = store_path(settings.state_dir, settings.trading_service_url, settings.timezone)
    if not path.exists():
        yield CheckLine(LINK, "ok", f"{path}: empty: the first run reads the whole history, one day at a time")
        return
    try:
        store = DayStore(path)
    except StoreError as exc:
        yield CheckLine(LINK, "warn", f"{exc}: the next run sets it aside and reads every day again")
        return
    with store, trading_client(settings, timeout) as service:
        try:
            yield _compare(store, service, path, settings.timezone, now)
        except FetchError:  # the trading service's own line says what is wrong
            yield CheckLine(LINK, "ok", f"{path}: not compared with the service, which could not be read")


def _database_store_lines(settings: Settings, now: datetime, timeout: float) -> Iterator[CheckLine]:
    """The same line for the store in ``REPORT_STATE_URL``; a database that cannot be used fails it."""
    from reports.sources.store_pg import PgDayStore
    from reports.statedb import StateDbError

    try:
        store, _ = PgDayStore.open(settings.state_url or "", settings.trading_service_url, settings.timezone)
    except StateDbError as exc:
        yield CheckLine(LINK, "fail", str(exc))
        return
    with store, trading_client(settings, timeout) as service:
        try:
            yield _compare(store, service, store.path, settings.timezone, now)  # type: ignore[arg-type]
        except StateDbError as exc:
            yield CheckLine(LINK, "fail", str(exc))
        except FetchError:
            yield CheckLine(LINK, "ok", f"{store.path}: not compared with the service, which could not be read")


def database_line(settings: Settings) -> CheckLine:
    """``report check``'s line for the state database: it answers, its schema is ready, a write commits."""
    from reports.delivery.record_stores import records_for
    from reports.errors import DeliveryError
    from reports.statedb import where

    link = f"state database {where(settings.state_url or '')}"
    store = records_for(settings)
    try:
        store.check_writable()
    except DeliveryError as exc:
        return CheckLine(link, "fail", str(exc))
    finally:
        store.close()
    return CheckLine(link, "ok", "writable (REPORT_STATE_URL: the store of closed days and the delivery records)")


def _compare(store: DayStore, service: TradingService, path: Path, timezone: str, now: datetime) -> CheckLine:
    """The line for a store that opens: yesterday's page of fills, or the whole history, against it."""
    dates = store.dates()
    last = yesterday(timezone, now)
    day = trading_day(last, timezone)
    got = service.page_before(day.end, start=day.start, limit=PAGE).rows
    span = f"{path}: {len(dates)} day(s) stored" + (f", {dates[0]} to {dates[-1]}" if dates else "")
    stored = store.get(last)
    if stored is not None and got < min(stored.fills, PAGE):
        return CheckLine(
            LINK,
            "fail",
            f"{span}; the trading service returns {got} fills for {last}, the stored copy has "
            f"{stored.fills:,}: its database may be down (it answers no rows while /healthz says running); check the "
            "service and its database, then run again",
        )
    if got == 0:
        held = _stored_fills(store, dates)
        if held and service.newest_before(now) is None:
            return CheckLine(
                LINK,
                "fail",
                f"{span}, {held:,} fills; the trading service at {service.base_url} returns no fill at all before "
                "now: its database may be down (it then answers with no rows while /healthz says running). Check "
                "the service and its database, then run again; if fills were really removed upstream, run the "
                f"report with --rebuild-from {dates[0]}",
            )
    before = [store.get(last - timedelta(days=k)) for k in range(1, STREAK_DAYS + 1)]
    if got == 0 and all(d is not None and d.fills > 0 for d in before):
        return CheckLine(
            LINK,
            "warn",
            f"{span}; no fill on {last} after fills on each of the {STREAK_DAYS} days before: "
            "check that the trading service records trades",
        )
    shown = f"{got}" if got < PAGE else f"{PAGE} or more"
    compare = f", stored {stored.fills:,}" if stored is not None else ", not stored yet"
    return CheckLine(LINK, "ok", f"{span}; {last}: the service returns {shown} fills{compare}")


def _stored_fills(store: DayStore, dates: list[date]) -> int:
    """How many fills the stored days hold (a day that does not check out counts none)."""
    return sum(closed.fills for closed in map(store.get, dates) if closed is not None)
