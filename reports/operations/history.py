"""The history behind a report: the store of closed days kept up to date, and the report day's own fills.

A run reads from the trading service only what the store does not hold: the report day, the last hour of
the day before (where late fills land: compared with the stored copy), and, on a first run or after days
without a run, the missing days one by one, oldest first, each stored as soon as it is closed. Memory is
set by the largest day, not by the length of the history, and a run killed half-way resumes from the last
day it stored. An answer with fewer fills than the store holds for a day is never taken for the truth.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from reports.calendar import TradingDay, is_partial, trading_day
from reports.closed_days import AgentDay, ClosedDay, EngineState
from reports.errors import FetchError
from reports.logs import status_line
from reports.models import Fills, FundingEvents
from reports.numbers.closing import close_day
from reports.numbers.engine import Replay
from reports.operations.funding import FundingReader
from reports.settings import Settings
from reports.sources.store import DayStore, fills_digest, unavailable
from reports.sources.stores import open_store
from reports.sources.trading_service import TradingService

OVERLAP = timedelta(hours=1)
"""The last hour of the day before the first one read is read again and compared with the stored copy."""
EARLIEST = date(2000, 1, 1)
"""Where the search for the first day with a fill starts."""
PROGRESS_EVERY = 30
"""A plain log line every this many days stored (a terminal also gets a bar redrawn in place)."""
STORE_EVERY = 10
"""A first run stores its days this many at a time (one transaction, one sync to disk), or every second."""
STORE_SECONDS = 1.0

log = logging.getLogger("reports")


class DataLossError(FetchError):
    """The trading service answered with fewer fills than it had given for days already stored (exit 1).

    Its database may be down: the real service then answers 200 with no rows. No report goes out on it.
    """


@dataclass(frozen=True)
class DayInput:
    """What the report of one day needs: the closed days before it, the engine at its start, its fills."""

    past: list[tuple[date, tuple[AgentDay, ...]]]
    closed: list[ClosedDay]
    """The stored days before the report day, oldest first (``past`` is their per-agent rows)."""
    start: EngineState
    fills: Fills
    stored: ClosedDay | None
    """The report day's own stored copy, when it is a day stored before (a re-run)."""
    warnings: tuple[str, ...]
    fills_read: int
    funding: Mapping[str, FundingEvents] | None
    """The funding events of the report day's symbols; None when they could not be read."""


def _lost(service: TradingService, first: date, last: date, got: int, stored: int, part: str = "") -> DataLossError:
    span = part + (first.isoformat() if first == last else f"{first}..{last}")
    return DataLossError(
        f"the trading service at {service.base_url} returned {got:,} fills for {span}; the stored copy has "
        f"{stored:,}: its database may be down (it then answers with no rows while /healthz says running). "
        "Check the service and its database, then run again; if fills were really removed upstream, "
        f"run with --rebuild-from {first}"
    )


