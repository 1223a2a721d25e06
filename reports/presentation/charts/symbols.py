"""Chart 4: net realized P&L by symbol, the largest ten and the rest summed."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from reports.models import Report
from reports.presentation.charts.style import (
    GAIN,
    LOSS,
    OTHERS,
    TOP_SYMBOLS,
    Chart,
    caption,
    empty,
    plain,
    png,
    rows_axis,
)
from reports.presentation.fmt import fmt_pnl


def symbols_chart(report: Report, *, when: str | None = None, filename: str = "04-symbols-pnl.png") -> Chart:
    """Net realized P&L of the ten largest symbols by size, the rest summed as "others".

    ``when`` (default ``on <date>``) ends the title: a week's or a month's album draws it over its own sums.
    """
    ranked = sorted(report.symbols, key=lambda s: (-abs(s.net_realized_pnl), s.symbol))
    rows = [(plain(s.symbol), s.net_realized_pnl) for s in ranked[:TOP_SYMBOLS]]
    if len(ranked) > TOP_SYMBOLS:
        rest = ranked[TOP_SYMBOLS:]
        rows.append((f"{len(rest)} others", float(sum(s.net_realized_pnl for s in rest))))
    rows.sort(key=lambda r: -r[1])
    title = f"Net realized P&L by symbol {when or f'on {report.day.date}'}"

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        if not rows:
            empty(ax, title, "No fills today" if when is None else "No fills in this period")
            return
        ys = np.arange(len(rows))
        values = [v for _, v in rows]
        colors = [OTHERS if label.endswith(" others") else GAIN if v >= 0 else LOSS for label, v in rows]
        ax.barh(ys, values, height=0.7, color=colors, zorder=2)
        rows_axis(ax, [label for label, _ in rows], values, 18, "USDT, after fees")
        ax.set_title(title)

    text = title
    if rows:
        text += f": best {rows[0][0]} {fmt_pnl(rows[0][1])}, worst {rows[-1][0]} {fmt_pnl(rows[-1][1])} USDT"
    return Chart(filename, png(draw), caption(text))
