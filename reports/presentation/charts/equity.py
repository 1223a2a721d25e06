"""Chart 5: the account equity through the day, from Prometheus."""

from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np
from matplotlib.figure import Figure

from reports.models import Report
from reports.presentation.charts.style import GAIN, INK, LOSS, OTHERS, Chart, caption, png, time_axis, usd_axis
from reports.presentation.fmt import fmt_signed_pct, fmt_usd


def equity_chart(report: Report) -> Chart | None:
    """The account equity from ``portfolio_balance_usd`` through the day, when Prometheus gave samples."""
    ops = report.operations
    if ops is None or len(ops.equity_curve) < 2:
        return None
    times, values = zip(*ops.equity_curve, strict=True)
    title = f"Account equity {report.day.date}"

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        x = mdates.date2num(list(times))
        ax.plot(x, values, color=INK, lw=3)
        ax.axhline(values[0], color=OTHERS, lw=1.5, ls="--")
        ax.fill_between(
            x, values, values[0], where=np.array(values) >= values[0], color=GAIN, alpha=0.2, lw=0, interpolate=True
        )
        ax.fill_between(
            x, values, values[0], where=np.array(values) < values[0], color=LOSS, alpha=0.2, lw=0, interpolate=True
        )
        time_axis(ax, report)
        usd_axis(ax, signed=False)
        ax.set_ylabel("USDT")
        ax.set_title(title)
        # The figures go in a right-hand title: annotations inside the plot would sit on the line.
        ax.set_title(f"{fmt_usd(values[0])} → {fmt_usd(values[-1])}", loc="right", fontsize=22)

    text = f"Account equity {fmt_usd(values[0])} → {fmt_usd(values[-1])} USDT"
    if ops.max_drawdown is not None:
        text += f", max drawdown {fmt_signed_pct(ops.max_drawdown, 1)}"
    return Chart("05-operations-equity.png", png(draw), caption(text))
