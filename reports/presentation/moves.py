"""What moved the day, in words: the sentences at the top of the summary, the current drawdown, the benchmark line,
and the /movers answer. Plain text (the templates escape it) except :func:`movers_text`, which is Telegram HTML.

Every number is one of the report's own (``report.movers``, ``totals``, ``drawdowns``, ``benchmark``) through the
same formatters as the rest of the summary, so it reads as report.json's figure rounded.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date

from reports.calendar import is_partial
from reports.models import Drawdown, Mover, Report
from reports.numbers.drawdowns import open_drawdown
from reports.performance import BenchmarkWindow
from reports.presentation.fmt import (
    agent_label,
    fmt_count,
    fmt_local,
    fmt_num,
    fmt_pnl,
    fmt_signed_pct,
    fmt_usd,
    sign_emoji,
)
from reports.presentation.tgtext import split_message

SHOWN = 10
"""Pairs listed by /movers (the rest are added up in one line)."""
QUIET = 0.005
"""A pair that moved less than this (it rounds to 0.00) is not named."""
BENCH_WINDOWS = ("30d", "7d")
"""The benchmark line's window: the first with a beta."""


def _agents(report: Report) -> dict[str, str]:
    return {a.agent_id: agent_label(a, emoji=False) for a in report.agents}


def side(m: Mover) -> str:
    """What the pair held: ``long``, ``short``, ``long turned short`` (a flip), or ``round trips`` (flat at both
    ends of the day, so every position was opened and closed within it)."""
    before, after = m.quantity_before, m.quantity
    if before == 0.0 and after == 0.0:
        return "round trips"
    if before and after and (before > 0) != (after > 0):
        return "long turned short" if before > 0 else "short turned long"
    return "long" if (after or before) > 0 else "short"


def held(m: Mover) -> str:
    """The position through the day, for a table: ``long``, ``short closed``, ``long opened``, ``long → short``,
    ``round trips``."""
    before, after = m.quantity_before, m.quantity
    if before and after and (before > 0) != (after > 0):
        return "long → short" if before > 0 else "short → long"
    if before and not after:
        return f"{'long' if before > 0 else 'short'} closed"
    if after and not before:
        return f"{'long' if after > 0 else 'short'} opened"
    return side(m)


def _details(m: Mover, day: bool) -> str:
    """Why the pair moved: its fills (and, over a ``day``, whether they opened or closed the position), its closes
    in profit, its funding; or that it had no fill and its mark moved."""
    parts = []
    if m.trades:
        fills = f"{fmt_count(m.trades)} fill{'s' if m.trades != 1 else ''}"
        if not day:  # over a week or a month a position opens and closes many times: the fills say enough
            pass
        elif m.quantity_before and not m.quantity:
            fills = f"closed in {fills}"
        elif m.quantity and not m.quantity_before:
            fills = f"opened in {fills}"
        parts.append(fills)
        if m.closing_fills:
            whole = m.closing_fills == m.trades
            parts.append(f"{m.wins} in profit" if whole else f"{m.wins} of {m.closing_fills} closes in profit")
    else:
        parts.append("no fill: held as its mark moved")
    if m.funding_pnl is not None and abs(m.funding_pnl) >= QUIET:
        parts.append(f"{fmt_usd(abs(m.funding_pnl))} {'paid' if m.funding_pnl < 0 else 'received'} in funding")
    return ", ".join(parts)


def _whole(report: Report) -> str:
    """The total a mover is a part of: ``the day's +12.19``, ``today's +15.83 so far``, ``the week's +67.91``."""
    total = fmt_pnl(report.totals.total_pnl)
    if report.period is not None:
        return f"the {report.period.period.kind}'s {total}"
    return f"today's {total} so far" if is_partial(report.day) else f"the day's {total}"


def headline(report: Report) -> tuple[str, ...]:
    """Two or three sentences: the pair that moved most and its share of the total, with why (fills, closes in
    profit, funding); the largest move the other way; what the other pairs added together."""
    movers = [m for m in report.movers if abs(m.total_pnl) >= QUIET]
    if not movers:
        return ("No position moved the P&L.",) if report.movers else ()
    names = _agents(report)
    top = movers[0]
    verb = "made" if top.total_pnl > 0 else "lost"
    first = (
        f"{names.get(top.agent_id, top.agent_id)}'s {top.symbol} {side(top)} {verb} {fmt_pnl(top.total_pnl)} of "
        f"{_whole(report)} ({_details(top, report.period is None)})."
    )
    shown = [top]
    other = next((m for m in movers[1:] if (m.total_pnl > 0) != (top.total_pnl > 0)), None)
    if other is None and len(movers) > 1:
        other = movers[1]
    sentences = [first]
    if other is not None:
        verb = "made" if other.total_pnl > 0 else "lost"
        sentences.append(
            f"{names.get(other.agent_id, other.agent_id)} {verb} {fmt_pnl(other.total_pnl)} on its {other.symbol} "
            f"{side(other)}."
        )
        shown.append(other)
    rest = [m for m in report.movers if m not in shown]
    if rest:
        together = 0.0
        for m in rest:
            together += m.total_pnl
        sentences.append(f"The other {len(rest)} agent × symbol pairs: {fmt_pnl(together)} together.")
    return tuple(sentences)


