"""A stored day's report from its rows alone (the bot's summary of a day the store holds, issue 21) against a
run's report of the same day: every agent's figures and the series to the bit, the portfolio's and the symbols'
sums to the last bits of a float, the same summary text."""

from __future__ import annotations

import dataclasses

import pytest
from random_market import DAY, NOW, from_store, market

from reports.models import Fills
from reports.numbers.compute import RunInputs, build_report
from reports.numbers.stored_day import has_figures, stored_day_report
from reports.presentation.render import render_summary
from reports.settings import CapitalPolicy


def _close(a: float, b: float | None) -> bool:
    return b is not None and a == pytest.approx(b, rel=1e-12, abs=1e-9)


def _same_day(stored, run) -> None:
    assert stored.agents == run.agents  # totals, open positions, risk windows, daily series, drawdowns
    assert stored.daily == run.daily and stored.risk == run.risk and stored.drawdowns == run.drawdowns
    assert stored.benchmark == run.benchmark
    for name, value in dataclasses.asdict(run.totals).items():
        got = getattr(stored.totals, name)
        assert got == value if isinstance(value, int) or value is None else _close(value, got), name
    assert [s.symbol for s in stored.symbols] == [s.symbol for s in run.symbols]
    for s, r in zip(stored.symbols, run.symbols, strict=True):
        assert s.trades == r.trades and all(
            _close(getattr(r, f), getattr(s, f)) for f in ("volume", "fees", "realized_pnl", "net_realized_pnl")
        ), s.symbol
        assert (s.funding_pnl is None) == (r.funding_pnl is None)
    assert {(m.agent_id, m.symbol) for m in stored.movers} == {(m.agent_id, m.symbol) for m in run.movers}
    by_pair = {(m.agent_id, m.symbol): m for m in run.movers}
    for m in stored.movers:
        r = by_pair[m.agent_id, m.symbol]
        assert (m.trades, m.closing_fills, m.wins, m.quantity, m.quantity_before) == (
            r.trades, r.closing_fills, r.wins, r.quantity, r.quantity_before,
        )  # fmt: skip
        assert _close(r.total_pnl, m.total_pnl) and _close(r.realized_pnl, m.realized_pnl), (m.agent_id, m.symbol)
    assert render_summary(stored) == render_summary(run)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_stored_day_is_the_runs_report(seed: int):
    fills, funding = market(seed, agents=20)
    run, closed = from_store(fills, funding, DAY)
    assert closed[-1].date == DAY.date and has_figures(closed[-1])
    stored = stored_day_report(closed[:-1], closed[-1], DAY, CapitalPolicy(), RunInputs(NOW))
    assert sum(m.closing_fills for m in stored.movers) == run.totals.closing_fills > 0
    _same_day(stored, run)


def test_a_desks_stored_day_is_its_own_agents():
    fills, funding = market(4, agents=10)
    desk = ("agent-01", "agent-02", "agent-07")
    _, closed = from_store(fills, funding, DAY)
    given = RunInputs(NOW, agents=desk)
    run = build_report(Fills.from_records(fills), DAY, CapitalPolicy(), given, funding)
    stored = stored_day_report(closed[:-1], closed[-1], DAY, CapitalPolicy(), given)
    assert [a.agent_id for a in stored.agents] == list(desk)
    _same_day(stored, run)


def test_without_funding_the_stored_day_says_so_like_a_run():
    fills, _ = market(2, agents=6)
    run, closed = from_store(fills, None, DAY)
    stored = stored_day_report(closed[:-1], closed[-1], DAY, CapitalPolicy(), RunInputs(NOW))
    assert stored.totals.funding_pnl is None and all(a.totals.funding_pnl is None for a in stored.agents)
    _same_day(stored, run)


def test_a_day_stored_before_the_per_pair_closes_were_kept_needs_the_fills():
    fills, funding = market(1, agents=4)
    _, closed = from_store(fills, funding, DAY)
    old = dataclasses.replace(
        closed[-1], symbols=tuple(dataclasses.replace(s, closing_fills=None, wins=None) for s in closed[-1].symbols)
    )
    assert not has_figures(old)
    with pytest.raises(ValueError, match="keeps no per-pair closes"):
        stored_day_report(closed[:-1], old, DAY, CapitalPolicy(), RunInputs(NOW))


def test_a_day_stored_without_the_per_pair_closes_still_reads_and_a_row_of_another_shape_does_not():
    import hashlib
    import json

    from reports.sources.store import decode_day, encode_day

    fills, funding = market(1, agents=4)
    _, closed = from_store(fills, funding, DAY)
    text, sha = encode_day(closed[-1])
    assert decode_day(text, sha) == closed[-1]
    doc = json.loads(text)
    for row in doc["symbols"]:  # as a version before this one wrote it
        del row["closing_fills"], row["wins"]
    old = json.dumps(doc)
    got = decode_day(old, hashlib.sha256(old.encode()).hexdigest())
    assert got is not None and not has_figures(got) and got.agents == closed[-1].agents
    doc["symbols"][0]["spare"] = 1
    odd = json.dumps(doc)
    assert decode_day(odd, hashlib.sha256(odd.encode()).hexdigest()) is None


def test_the_first_day_of_the_history_is_stored_alone_too():
    fills, funding = market(6, agents=5, days=1)
    run, closed = from_store(fills, funding, DAY)
    assert len(closed) == 1  # no day before it
    _same_day(stored_day_report([], closed[0], DAY, CapitalPolicy(), RunInputs(NOW)), run)
