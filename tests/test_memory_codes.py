"""Issue 22: the figures computed with less memory are the very floats of the way they were computed before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports.models import Fills
from reports.numbers import codes as codes_module
from reports.numbers.codes import sorted_codes
from reports.numbers.day_figures import day_symbols
from reports.numbers.engine import closing_nets, replay


def _column(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    names = np.array(["ETHUSDT", "BTCUSDT", "SOLUSDT", "Zeta", "alpha", "ÄUSDT"], dtype=object)
    return names[rng.integers(0, len(names), n)]


@pytest.mark.parametrize("n", [0, 1, 5, 1000])
def test_sorted_codes_are_those_of_factorize_sorted(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    monkeypatch.setattr(codes_module, "SLICE", 7)  # many slices, each with only some of the names
    values = _column(n)
    codes, names = sorted_codes(pd.Series(pd.array(values, dtype="str")))
    expected, uniques = pd.factorize(values, sort=True)
    assert names == [str(u) for u in uniques]
    assert codes.dtype == np.intp
    assert np.array_equal(codes, expected)


def test_sorted_codes_with_extra_names_are_those_of_a_categorical() -> None:
    values = _column(500)
    extra = {"AAA", "zzz", "BTCUSDT"}
    codes, names = sorted_codes(values, extra, np.int32)
    expected_names = sorted(set(values.tolist()) | extra)
    assert names == expected_names
    assert codes.dtype == np.int32
    assert np.array_equal(codes, pd.Categorical(values, categories=expected_names).codes)


def _fills(n: int, seed: int = 3) -> Fills:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": np.arange(n, dtype=np.int64),
            "ts": np.sort(rng.integers(0, 10**12, n)).astype(np.int64),
            "symbol": pd.array(_column(n, seed), dtype="str"),
            "side": rng.choice(np.array([1, -1], dtype=np.int8), n),
            "price": rng.uniform(10.0, 11.0, n),
            "quantity": rng.uniform(0.1, 3.0, n),
            "notional": rng.uniform(1.0, 30.0, n),
            "agent_id": pd.array(np.array(["a", "b", "c"], dtype=object)[rng.integers(0, 3, n)], dtype="str"),
            "fee": rng.uniform(0.0, 0.01, n),
        }
    )
    return Fills(frame)


def test_closing_nets_are_the_floats_of_the_formula() -> None:
    fills = _fills(5000)
    result = replay(fills, [])
    fee, qty = fills.frame["fee"].to_numpy(), fills.frame["quantity"].to_numpy()
    expected = np.where(result.closed_qty > 0.0, result.realized - fee * result.closed_qty / qty, 0.0)
    assert closing_nets(fills, result).tobytes() == expected.tobytes()


def test_day_symbols_are_the_sums_of_grouping_by_the_names() -> None:
    fills = _fills(20_000)
    frame = fills.frame
    realized = replay(fills, []).realized
    work = pd.DataFrame(
        {
            "symbol": frame["symbol"].to_numpy(),
            "notional": frame["notional"].to_numpy(),
            "fee": frame["fee"].to_numpy(),
            "realized": realized,
        }
    )
    grouped = work.groupby("symbol", sort=True).agg(
        trades=("notional", "size"), volume=("notional", "sum"), fees=("fee", "sum"), realized=("realized", "sum")
    )
    rows = day_symbols(frame, realized, None)
    assert [r.symbol for r in rows] == [str(s) for s in grouped.index]
    for r, (_, g) in zip(rows, grouped.iterrows(), strict=True):
        assert (r.trades, r.volume, r.fees, r.realized_pnl) == (int(g.trades), g.volume, g.fees, g.realized)
        assert r.net_realized_pnl == float(g.realized - g.fees)
        assert r.funding_pnl is None
