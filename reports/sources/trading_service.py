"""The fetch stage: reads fills and agent display data from the trading service (CONTRACT 1.1).

Fills are read newest first, paging backwards: each next page ends at the oldest timestamp seen so
far (bounds are inclusive, so that timestamp is asked for again) and ids already read are dropped.
Pages are decoded into columns (:mod:`reports.sources.fill_decode`); malformed rows are dropped and counted,
never silently (:mod:`reports.sources.fill_rows`). The day's fills are held once, as numpy columns per page,
and put together into the frame once at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd

from reports.errors import FetchError
from reports.models import AgentInfo, FetchResult, Fills, FundingEvents
from reports.sources.day_columns import DayColumns
from reports.sources.fill_decode import TypedPage, decode_history, typed_page
from reports.sources.fill_rows import Drops, Page, frame_of, page_from_rows
from reports.sources.funding import read_funding
from reports.sources.http import DEFAULT_TIMEOUT, get_json
from reports.sources.seen_ids import SeenIds, new_rows
from reports.sources.transport import transport_for

HISTORY_START = datetime(1970, 1, 1, tzinfo=UTC)
"""The history is every fill the service holds: ask from the epoch."""
HISTORY_PATH = "/api/trades/history"


@dataclass(frozen=True)
class FillPage:
    """One page of fills as the service answered it: the well-formed ones, how many rows came, the drops."""

    fills: Fills
    rows: int
    warnings: tuple[str, ...] = ()

    @property
    def newest(self) -> datetime | None:
        """The newest fill's timestamp, or None for a page without a well-formed fill."""
        stamps = self.fills.frame["ts"].to_numpy()
        return pd.Timestamp(int(stamps.max()), tz="UTC").to_pydatetime() if len(stamps) else None


class TradingService:
    """Client of the trading service's read API."""

    def __init__(
        self,
        base_url: str,
        *,
        page_limit: int = 5000,
        attempts: int = 4,
        backoff: float = 0.5,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.page_limit = page_limit
        self.attempts = attempts
        self.backoff = backoff
        self._client = httpx.Client(timeout=timeout, transport=transport or transport_for(self.base_url))

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> TradingService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        """GET ``path`` and decode its JSON, with the client's retries (``attempts=`` overrides them)."""
        return get_json(
            self._client,
            self.base_url + path,
            params=params,
            what="the trading service",
            attempts=kw.pop("attempts", self.attempts),
            backoff=self.backoff,
            **kw,
        )

    def _history(self, start: datetime, end: datetime, limit: int, drops: Drops) -> Page:
        """``GET /api/trades/history``: one page, newest first, ``start <= timestamp <= end``, its malformed
        rows dropped into ``drops``."""
        body = self._get(
            HISTORY_PATH,
            {"start_date": _iso(start), "end_date": _iso(end), "limit": limit},
            decode=decode_history,
        )
        if isinstance(body, TypedPage):
            return typed_page(body, drops)
        raw = body.get("trades") if isinstance(body, dict) else None
        if not isinstance(raw, list):
            raise FetchError(f"the trading service at {self.base_url}{HISTORY_PATH} answered without a 'trades' list")
        return page_from_rows(raw, drops)

    def healthz(self) -> dict[str, Any]:
        """``GET /healthz``: running, paper_trading, last_error."""
        body = self._get("/healthz")
        if not isinstance(body, dict):
            raise FetchError(f"the trading service at {self.base_url}/healthz answered an unexpected body")
        return body

    def agents(self) -> dict[str, AgentInfo]:
        """Display names and emoji from ``/dashboard``; empty when it does not answer (it often answers 500)."""
        try:
            body = self._get("/dashboard", attempts=1)
        except FetchError:
            return {}
        out: dict[str, AgentInfo] = {}
        items = body.get("agents") if isinstance(body, dict) else None
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            name, emoji = item.get("name"), item.get("emoji")
            out[item["id"]] = AgentInfo(
                item["id"], name if isinstance(name, str) else None, emoji if isinstance(emoji, str) else None
            )
        return out

    def funding(self, symbol: str, start: datetime, end: datetime) -> tuple[FundingEvents, list[str]]:
        """The funding events of ``symbol`` with ``start <= fundingTime < end``, paged forward
        (:func:`reports.sources.funding.read_funding`); :class:`FundingUnavailable` when they cannot be read.

        Tried twice, not four times: a service without an exchange connection answers 503 on every try."""
        tries = min(2, self.attempts)
        return read_funding(
            lambda path, params: self._get(path, params, attempts=tries), self.base_url, symbol, start, end
        )

    def fills(self, end: datetime, start: datetime = HISTORY_START) -> FetchResult:
        """Every fill with ``start <= timestamp < end``, in replay order, with drops counted in warnings."""
        start_ns, end_ns = _ns(start), _ns(end)
        # id -> fingerprint of the row first read with it: pages overlap at their boundaries.
        seen = SeenIds()
        gathered = DayColumns()
        drops = Drops()
        cursor = end
        cursor_ns = end_ns
        while True:
            page = self._history(start, cursor, self.page_limit, drops)
            if not page.served:
                break
            fresh_idx = new_rows(page, seen, drops)
            if not len(page.ids if fresh_idx is None else fresh_idx):
                if self._exhausted(page, start, cursor, cursor_ns):
                    break
                raise FetchError(
                    f"the trading service at {self.base_url} returned no new fill for end_date={_iso(cursor)} "
                    f"although older fills exist: {page.served} or more fills share that timestamp (a full page; "
                    "some may be hidden behind it), or the service ignores end_date. Raise the service's page "
                    "limit, or check its paging"
                )
            fresh = page.columns
            stamps = fresh["ts"]
            inside = (stamps >= start_ns) & (stamps < end_ns) if len(stamps) else None
            if inside is not None and not inside.all():
                fresh_idx = np.flatnonzero(inside) if fresh_idx is None else fresh_idx[inside[fresh_idx]]
            if fresh_idx is not None:
                fresh = {name: column[fresh_idx] for name, column in fresh.items()}
            gathered.add(fresh)
            oldest = int(page.ts.min())
            if oldest < start_ns:
                break
            cursor_ns = oldest
            cursor = pd.Timestamp(oldest, tz="UTC").to_pydatetime()
        return FetchResult(fills=Fills(frame_of(gathered.in_replay_order())), warnings=drops.warnings())

    def page_before(self, end: datetime, *, start: datetime = HISTORY_START, limit: int | None = None) -> FillPage:
        """One page of the newest fills before ``end`` (and from ``start`` on): at most ``limit`` (default the
        client's page limit), as the service answered them, malformed rows dropped and counted."""
        drops = Drops()
        page = self._history(start, end - timedelta(microseconds=1), self.page_limit if limit is None else limit, drops)
        return FillPage(Fills.from_frame(frame_of(page.columns)), page.served, drops.warnings())

    def newest_before(self, end: datetime) -> datetime | None:
        """The timestamp of the newest fill strictly before ``end``, or None when the service has none."""
        return self.page_before(end, limit=1).newest

    def _exhausted(self, page: Page, start: datetime, cursor: datetime, cursor_ns: int) -> bool:
        """A page with nothing new ends the range only if it sits at the cursor and nothing is older.

        Otherwise paging is stuck: the service cannot page past the fills at the cursor.
        """
        if len(page.ts) and not bool(np.all(page.ts == cursor_ns)):
            return False
        return not self._history(start, cursor - timedelta(microseconds=1), 1, Drops()).served


def _ns(ts: datetime) -> int:
    return int(pd.Timestamp(ts).value)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()
