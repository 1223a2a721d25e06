"""Reconciliation: the day's exchange ledger against the P&L computed from the fills (CONTRACT 1.1, 4).

The trading service's admin endpoint ``/api/exchange/income`` relays the exchange's income rows. Over the
trading day, Σ ``REALIZED_PNL`` is compared with the report's realized P&L, −Σ ``COMMISSION`` with its fees and
Σ ``FUNDING_FEE`` with its funding (when the funding events were read); any apart by more than max(1 USDT, 1 % of
the report's figure) is a mismatch. The ledger books a funding payment up to a minute after its event, so an event
of the day is booked inside it (events are on the hour, and one at the day's end belongs to the next day).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from reports.calendar import TradingDay
from reports.errors import FetchError
from reports.settings import Settings
from reports.sources.http import HttpStatusError, get_json

INCOME_PATH = "/api/exchange/income"
PAGE_LIMIT = 1000  # the exchange's own maximum
MAX_PAGES = 500  # a guard against a server that keeps answering the same page in new clothes
ABS_TOLERANCE = 1.0  # USDT
REL_TOLERANCE = 0.01
LEDGER_ASSET = "USDT"


@dataclass(frozen=True, slots=True)
class IncomeRow:
    """One validated row of the exchange's income ledger."""

    income_type: str
    income: float
    asset: str
    time_ms: int
    key: tuple[str, ...]
    """What tells two rows apart when pages overlap (tranId alone is shared by some venues' paired rows)."""


def reconcile(
    settings: Settings,
    day: TradingDay,
    realized_pnl: float,
    fees: float,
    funding_pnl: float | None = None,
    *,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
) -> tuple[str, list[str]]:
    """Compare the day's exchange income with the report's realized P&L, fees and funding (None: not read, so
    the ledger's funding is only shown).

    Returns ``(status, warnings)``: ``"ok"``, ``"mismatch"`` (both figures in a warning), ``"not configured"``
    (``ADMIN_API_TOKEN`` unset: nothing is requested) or ``"unavailable"`` (the service could not be read; the
    report still goes out).
    Raises :class:`FetchError` when the service rejects the token (401/403): that needs a person, not a retry.
    """
    if settings.admin_api_token is None:
        return "not configured", []
    own = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))
    headers = {"Authorization": f"Bearer {settings.admin_api_token.reveal()}"}
    try:
        ledger = {
            kind: fetch_income(http, settings.trading_service_url, headers, kind, day)
            for kind in ("REALIZED_PNL", "COMMISSION", "FUNDING_FEE")
        }
    except HttpStatusError as exc:
        if exc.status in (401, 403):
            raise FetchError(
                f"the trading service rejected ADMIN_API_TOKEN ({exc.status}) at {settings.trading_service_url}"
                f"{INCOME_PATH}: set the service's admin token, or unset ADMIN_API_TOKEN to skip reconciliation"
            ) from None
        return "unavailable", [_unavailable(exc)]
    except FetchError as exc:
        return "unavailable", [_unavailable(exc)]
    finally:
        if own:
            http.close()
    return compare(ledger, realized_pnl, fees, funding_pnl)


def check(settings: Settings, *, timeout: float = 5.0) -> tuple[str, str]:
    """One line for ``report check``: does the service accept ``ADMIN_API_TOKEN`` on the income endpoint.

    ``fail`` only for a rejected token, which stops a run too; an endpoint that cannot be read is ``warn``,
    since a run then goes out with reconciliation ``unavailable``.
    """
    if settings.admin_api_token is None:
        return "ok", "Reconciliation: not configured (ADMIN_API_TOKEN unset): the report says it was skipped"
    url = f"{settings.trading_service_url}{INCOME_PATH}"
    now = round(datetime.now(UTC).timestamp() * 1000)
    params = {"income_type": "COMMISSION", "start_time": now - 3_600_000, "end_time": now, "limit": 1}
    headers = {"Authorization": f"Bearer {settings.admin_api_token.reveal()}"}
    with httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0))) as http:
        try:
            get_json(http, url, params=params, headers=headers, what="exchange income", attempts=1)
        except HttpStatusError as exc:
            if exc.status in (401, 403):
                return "fail", f"Reconciliation: the trading service rejected ADMIN_API_TOKEN ({exc.status}) at {url}"
            return "warn", f"Reconciliation: {exc}: the report goes out with reconciliation 'unavailable'"
        except FetchError as exc:
            return "warn", f"Reconciliation: {exc}: the report goes out with reconciliation 'unavailable'"
    return "ok", f"Reconciliation: ADMIN_API_TOKEN accepted at {url}"


