"""Reconciliation against a fake trading service that speaks real HTTP on 127.0.0.1.

The fake is as strict as the service: a bearer token or 401, validated query parameters or 422, rows of the
asked type inside ``start_time``..``end_time`` (both inclusive, ms), oldest first, and (like a relay under
load) fewer rows per page than asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fake_trading import FakeTradingService, running_service

from reports.calendar import TradingDay
from reports.errors import FetchError
from reports.settings import Secret, Settings
from reports.sources.reconcile import IncomeRow, check, compare, reconcile

TOKEN = "s3cret-admin-token"
DAY = date(2025, 3, 14)
START = datetime(2025, 3, 14, tzinfo=UTC)
START_MS = int(START.timestamp() * 1000)
END_MS = START_MS + 86_400_000


def income_row(kind: str, income: float, time_ms: int, **overrides: Any) -> dict[str, Any]:
    """One exchange income row as the service relays it (amounts are strings)."""
    row = {
        "symbol": "BTCUSDT",
        "incomeType": kind,
        "income": f"{income:.8f}",
        "asset": "USDT",
        "time": time_ms,
        "tranId": 9_000_000 + time_ms % 1_000_000,
        "tradeId": str(time_ms),
    }
    row.update(overrides)
    return row


@pytest.fixture(scope="module")
def ledger() -> list[dict[str, Any]]:
    """A day with more rows than a page, five rows on one millisecond across a page boundary, rows just
    outside the day, two commissions paid in BNB, and three funding payments."""
    rows = []
    for i in range(250):
        t = START_MS + 60_000 + i * 300_000 if not 97 <= i <= 101 else START_MS + 60_000 + 97 * 300_000
        rows.append(income_row("REALIZED_PNL", ((i * 37) % 200 - 80) / 10, t, tranId=1_000 + i))
        rows.append(income_row("COMMISSION", -0.0123 * (1 + i % 4), t, tranId=5_000 + i))
    rows.append(income_row("COMMISSION", -0.5, START_MS + 3_600_000, asset="BNB", tranId=8_001))
    rows.append(income_row("COMMISSION", -0.25, START_MS + 7_200_000, asset="BNB", tranId=8_002))
    for h, amount in ((0, -0.8), (8, 0.35), (16, -1.2)):
        rows.append(income_row("FUNDING_FEE", amount, START_MS + h * 3_600_000, tranId=7_000 + h))
    # Outside the day: a millisecond before its start, and at its (excluded) end.
    rows.append(income_row("REALIZED_PNL", 500.0, START_MS - 1, tranId=1))
    rows.append(income_row("REALIZED_PNL", 700.0, END_MS, tranId=2))
    rows.append(income_row("COMMISSION", -90.0, END_MS, tranId=3))
    return rows


def day_sum(rows: list[dict[str, Any]], kind: str) -> float:
    return sum(
        float(r["income"])
        for r in rows
        if r["incomeType"] == kind and r["asset"] == "USDT" and START_MS <= r["time"] < END_MS
    )


@pytest.fixture(scope="module")
def service(ledger: list[dict[str, Any]]) -> Iterator[tuple[FakeTradingService, str]]:
    with running_service(FakeTradingService(income=ledger, admin_token=TOKEN)) as fake:
        yield fake, fake.url


DAY_RANGE = TradingDay(DAY, "UTC", START, START + timedelta(days=1))


def settings(url: str, token: str | None = TOKEN) -> Settings:
    return Settings(trading_service_url=url, admin_api_token=Secret(token) if token else None)


def test_matching_day(service: tuple[FakeTradingService, str], ledger: list[dict[str, Any]]) -> None:
    fake, url = service
    fake.income_requests.clear()
    pnl, fees = day_sum(ledger, "REALIZED_PNL"), -day_sum(ledger, "COMMISSION")

    funding = day_sum(ledger, "FUNDING_FEE")
    # Within max(1 USDT, 1 %): rounding of the fills' own figures must not raise a false alarm.
    status, warnings = reconcile(settings(url), DAY_RANGE, pnl + 0.9, fees - 0.4, funding + 0.9)

    assert status == "ok"
    assert warnings == ["Reconciliation: 2 COMMISSION rows in BNB left out (not USDT)"]
    realized_pages = [q for q in fake.income_requests if q["income_type"] == "REALIZED_PNL"]
    assert len(realized_pages) >= 4  # 250 rows, 100 a page, then the page that brings nothing new
    assert realized_pages[0]["start_time"] == str(START_MS) and realized_pages[0]["end_time"] == str(END_MS - 1)


def test_funding_is_reconciled_when_read_and_only_shown_when_not(
    service: tuple[FakeTradingService, str], ledger: list[dict]
) -> None:
    _, url = service
    pnl, fees = day_sum(ledger, "REALIZED_PNL"), -day_sum(ledger, "COMMISSION")
    funding = day_sum(ledger, "FUNDING_FEE")
    assert funding == pytest.approx(-1.65)

    status, warnings = reconcile(settings(url), DAY_RANGE, pnl, fees, funding + 1.2)
    assert status == "mismatch"
    assert [w for w in warnings if "mismatch" in w] == [
        f"Reconciliation mismatch: funding {funding + 1.2:,.2f} USDT in the report, {funding:,.2f} USDT on the "
        "exchange (Σ FUNDING_FEE), -1.20 apart (tolerance 1.00)"
    ]
    status, warnings = reconcile(settings(url), DAY_RANGE, pnl, fees, None)
    assert status == "ok"
    assert warnings[-1] == (
        "Funding on the exchange this day (not in the report's P&L, whose funding could not be read): -1.65 USDT"
    )


def test_mismatching_day_names_both_figures(service: tuple[FakeTradingService, str], ledger: list[dict]) -> None:
    _, url = service
    pnl, fees = day_sum(ledger, "REALIZED_PNL"), -day_sum(ledger, "COMMISSION")

    status, warnings = reconcile(settings(url), DAY_RANGE, pnl - 25.0, fees)

    assert status == "mismatch"
    mismatch = [w for w in warnings if "mismatch" in w]
    assert mismatch == [
        f"Reconciliation mismatch: realized P&L {pnl - 25:,.2f} USDT in the report, {pnl:,.2f} USDT on the "
        f"exchange (Σ REALIZED_PNL), +25.00 apart (tolerance {max(1, abs(pnl - 25) / 100):,.2f})"
    ]


def test_wrong_token_is_one_line_without_the_token(service: tuple[FakeTradingService, str]) -> None:
    _, url = service
    with pytest.raises(FetchError) as caught:
        reconcile(settings(url, token="wrong"), DAY_RANGE, 0.0, 0.0)
    message = str(caught.value)
    assert "ADMIN_API_TOKEN" in message and "401" in message and "\n" not in message
    assert "wrong" not in message and TOKEN not in message


def test_not_configured_without_token() -> None:
    assert reconcile(settings("http://127.0.0.1:9", token=None), DAY_RANGE, 1.0, 1.0) == ("not configured", [])


def test_service_down_leaves_the_report_unreconciled() -> None:
    status, warnings = reconcile(settings("http://127.0.0.1:9"), DAY_RANGE, 1.0, 1.0, timeout=0.5)
    assert status == "unavailable"
    assert len(warnings) == 1 and "could not connect" in warnings[0] and TOKEN not in warnings[0]


@pytest.mark.parametrize(
    ("ours", "theirs", "status"),
    [
        (0.0, 0.99, "ok"),  # under the 1 USDT floor
        (0.0, 1.01, "mismatch"),
        (1_000.0, 1_009.9, "ok"),  # 1 % of the report's figure
        (1_000.0, 1_010.1, "mismatch"),
        (-1_000.0, -1_010.1, "mismatch"),  # a losing day: the percentage of its size
    ],
)
def test_tolerance_is_max_of_one_usdt_and_one_percent(ours: float, theirs: float, status: str) -> None:
    pnl = {"REALIZED_PNL": [IncomeRow("REALIZED_PNL", theirs, "USDT", START_MS, ("1",))]}
    assert compare(pnl, ours, 0.0)[0] == status
    # The same tolerance for fees, whose ledger sign is negative (money paid).
    fees = {"COMMISSION": [IncomeRow("COMMISSION", -theirs, "USDT", START_MS, ("2",))]}
    assert compare(fees, 0.0, ours)[0] == status


def test_check_lines(service: tuple[FakeTradingService, str]) -> None:
    _, url = service
    assert check(settings(url)) == ("ok", f"Reconciliation: ADMIN_API_TOKEN accepted at {url}/api/exchange/income")
    status, line = check(settings(url, token="wrong"))
    assert status == "fail" and "rejected ADMIN_API_TOKEN (401)" in line and "wrong" not in line
    assert check(settings(url, token=None))[0] == "ok"


def test_an_income_endpoint_that_answers_500_is_a_warning_not_a_failure(service: tuple[FakeTradingService, str]):
    # The real service's income endpoint answers 500 at the version checked: the report still goes out.
    fake, url = service
    fake.fail("/api/exchange/income", 500)
    status, line = check(settings(url))
    assert status == "warn" and "500" in line and "reconciliation 'unavailable'" in line