class History:
    """Keeps ``store`` up to date from ``service`` for reports in ``timezone``."""

    def __init__(self, service: TradingService, store: DayStore, timezone: str) -> None:
        self.service, self.store, self.timezone = service, store, timezone
        self.warnings: list[str] = []
        self.fills_read = 0
        self.funding: FundingReader | None = None
        """Set by :meth:`prepare` for the report day it prepares (events up to that day's end)."""

    def _read(self, start: datetime, end: datetime) -> Fills:
        result = self.service.fills(end=end, start=start)
        self.warnings.extend(result.warnings)
        self.fills_read += len(result.fills)
        return result.fills

    def _closed(self, d: date, fills: Fills, before: ClosedDay | None) -> ClosedDay:
        known = [row.agent_id for row in before.agents] if before else []
        start = before.state if before else EngineState()
        day = trading_day(d, self.timezone)
        funding = self.funding.for_day(day, fills, start) if self.funding else None
        return self.closed_day(d, fills, known, start, funding)[0]

    def closed_day(
        self,
        d: date,
        fills: Fills,
        known: list[str],
        start: EngineState,
        funding: Mapping[str, FundingEvents] | None,
        *,
        intraday: bool = False,
    ) -> tuple[ClosedDay, Replay]:
        """Day ``d`` closed from its own fills and funding events, starting from ``start`` with the agents ``known``
        before it, and its replay (``intraday``: with the report's intraday snapshots,
        :func:`~reports.numbers.closing.close_day`)."""
        day = trading_day(d, self.timezone)
        rows, symbols, result = close_day(fills, day, start, known, funding, intraday=intraday)
        tail = fills.since(day.end - OVERLAP)
        closed = ClosedDay(
            d, rows, symbols, result.state, len(fills), fills_digest(fills), len(tail), fills_digest(tail)
        )
        return closed, result

    def first_day(self, until: TradingDay) -> date | None:
        """The first day (in the report's zone) with a fill before the end of ``until``; None when there is none."""
        if self.service.newest_before(until.end) is None:
            return None
        lo, hi = EARLIEST, until.date  # invariant: a fill before the end of hi; none before the start of lo
        if self.service.newest_before(trading_day(lo, self.timezone).start) is not None:
            return lo
        while lo < hi:
            mid = lo + (hi - lo) // 2
            if self.service.newest_before(trading_day(mid, self.timezone).end) is None:
                lo = mid + timedelta(days=1)
            else:
                hi = mid
        return lo

    def _check_tail(self, days: list[ClosedDay]) -> list[ClosedDay]:
        """Read the last day's last hour again; on a difference, that day is read whole and closed anew."""
        last = days[-1]
        day = trading_day(last.date, self.timezone)
        tail = self._read(day.end - OVERLAP, day.end)
        if len(tail) == last.tail_fills and fills_digest(tail) == last.tail_digest:
            return days
        if len(tail) < last.tail_fills:
            raise _lost(self.service, last.date, last.date, len(tail), last.tail_fills, "the last hour of ")
        fills = self._read(day.start, day.end)
        if len(fills) < last.fills:
            raise _lost(self.service, last.date, last.date, len(fills), last.fills)
        self.store.drop_from(last.date)
        fresh = self._closed(last.date, fills, days[-2] if len(days) > 1 else None)
        self.store.put([fresh])
        self.warnings.append(
            f"the trading service's fills of {last.date} differ from the stored copy (a late fill or a correction): "
            "that day and the ones after it were computed again"
        )
        return [*days[:-1], fresh]

    def catch_up(self, days: list[ClosedDay], first: date, last: date) -> list[ClosedDay]:
        """Read, close and store every day from ``first`` to ``last``, oldest first, showing progress."""
        total = (last - first).days + 1
        if total <= 0:
            return days
        started = time.monotonic()
        log.info("reading %d day(s) of history from the trading service: %s to %s", total, first, last)
        stream = sys.stderr
        pending: list[ClosedDay] = []
        stored_at = time.monotonic()
        with status_line(stream) as line, _flushed(self.store, pending):
            for k in range(total):
                d = first + timedelta(days=k)
                day = trading_day(d, self.timezone)
                fills = self._read(day.start, day.end)
                closed = self._closed(d, fills, days[-1] if days else None)
                pending.append(closed)
                days.append(closed)
                # A few days a transaction: a day's sync to disk costs as much as closing it. A run killed
                # half-way still resumes from the last days stored, at most a second's work behind.
                now = time.monotonic()
                if (k + 1) % STORE_EVERY == 0 or k + 1 == total or now - stored_at >= STORE_SECONDS:
                    self.store.put(pending)
                    pending.clear()
                    stored_at = now
                if stream.isatty():
                    done = int(24 * (k + 1) / total)
                    line.show(f"history [{'#' * done}{'-' * (24 - done)}] {k + 1}/{total} {d} ")
                if (k + 1) % PROGRESS_EVERY == 0 or k + 1 == total:
                    log.info(
                        "history: %d/%d day(s) stored, up to %s (%s fills read, %.0f s)",
                        k + 1,
                        total,
                        d,
                        f"{self.fills_read:,}",
                        time.monotonic() - started,
                    )
        return days

    def _complete_funding(self, days: list[ClosedDay]) -> list[ClosedDay]:
        """Stored days closed without their funding get it now, when it can be read: their fills are read again
        (a day whose fills changed meanwhile is dropped with the days after it, to be read again)."""
        assert self.funding is not None
        unknown = [i for i, d in enumerate(days) if not d.funding_known]
        if not unknown:
            return days
        # Still unavailable? Then the days' fills are not read again: a run against a service without funding
        # costs what it did before, however many days wait for their funding.
        first = days[unknown[0]]
        held = days[unknown[0] - 1].state.positions if unknown[0] else ()
        symbols = {s.symbol for s in first.symbols} | {s for _, s, q, _ in held if q != 0.0}
        if not self.funding.readable(symbols, trading_day(first.date, self.timezone).start):
            return days
        completed: list[ClosedDay] = []
        for i, stored in enumerate(days):
            if stored.funding_known:
                continue
            day = trading_day(stored.date, self.timezone)
            fills = self._read(day.start, day.end)
            if len(fills) < stored.fills:
                raise _lost(self.service, stored.date, stored.date, len(fills), stored.fills)
            if fills_digest(fills) != stored.digest:
                self.store.drop_from(stored.date)
                days = days[:i]
                break
            fresh = self._closed(stored.date, fills, days[i - 1] if i else None)
            if not fresh.funding_known:
                break
            days[i] = fresh
            completed.append(fresh)
        if completed:
            self.store.put(completed)
            first, last = completed[0].date, completed[-1].date
            span = first.isoformat() if first == last else f"{first}..{last}"
            self.warnings.append(
                f"funding of {span} was read now and added to the stored days: their P&L includes it from this "
                "report on"
            )
        return days

    def prepare(self, day: TradingDay) -> DayInput:
        """Bring the store up to the day before ``day`` (completing the funding of stored days without it) and read
        ``day``'s own fills and funding events."""
        self.funding = FundingReader(self.service, day.end)
        before = day.date - timedelta(days=1)
        days, warnings = self.store.load(until=before)
        self.warnings.extend(warnings)
        if days:
            days = self._complete_funding(days)
            self.funding.missing.extend(d.date for d in days if not d.funding_known)
        if days:
            days = self._check_tail(days)
            days = self.catch_up(days, days[-1].date + timedelta(days=1), before)
        else:
            first = self.first_day(trading_day(before, self.timezone))
            if first is not None:
                days = self.catch_up(days, first, before)
        fills = self._read(day.start, day.end)
        stored = self.store.get(day.date)
        if stored is not None and len(fills) < stored.fills:
            raise _lost(self.service, day.date, day.date, len(fills), stored.fills)
        history_fills = sum(d.fills for d in days)
        if not len(fills) and history_fills and self.service.newest_before(day.start) is None:
            raise _lost(self.service, days[0].date, day.date, 0, history_fills)
        start = days[-1].state if days else EngineState()
        funding = self.funding.for_day(day, fills, start)
        self.warnings.extend(self.funding.warnings)
        missing = self.funding.missing_warning()
        if missing:
            self.warnings.append(missing)
        return DayInput(
            past=[(d.date, d.agents) for d in days],
            closed=days,
            start=start,
            fills=fills,
            stored=stored,
            warnings=tuple(self.warnings),
            fills_read=self.fills_read,
            funding=funding,
        )

    def close(self, day: TradingDay, given: DayInput) -> tuple[ClosedDay, Replay, str | None]:
        """The report day closed (it has ended) and stored; a stored copy that differs is replaced and the days
        after it dropped, to be computed again. Returns the day, its replay with the intraday snapshots (for
        ``build_report_from(..., replay=)``: the day is not replayed twice) and a warning for the reader.

        A partial day (the day so far, :func:`~reports.numbers.closing.is_partial`) is refused: it is never stored."""
        if is_partial(day):
            raise ValueError(f"{day.date} is cut at {day.end.isoformat()}: the day so far is never stored")
        known = [row.agent_id for row in given.past[-1][1]] if given.past else []
        fresh, result = self.closed_day(day.date, given.fills, known, given.start, given.funding, intraday=True)
        if (
            given.stored is not None
            and given.stored.digest == fresh.digest
            and (given.stored.funding_known or not fresh.funding_known)
        ):
            return fresh, result, None
        try:
            if given.stored is not None:
                self.store.drop_from(day.date)
            self.store.put([fresh])
        except sqlite3.Error as exc:
            return (
                fresh,
                result,
                f"could not store {day.date} in {self.store.path} ({exc}): the next run reads it again",
            )
        if given.stored is None or given.stored.digest == fresh.digest:  # new, or its funding completed
            return fresh, result, None
        return (
            fresh,
            result,
            (
                f"the trading service's fills of {day.date} differ from the stored copy: the stored day was replaced "
                "and the days after it will be computed again"
            ),
        )


