"""The report's charts as PNG bytes (matplotlib, headless, no pyplot state).

Every chart is 1600×900 px with phone-sized type, draws each agent in the same colour (a stable
mapping from the sorted agent ids), keeps labels apart however many agents there are (legends and
rows for the top few, the rest grouped as "others"), uses only the DejaVu fonts matplotlib ships,
and gives identical bytes for identical data (fixed rcParams, no software or date metadata).
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from functools import cache
from zoneinfo import ZoneInfo

import matplotlib
import matplotlib.dates as mdates
import matplotlib.style
import numpy as np
from matplotlib import colormaps, font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import Formatter, MaxNLocator

from reports.flags import drawdown_series
from reports.fmt import agent_label, fmt_pnl, fmt_signed_pct, fmt_usd
from reports.models import AgentReport, Report

WIDTH_PX, HEIGHT_PX, DPI = 1600, 900, 100
CAPTION_LIMIT = 1024
LEGEND_AGENTS = 8
"""Agents named in the intraday legend; the rest are drawn grey as "others"."""
MAX_ROWS = 20
"""Rows of the per-agent bar chart; beyond it the best and worst show and the middle is summed."""
TOP_SYMBOLS = 10
LABEL_CHARS = 24
GAIN, LOSS, OTHERS, INK = "#1a9850", "#d73027", "#9e9e9e", "#222222"
FONT = "DejaVu Sans"

RC = {
    "font.family": "sans-serif",
    "font.sans-serif": [FONT],
    "font.size": 20,
    "axes.titlesize": 26,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.titlepad": 14,
    "axes.labelsize": 20,
    "xtick.labelsize": 18,
    "ytick.labelsize": 18,
    "legend.fontsize": 17,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.alpha": 0.35,
    "grid.linewidth": 1.0,
    "axes.unicode_minus": True,
    "text.parse_math": False,  # a "$" in an agent name is text, not mathtext
    "svg.hashsalt": "sapphire-report",
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "path.simplify": True,
    "hatch.linewidth": 2.0,
}


@dataclass(frozen=True)
class Chart:
    """One rendered chart: its file name, PNG bytes and a caption (escaped, Telegram-HTML safe, ≤ 1,024 chars)."""

    filename: str
    png: bytes
    caption: str


# ---- shared plumbing


@cache
def _charmap() -> frozenset[int]:
    path = font_manager.findfont(font_manager.FontProperties(family=FONT), fallback_to_default=False)
    return frozenset(FT2Font(path).get_charmap())


def plain(text: str, limit: int = LABEL_CHARS) -> str:
    """Text the font can draw (emoji and other missing glyphs dropped), cut to ``limit`` characters."""
    glyphs = _charmap()
    kept = " ".join("".join(c for c in text if ord(c) in glyphs).split())
    return kept if len(kept) <= limit else kept[: limit - 1].rstrip() + "…"


def agent_colors(report: Report) -> dict[str, str]:
    """One colour per agent, stable for a given set of agents: assigned in sorted id order.

    Greys are left out of the palette: grey means "others" in every chart.
    """
    ids = sorted({a.agent_id for a in report.agents} | set(report.intraday.by_agent))
    names = ("tab10",) if len(ids) <= 10 else ("tab20", "tab20b", "tab20c", "Set1", "Dark2")
    palette: list[str] = []
    for name in names:
        for rgb in colormaps[name].colors:
            hex_ = matplotlib.colors.to_hex(rgb)
            if matplotlib.colors.rgb_to_hsv(rgb[:3])[1] > 0.15 and hex_ not in palette:
                palette.append(hex_)
    return {agent: palette[i % len(palette)] for i, agent in enumerate(ids)}


def _figure() -> Figure:
    return Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")


def _png(draw: Callable[[Figure], None]) -> bytes:
    """Draw on a fresh figure under fixed rcParams and encode it without metadata that varies."""
    # "default" first: every rcParam from matplotlib's defaults, whatever the process set globally.
    with matplotlib.style.context(["default", RC]):
        fig = _figure()
        draw(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


class _UsdFormatter(Formatter):
    """USDT tick labels: whole numbers when ticks are at least 1 apart, cents otherwise."""

    def __init__(self, signed: bool, suffix: str = "") -> None:
        self.signed, self.suffix, self.digits = signed, suffix, 0

    def set_locs(self, locs: Sequence[float]) -> None:
        super().set_locs(locs)
        steps = np.diff(np.asarray(locs, dtype=float))
        self.digits = 0 if len(steps) == 0 or float(np.min(np.abs(steps))) >= 1 else 2 if steps.min() < 0.1 else 1

    def __call__(self, x: float, pos: int | None = None) -> str:
        text = fmt_pnl(x, self.digits) if self.signed else fmt_usd(x, self.digits)
        return text + self.suffix


def _usd_axis(ax: Axes, axis: str = "y", signed: bool = True, suffix: str = "", bins: int = 6) -> None:
    getattr(ax, f"{axis}axis").set_major_formatter(_UsdFormatter(signed, suffix))
    getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(nbins=bins))


def _empty(ax: Axes, title: str, message: str) -> None:
    ax.set_title(title)
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=26, color=OTHERS, transform=ax.transAxes)


def _caption(text: str) -> str:
    """Telegram-HTML caption: cut to the limit as plain text first, so an entity is never cut in half."""
    if len(text) > CAPTION_LIMIT:
        text = text[: CAPTION_LIMIT - 1] + "…"
    return html.escape(text, quote=False)


def _label(agent_id: str, agents: dict[str, AgentReport]) -> str:
    agent = agents.get(agent_id)
    return plain(agent_label(agent, emoji=False) if agent else agent_id)


def _rows_axis(ax: Axes, labels: Sequence[str], values: Sequence[float], size: float, xlabel: str) -> None:
    """A horizontal-bar axis: one row per label, top to bottom, and each signed value in a column just
    right of the plot, so a number never sits on a bar."""
    ys = np.arange(len(labels))
    ax.axvline(0, color=INK, lw=1.2)
    ax.set_yticks(ys, list(labels), fontsize=size)
    ax.set_ylim(len(labels) - 0.4, -0.6)
    ax.grid(axis="y", visible=False)
    _usd_axis(ax, "x")
    ax.set_xlabel(xlabel)
    blend = matplotlib.transforms.blended_transform_factory(ax.transAxes, ax.transData)
    for y, v in zip(ys, values, strict=True):
        color = GAIN if v > 0 else LOSS if v < 0 else INK
        ax.text(1.01, y, fmt_pnl(v), transform=blend, va="center", fontsize=size, color=color, fontweight="bold")


def _time_axis(ax: Axes, report: Report) -> None:
    """The trading day on x, 3-hour ticks in the report's zone."""
    zone = ZoneInfo(report.day.timezone)
    ax.set_xlim(mdates.date2num(report.day.start), mdates.date2num(report.day.end))
    ax.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, 3), tz=zone))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))


