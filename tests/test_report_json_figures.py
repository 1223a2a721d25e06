"""report.json's ``movers``, ``drawdowns`` and ``benchmark`` (CONTRACT 4) on the demo: their keys, their order, the
movers adding up to the total once read back from the file, the drawdowns found again from the file's own
``daily``, and a benchmark of a symbol never traded as null."""

from __future__ import annotations

import json
from datetime import date

import pytest

from reports.calendar import trading_day
from reports.operations.pipeline import build
from reports.presentation import report_json
from reports.settings import Settings

DAY = trading_day(date(2026, 11, 25), "UTC")
BENCH_KEYS = {"days", "return", "excess_return", "beta", "alpha", "correlation"}


@pytest.fixture(scope="module")
def doc(tmp_path_factory) -> dict:
    report = build(Settings(state_dir=tmp_path_factory.mktemp("state")), DAY, demo=True)
    return json.loads(report_json.dumps(report))


def test_movers_keys_order_and_sum(doc: dict):
    movers = doc["movers"]
    assert movers and all(
        set(m) == {"agent_id", "symbol", "total_pnl", "realized_pnl", "fees", "funding_pnl", "unrealized_change"}
        for m in movers
    )
    keys = [(-abs(m["total_pnl"]), m["agent_id"], m["symbol"]) for m in movers]
    assert keys == sorted(keys)
    total = 0.0
    for m in movers:  # a reader adds them in the order of the file
        total += m["total_pnl"]
    assert total == doc["totals"]["total_pnl"]
    for m in movers:
        parts = m["realized_pnl"] - m["fees"] + (m["funding_pnl"] or 0.0) + m["unrealized_change"]
        assert m["total_pnl"] == pytest.approx(parts, abs=1e-9)
    assert sum(m["fees"] for m in movers) == pytest.approx(doc["totals"]["fees"], abs=1e-9)
    assert sum(m["realized_pnl"] for m in movers) == pytest.approx(doc["totals"]["realized_pnl"], abs=1e-9)
    assert sum(m["funding_pnl"] for m in movers) == pytest.approx(doc["totals"]["funding_pnl"], abs=1e-9)


def _drawdowns_of(daily: list[dict], capital: float, report_date: str) -> list[dict]:
    """From the file alone: a plain walk over ``daily`` with the peak starting at the capital."""
    found, peak, run = [], capital, None
    for p in daily:
        e = p["equity"]
        if run is None and e < peak:
            run = {"start": p["date"], "valley": p["date"], "end": None, "depth": e / peak - 1, "peak": peak}
        elif run is not None and e >= run["peak"]:
            run["end"] = p["date"]
            found.append(run)
            run = None
        elif run is not None and e / run["peak"] - 1 < run["depth"]:
            run["valley"], run["depth"] = p["date"], e / run["peak"] - 1
        if run is None:
            peak = max(peak, e)
    if run is not None:
        found.append(run)
    for d in found:
        last = date.fromisoformat(d["end"] or report_date)
        d["days"] = (last - date.fromisoformat(d["start"])).days + 1
        del d["peak"]
    return sorted(found, key=lambda d: (d["depth"], d["start"]))[:5]


def test_drawdowns_are_the_five_deepest_of_the_daily_series(doc: dict):
    assert doc["drawdowns"] == _drawdowns_of(doc["daily"], doc["totals"]["capital"], doc["report_date"])
    assert 0 < len(doc["drawdowns"]) <= 5
    depths = [d["depth"] for d in doc["drawdowns"]]
    assert depths == sorted(depths) and all(x < 0 for x in depths)


def test_benchmark_block(doc: dict):
    b = doc["benchmark"]
    assert b["symbol"] == "BTCUSDT" and set(b) == {"symbol", "7d", "30d", "90d"}
    for name in ("7d", "30d", "90d"):
        assert set(b[name]) == BENCH_KEYS
    assert b["7d"]["days"] == 7 and b["30d"]["days"] == 30
    assert -1 <= b["30d"]["correlation"] <= 1


def test_a_benchmark_symbol_never_traded_is_null(tmp_path):
    settings = Settings(state_dir=tmp_path, benchmark_symbol="NOPEUSDT")
    doc = json.loads(report_json.dumps(build(settings, DAY, demo=True)))
    assert doc["benchmark"] is None


def test_a_weeks_movers_in_the_file(tmp_path):
    report = build(Settings(state_dir=tmp_path), trading_day(date(2026, 11, 29), "UTC"), demo=True, period="week")
    doc = json.loads(report_json.dumps(report))
    assert doc["period"]["kind"] == "week"
    assert sum(m["total_pnl"] for m in doc["movers"]) == pytest.approx(doc["totals"]["total_pnl"], abs=1e-9)
    assert doc["drawdowns"] and doc["benchmark"] is not None


def test_an_open_drawdown_has_a_null_end():
    from reports.models import Drawdown

    got = report_json.drawdown_dict(Drawdown(date(2026, 11, 20), date(2026, 11, 22), None, 6, -0.05))
    assert got == {"start": "2026-11-20", "valley": "2026-11-22", "end": None, "days": 6, "depth": -0.05}
    assert json.dumps(got).count("null") == 1
