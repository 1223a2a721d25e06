"""The replay and a day's movers a chunk of fills at a time (issue 22: memory) give the floats of one pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports.closed_days import EngineState
from reports.models import Fills
from reports.numbers import engine, movers


def random_fills(n: int, seed: int) -> Fills:
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(1_700_000_000, 1_700_000_000 + n // 3, size=n)) * 1_000_000_000
    price = np.round(rng.lognormal(4, 0.3, size=n), 2)
    qty = np.round(rng.integers(1, 50, size=n) * 0.1, 1)
    return Fills.from_frame(
        pd.DataFrame(
            {
                "id": np.arange(n, dtype=np.int64),
                "ts": ts,
                "symbol": rng.choice(["BTCUSDT", "ETHUSDT", "SOLUSDT"], size=n).tolist(),
                "side": rng.choice(np.array([1, -1], dtype=np.int8), size=n),
                "price": price,
                "quantity": qty,
                "notional": price * qty,
                "agent_id": rng.choice(["a", "b", "c", "d"], size=n).tolist(),
                "fee": np.round(price * qty * 0.0004, 6),
            }
        )
    )


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_chunked_replay_equals_one_pass(monkeypatch, chunk):
    fills = random_fills(5003, seed=chunk)
    ts = fills.frame["ts"].to_numpy()
    snaps = np.unique(ts[:: len(ts) // 9])  # snapshots fall inside chunks and on their edges
    start = EngineState(positions=(("a", "BTCUSDT", 0.5, 60.0),), marks=(("BTCUSDT", 61.0),))
    monkeypatch.setattr(engine, "CHUNK", len(fills) + 1)
    whole = engine.replay(fills, snaps, start)
    monkeypatch.setattr(engine, "CHUNK", chunk)
    parts = engine.replay(fills, snaps, start)
    for name in ("realized", "closed_qty", "position_after", "unrealized", "agent_code", "snapshot_ns"):
        assert np.array_equal(getattr(parts, name), getattr(whole, name)), name
    assert parts.positions == whole.positions
    assert parts.state == whole.state
    assert parts.agents == whole.agents


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_a_days_movers_a_chunk_at_a_time_equal_one_pass(monkeypatch, chunk):
    fills = random_fills(5003, seed=10 + chunk)
    result = engine.replay(fills, [])
    args = (fills.frame, result.realized, result.closed_qty, engine.closing_nets(fills, result), None)
    rest = (EngineState(), result.positions, {"a", "b", "c", "d"})
    monkeypatch.setattr(movers, "CHUNK", len(fills) + 1)
    whole = movers.day_movers(*args, *rest)
    monkeypatch.setattr(movers, "CHUNK", chunk)
    assert movers.day_movers(*args, *rest) == whole
    assert sum(m.trades for m in whole) == len(fills)