# ---- 1. cumulative P&L through the day


def intraday_chart(report: Report, colors: dict[str, str]) -> Chart:
    """The day's cumulative P&L per agent (top few named, the rest grey) and the portfolio in black."""
    series = report.intraday
    agents = {a.agent_id: a for a in report.agents}
    title = f"Cumulative P&L through {report.day.date} ({report.day.timezone})"
    moving = {k: v for k, v in series.by_agent.items() if any(abs(x) > 1e-9 for x in v)}
    ranked = sorted(moving, key=lambda k: (-abs(moving[k][-1]), k))
    named, rest = ranked[:LEGEND_AGENTS], ranked[LEGEND_AGENTS:]

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        if not series.times or not moving:
            _empty(ax, title, "No P&L moved today")
            return
        x = mdates.date2num(list(series.times))
        for k in rest:
            ax.plot(x, moving[k], color=OTHERS, lw=1.2, alpha=0.6, zorder=1)
        for k in sorted(named, key=lambda k: -moving[k][-1]):
            label = f"{_label(k, agents)}  {fmt_pnl(moving[k][-1])}"
            ax.plot(x, moving[k], color=colors[k], lw=2.6, zorder=3, label=label)
        if rest:
            ax.plot([], [], color=OTHERS, lw=2, label=f"{len(rest)} other agents")
        ax.plot(x, series.portfolio, color=INK, lw=4.5, zorder=5, label=f"Portfolio  {fmt_pnl(series.portfolio[-1])}")
        ax.axhline(0, color=INK, lw=1, alpha=0.6)
        _time_axis(ax, report)
        _usd_axis(ax)
        ax.set_ylabel("USDT")
        ax.set_title(title)
        handles, labels = ax.get_legend_handles_labels()
        order = [len(labels) - 1, *range(len(labels) - 1)]  # portfolio first
        ax.legend(
            [handles[i] for i in order],
            [labels[i] for i in order],
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0,
            handlelength=1.6,
        )

    best = ranked[0] if ranked else None
    text = f"Cumulative P&L through {report.day.date} ({report.day.timezone})"
    text += f": portfolio {fmt_pnl(report.totals.total_pnl)} USDT"
    if best is not None:
        text += f"; largest mover {_label(best, agents)} {fmt_pnl(moving[best][-1])}"
    return Chart("01-intraday-pnl.png", _png(draw), _caption(text))