def compare(
    ledger: dict[str, list[IncomeRow]], realized_pnl: float, fees: float, funding_pnl: float | None = None
) -> tuple[str, list[str]]:
    """Status and warnings for the ledger rows of each income type against the report's figures; "mismatch"
    names each figure that differs."""
    warnings: list[str] = []
    totals: dict[str, float] = {}
    for kind, rows in ledger.items():
        other = sorted({r.asset for r in rows if r.asset != LEDGER_ASSET})
        if other:
            # Fees paid in BNB (a discount some accounts take) have no USDT amount to compare.
            count = sum(1 for r in rows if r.asset != LEDGER_ASSET)
            warnings.append(f"Reconciliation: {count} {kind} rows in {', '.join(other)} left out (not USDT)")
        totals[kind] = math.fsum(r.income for r in rows if r.asset == LEDGER_ASSET)
    status = "ok"
    checks = [
        ("realized P&L", realized_pnl, totals.get("REALIZED_PNL", 0.0), "Σ REALIZED_PNL"),
        ("fees", fees, -totals.get("COMMISSION", 0.0), "−Σ COMMISSION"),
    ]
    if funding_pnl is not None:
        checks.append(("funding", funding_pnl, totals.get("FUNDING_FEE", 0.0), "Σ FUNDING_FEE"))
    for what, ours, theirs, source in checks:
        tolerance = max(ABS_TOLERANCE, REL_TOLERANCE * abs(ours))
        if abs(theirs - ours) > tolerance:
            status = "mismatch"
            warnings.append(
                f"Reconciliation mismatch: {what} {ours:,.2f} USDT in the report, {theirs:,.2f} USDT on the "
                f"exchange ({source}), {theirs - ours:+,.2f} apart (tolerance {tolerance:,.2f})"
            )
    if funding_pnl is None and ledger.get("FUNDING_FEE"):
        warnings.append(
            f"Funding on the exchange this day (not in the report's P&L, whose funding could not be read): "
            f"{totals['FUNDING_FEE']:+,.2f} USDT"
        )
    return status, warnings


def fetch_income(
    client: httpx.Client, base_url: str, headers: dict[str, str], income_type: str, day: TradingDay
) -> list[IncomeRow]:
    """Every income row of one type in ``[day.start, day.end)``, paging until a page brings nothing new.

    The exchange answers oldest first within ``start_time``..``end_time`` (both inclusive, ms); a relay that
    answers newest first is paged the other way. Rows that share a millisecond across pages are deduplicated.
    """
    lo = _ms(day.start)
    hi = _ms(day.end) - 1
    start, end = lo, hi
    seen: dict[tuple[str, ...], IncomeRow] = {}
    for _ in range(MAX_PAGES):
        params = {"income_type": income_type, "start_time": lo, "end_time": hi, "limit": PAGE_LIMIT}
        body = get_json(
            client, f"{base_url}{INCOME_PATH}", params=params, headers=headers, what="exchange income", attempts=3
        )
        page = _rows(body, income_type)
        fresh = [r for r in page if r.key not in seen]
        if not fresh:
            break
        seen.update((r.key, r) for r in fresh)
        if page[0].time_ms > page[-1].time_ms:
            hi = min(r.time_ms for r in page)
        else:
            lo = max(r.time_ms for r in page)
    else:
        raise FetchError(f"exchange income ({income_type}) did not end after {MAX_PAGES} pages")
    return sorted((r for r in seen.values() if start <= r.time_ms <= end), key=lambda r: (r.time_ms, r.key))


def _rows(body: object, income_type: str) -> list[IncomeRow]:
    if not isinstance(body, list):
        raise FetchError(f"exchange income ({income_type}) answered with something that is not a list of rows")
    rows = []
    for raw in body:
        try:
            if raw.get("incomeType", income_type) != income_type:
                continue  # a relay that ignores income_type: the other rows are not ours to add
            income = float(raw["income"])
            time_ms = int(raw["time"])
            asset = str(raw.get("asset") or LEDGER_ASSET)
        except (AttributeError, KeyError, TypeError, ValueError):
            raise FetchError(f"exchange income ({income_type}) has a malformed row: {str(raw)[:200]}") from None
        if not math.isfinite(income):
            raise FetchError(f"exchange income ({income_type}) has a non-finite amount: {str(raw)[:200]}")
        key = tuple(str(raw.get(k)) for k in ("tranId", "tradeId", "symbol", "time", "income", "asset"))
        rows.append(IncomeRow(income_type, income, asset, time_ms, key))
    return rows


def _ms(ts: datetime) -> int:
    return round(ts.astimezone(UTC).timestamp() * 1000)


def _unavailable(exc: FetchError) -> str:
    return f"Reconciliation skipped: {exc}. The report goes out unreconciled"