@contextmanager
def opened_history(
    settings: Settings, service: TradingService, *, rebuild: bool = False, rebuild_from: date | None = None
) -> Iterator[History]:
    """The store of closed days of ``service`` in the settings' zone, opened, with a :class:`History` on it.

    ``rebuild`` forgets every stored day first, ``rebuild_from`` those from that date on. A SQLite error inside
    (a full disk, a lock held too long) is the store's one line (:func:`~reports.sources.store.unavailable`).
    """
    store, warnings = open_store(settings.state_dir, service.base_url, settings.timezone, settings.state_url)
    with store:
        try:
            if rebuild or rebuild_from is not None:
                dropped = store.drop_from(date.min if rebuild else rebuild_from)  # type: ignore[arg-type]
                log.info("store: %d stored day(s) dropped, to be read again", dropped)
            history = History(service, store, settings.timezone)
            history.warnings.extend(warnings)
            yield history
        except sqlite3.Error as exc:
            raise unavailable(store.path, exc) from None


@contextmanager
def _flushed(store: DayStore, pending: list[ClosedDay]) -> Iterator[None]:
    """On the way out (an error reading a later day included), store the days closed and not stored yet."""
    try:
        yield
    finally:
        if pending:
            store.put(pending)
            pending.clear()


def utc_now() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)