def current_drawdown(report: Report) -> Drawdown | None:
    """The drawdown the portfolio is in at the end of the report's last day, if any."""
    return open_drawdown(report.daily, report.totals.capital, report.day.date)


def _when(d: date) -> str:
    return f"{d.day} {d.strftime('%b')}"


def drawdown_line(report: Report) -> str:
    """The current drawdown in words: since when, how long, how deep at its valley; or that equity is at its high."""
    now = current_drawdown(report)
    if now is None:
        return "No drawdown: equity at its high." if report.daily else "No history yet."
    days = f"{now.days} day{'s' if now.days != 1 else ''}"
    deepest = fmt_signed_pct(now.depth, 1)
    return f"In a drawdown since {_when(now.start)} ({days}), deepest {deepest} on {_when(now.valley)}."


def short_symbol(symbol: str) -> str:
    """``BTCUSDT`` -> ``BTC``: the quote currency is the report's."""
    return symbol[: -len("USDT")] if symbol.endswith("USDT") and len(symbol) > 4 else symbol


def benchmark_window(report: Report) -> tuple[str, BenchmarkWindow] | None:
    """The window the benchmark line shows: 30 days, else 7, the first with a beta; None without one."""
    b = report.benchmark
    if b is None:
        return None
    for name in BENCH_WINDOWS:
        w = b.windows.get(name)
        if w is not None and w.beta is not None and w.return_ is not None and w.excess_return is not None:
            return name, w
    return None


def benchmark_line(report: Report) -> str | None:
    """``30 days: +16.3% vs BTC +4.1% (buy and hold), beta 0.21``: the portfolio's return over the days both have
    (the benchmark's return plus the excess return), the benchmark's, its beta; None when not computable."""
    found = benchmark_window(report)
    if found is None:
        return None
    _, w = found
    assert report.benchmark is not None and w.return_ is not None and w.excess_return is not None
    ours = w.return_ + w.excess_return
    return (
        f"{w.days} days: {fmt_signed_pct(ours, 1)} vs {short_symbol(report.benchmark.symbol)} "
        f"{fmt_signed_pct(w.return_, 1)} (buy and hold), beta {fmt_num(w.beta)}"
    )


def movers_table(report: Report, movers: Sequence[Mover]) -> list[str]:
    """Two narrow lines a pair (plain text, for a phone): agent, symbol and total; then its net realized (realized
    − fees), funding and change of unrealized."""
    names = _agents(report)
    rows = []
    for m in movers:
        fund = fmt_pnl(m.funding_pnl) if m.funding_pnl is not None else "n/a"
        who = f"{names.get(m.agent_id, m.agent_id)[:16]} {m.symbol}"
        rows.append(f"{who[:25]:<25}{fmt_pnl(m.total_pnl):>10}")
        rows.append(f"  net {fmt_pnl(m.realized_pnl - m.fees)} · fund {fund} · unr Δ {fmt_pnl(m.unrealized_change)}")
    return rows


def movers_text(report: Report, shown: int = SHOWN) -> tuple[str, ...]:
    """The /movers answer (Telegram HTML): the day so far's sentences and its largest movers as a table."""
    t = report.totals
    tz = report.day.timezone
    as_of = fmt_local(report.day.end, tz, "%H:%M")
    lines = [
        f"<b>🔎 What moved the day so far</b> · {report.day.date.isoformat()} 00:00–{as_of} {html.escape(tz)}",
        f"{sign_emoji(t.total_pnl)} Net P&amp;L <b>{fmt_pnl(t.total_pnl)} USDT</b>, not final",
        "",
    ]
    lines += [html.escape(s, quote=False) for s in headline(report)]
    if report.movers:
        top = list(report.movers[:shown])
        table = movers_table(report, top)
        lines += ["", "<pre>" + html.escape("\n".join(table), quote=False) + "</pre>"]
        rest = report.movers[shown:]
        if rest:
            together = 0.0
            for m in rest:
                together += m.total_pnl
            lines.append(f"… and {len(rest)} more pairs: {fmt_pnl(together)} together")
        lines.append("<i>net = realized − fees · fund = funding · unr Δ = change of unrealized since midnight</i>")
    else:
        lines.append("No fill and no open position so far.")
    return tuple(split_message("\n".join(lines)))