# ---- 2. the day's P&L by agent


def _agent_rows(report: Report) -> list[tuple[str, str, float, float, float, float]]:
    """(label, colour key, realized gross, unrealized change, −fees, total), best first, middle grouped."""
    agents = sorted((a for a in report.agents if a.active), key=lambda a: (-a.totals.total_pnl, a.agent_id))

    def row(a: AgentReport) -> tuple[str, str, float, float, float, float]:
        t = a.totals
        return (
            _label(a.agent_id, {a.agent_id: a}),
            a.agent_id,
            t.net_realized_pnl + t.fees,
            t.unrealized_change,
            -t.fees,
            t.total_pnl,
        )

    if len(agents) <= MAX_ROWS:
        return [row(a) for a in agents]
    head, middle, tail = (
        agents[: MAX_ROWS // 2],
        agents[MAX_ROWS // 2 : -(MAX_ROWS // 2 - 1)],
        agents[-(MAX_ROWS // 2 - 1) :],
    )
    parts = np.array([row(a)[2:] for a in middle]).sum(axis=0)
    others = (f"{len(middle)} others", "", *(float(v) for v in parts))
    return [row(a) for a in head] + [others] + [row(a) for a in tail]


def agents_chart(report: Report, colors: dict[str, str]) -> Chart:
    """Horizontal stacked bars per agent: gross realized, unrealized change and fees; a diamond at the total."""
    rows = _agent_rows(report)
    title = f"P&L by agent on {report.day.date}"

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        if not rows:
            _empty(ax, title, "No agent traded or held a position")
            return
        size = 18 if len(rows) <= 12 else 14
        ys = np.arange(len(rows))
        for y, (_, key, realized, unreal, fees, _total) in zip(ys, rows, strict=True):
            if not key:  # the grouped middle: its sum would dwarf every agent, so it shows as a number only
                continue
            color = colors[key]
            styles = [
                dict(color=color),
                dict(facecolor=matplotlib.colors.to_rgba(color, 0.35), edgecolor=color, hatch="//", lw=0),
                dict(color="#303030"),
            ]
            pos = neg = 0.0
            for value, style in zip((realized, unreal, fees), styles, strict=True):
                left = pos if value >= 0 else neg
                ax.barh(y, value, left=left, height=0.72, zorder=2, **style)
                pos, neg = (pos + value, neg) if value >= 0 else (pos, neg + value)
        marked = [(r[5], y) for r, y in zip(rows, ys, strict=True) if r[1]]
        ax.scatter(
            [m[0] for m in marked],
            [m[1] for m in marked],
            marker="D",
            s=110 if len(rows) <= 12 else 60,
            color=INK,
            zorder=4,
        )
        _rows_axis(ax, [r[0] if r[1] else f"{r[0]} (sum)" for r in rows], [r[5] for r in rows], size, "USDT")
        ax.set_title(title)
        legend = [
            Patch(color="#9a9a9a", label="Realized (gross)"),
            Patch(facecolor="#77777759", edgecolor="#777777", hatch="//", label="Unrealized change"),
            Patch(color="#303030", label="Fees"),
            Line2D([], [], marker="D", color=INK, lw=0, markersize=10, label="Day total"),
        ]
        fig.legend(handles=legend, loc="outside lower center", ncols=4, fontsize=17)

    best = rows[0] if rows else None
    text = f"P&L by agent on {report.day.date}: gross realized, unrealized change and fees; ◆ day total"
    if best is not None:
        text += f". Best {best[0]} {fmt_pnl(best[5])}, worst {rows[-1][0]} {fmt_pnl(rows[-1][5])} USDT"
    return Chart("02-agents-pnl.png", _png(draw), _caption(text))


# ---- 3. the last 30 days


def history_chart(report: Report) -> Chart:
    """The portfolio's last 30 days: equity line, daily P&L bars (target dashed) and drawdown."""
    window = report.daily[-30:]
    title = "Last 30 days: equity, daily P&L, drawdown"

    def draw(fig: Figure) -> None:
        if not window:
            _empty(fig.add_subplot(), title, "No history yet")
            return
        eq_ax, pnl_ax, dd_ax = fig.subplots(3, 1, sharex=True, height_ratios=[3, 2.4, 1.6])
        x = mdates.date2num([datetime.combine(p.date, time()) for p in window])
        pnl = np.array([p.total_pnl for p in window])
        eq_ax.plot(x, [p.equity for p in window], color=INK, lw=3.2, marker="o", markersize=5)
        eq_ax.set_ylabel("Equity")
        eq_ax.margins(y=0.18)
        _usd_axis(eq_ax, signed=False)
        eq_ax.annotate(
            fmt_usd(window[-1].equity),
            (x[-1], window[-1].equity),
            xytext=(-8, 14),
            textcoords="offset points",
            ha="right",
            fontsize=18,
            fontweight="bold",
        )
        pnl_ax.bar(x, pnl, width=0.75, color=np.where(pnl >= 0, GAIN, LOSS), zorder=2)
        target = report.daily_pnl_target
        if target and target <= 1.5 * float(np.max(np.abs(pnl))):
            pnl_ax.axhline(target, color=INK, lw=1.6, ls="--")
            blend = matplotlib.transforms.blended_transform_factory(pnl_ax.transAxes, pnl_ax.transData)
            pnl_ax.text(0.005, target, f" target {fmt_pnl(target, 0)}", va="bottom", fontsize=16, transform=blend)
        elif target:  # a line far above the bars would flatten them: say where it is instead
            pnl_ax.text(
                0.005,
                0.97,
                f"daily target {fmt_pnl(target, 0)} (above the scale)",
                va="top",
                fontsize=16,
                transform=pnl_ax.transAxes,
                color="#555555",
            )
        pnl_ax.axhline(0, color=INK, lw=1)
        pnl_ax.set_ylabel("Day P&L")
        _usd_axis(pnl_ax)
        dd = np.array(drawdown_series(window)) * 100
        dd_ax.fill_between(x, dd, 0, color=LOSS, alpha=0.35, lw=0, step="mid")
        dd_ax.plot(x, dd, color=LOSS, lw=2, drawstyle="steps-mid")
        dd_ax.set_ylim(min(dd.min() * 1.15, -0.5), 0.2)
        _usd_axis(dd_ax, suffix="%", bins=3)
        dd_ax.set_ylabel("Drawdown")
        dd_ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=4, maxticks=8))
        dd_ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
        dd_ax.set_xlim(x[0] - 0.6, x[-1] + 0.6)
        for ax in (eq_ax, pnl_ax, dd_ax):
            ax.yaxis.label.set_size(17)
        eq_ax.set_title(title)
        fig.align_ylabels()

    text = title
    if window:
        risk = report.risk.get("30d")
        text = (
            f"Last {len(window)} days: P&L {fmt_pnl(float(sum(p.total_pnl for p in window)))} USDT, "
            f"equity {fmt_usd(window[-1].equity)}"
            + (f", max drawdown {fmt_signed_pct(risk.max_drawdown, 1)}" if risk else "")
        )
    return Chart("03-last-30-days.png", _png(draw), _caption(text))


# ---- 4. P&L by symbol


def symbols_chart(report: Report) -> Chart:
    """Net realized P&L of the ten largest symbols by size, the rest summed as "others"."""
    ranked = sorted(report.symbols, key=lambda s: (-abs(s.net_realized_pnl), s.symbol))
    rows = [(plain(s.symbol), s.net_realized_pnl) for s in ranked[:TOP_SYMBOLS]]
    if len(ranked) > TOP_SYMBOLS:
        rest = ranked[TOP_SYMBOLS:]
        rows.append((f"{len(rest)} others", float(sum(s.net_realized_pnl for s in rest))))
    rows.sort(key=lambda r: -r[1])
    title = f"Net realized P&L by symbol on {report.day.date}"

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        if not rows:
            _empty(ax, title, "No fills today")
            return
        ys = np.arange(len(rows))
        values = [v for _, v in rows]
        colors = [OTHERS if label.endswith(" others") else GAIN if v >= 0 else LOSS for label, v in rows]
        ax.barh(ys, values, height=0.7, color=colors, zorder=2)
        _rows_axis(ax, [label for label, _ in rows], values, 18, "USDT, after fees")
        ax.set_title(title)

    text = title
    if rows:
        text += f": best {rows[0][0]} {fmt_pnl(rows[0][1])}, worst {rows[-1][0]} {fmt_pnl(rows[-1][1])} USDT"
    return Chart("04-symbols-pnl.png", _png(draw), _caption(text))


# ---- 5. account equity through the day (Prometheus)


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
        _time_axis(ax, report)
        _usd_axis(ax, signed=False)
        ax.set_ylabel("USDT")
        ax.set_title(title)
        # The figures go in a right-hand title: annotations inside the plot would sit on the line.
        ax.set_title(f"{fmt_usd(values[0])} → {fmt_usd(values[-1])}", loc="right", fontsize=22)

    text = f"Account equity {fmt_usd(values[0])} → {fmt_usd(values[-1])} USDT"
    if ops.max_drawdown is not None:
        text += f", max drawdown {fmt_signed_pct(ops.max_drawdown, 1)}"
    return Chart("05-operations-equity.png", _png(draw), _caption(text))


def render_charts(report: Report) -> list[Chart]:
    """Every chart of the report, in album order; the equity chart only when Prometheus gave a curve."""
    return [chart for _, chart in chart_share(report)]


def chart_share(report: Report, part: int = 0, parts: int = 1) -> list[tuple[int, Chart]]:
    """The charts whose album position ``i`` has ``i % parts == part``, with that position.

    Worker processes each draw one share; the bytes are those :func:`render_charts` gives.
    """
    colors = agent_colors(report)
    jobs: list[Callable[[], Chart | None]] = [
        lambda: intraday_chart(report, colors),
        lambda: agents_chart(report, colors),
        lambda: history_chart(report),
        lambda: symbols_chart(report),
        lambda: equity_chart(report),
    ]
    drawn = ((i, job()) for i, job in enumerate(jobs) if i % parts == part)
    return [(i, chart) for i, chart in drawn if chart is not None]
