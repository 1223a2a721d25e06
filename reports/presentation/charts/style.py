"""What every chart shares: size, type, colours, fixed rcParams, the PNG encoding and the axis helpers."""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
from matplotlib.ticker import Formatter, MaxNLocator

from reports.models import AgentReport, Report
from reports.presentation.fmt import agent_label, fmt_pnl, fmt_usd

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


def figure() -> Figure:
    return Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")


def png(draw: Callable[[Figure], None]) -> bytes:
    """Draw on a fresh figure under fixed rcParams and encode it without metadata that varies."""
    # "default" first: every rcParam from matplotlib's defaults, whatever the process set globally.
    with matplotlib.style.context(["default", RC]):
        fig = figure()
        draw(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


MAX_TICK_DIGITS = 6


def tick_digits(locs: Sequence[float]) -> int:
    """The fewest decimals that write every tick exactly: ticks 2.5 apart get one (−7.5, never "−8")."""
    values = np.asarray(locs, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return 0
    # Locator ticks are multiples of their step computed in floating point (0.30000000000000004): a
    # tolerance far below any shown digit lets them count as the round numbers they are.
    tolerance = 1e-9 * max(1.0, float(np.max(np.abs(values))))
    for digits in range(MAX_TICK_DIGITS):
        if np.all(np.abs(values - np.round(values, digits)) <= tolerance):
            return digits
    return MAX_TICK_DIGITS


class UsdFormatter(Formatter):
    """USDT tick labels with as many decimals as the ticks need to read as their values, no more."""

    def __init__(self, signed: bool, suffix: str = "") -> None:
        self.signed, self.suffix, self.digits = signed, suffix, 0

    def set_locs(self, locs: Sequence[float]) -> None:
        super().set_locs(locs)
        self.digits = tick_digits(locs)

    def __call__(self, x: float, pos: int | None = None) -> str:
        text = fmt_pnl(x, self.digits) if self.signed else fmt_usd(x, self.digits)
        return text + self.suffix


def usd_axis(ax: Axes, axis: str = "y", signed: bool = True, suffix: str = "", bins: int = 6) -> None:
    getattr(ax, f"{axis}axis").set_major_formatter(UsdFormatter(signed, suffix))
    getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(nbins=bins))


def empty(ax: Axes, title: str, message: str) -> None:
    ax.set_title(title)
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=26, color=OTHERS, transform=ax.transAxes)


def caption(text: str) -> str:
    """Telegram-HTML caption: cut to the limit as plain text first, so an entity is never cut in half."""
    if len(text) > CAPTION_LIMIT:
        text = text[: CAPTION_LIMIT - 1] + "…"
    return html.escape(text, quote=False)


def agent_name(agent_id: str, agents: dict[str, AgentReport]) -> str:
    agent = agents.get(agent_id)
    return plain(agent_label(agent, emoji=False) if agent else agent_id)


def rows_axis(ax: Axes, labels: Sequence[str], values: Sequence[float], size: float, xlabel: str) -> None:
    """A horizontal-bar axis: one row per label, top to bottom, and each signed value in a column just
    right of the plot, so a number never sits on a bar."""
    ys = np.arange(len(labels))
    ax.axvline(0, color=INK, lw=1.2)
    ax.set_yticks(ys, list(labels), fontsize=size)
    ax.set_ylim(len(labels) - 0.4, -0.6)
    ax.grid(axis="y", visible=False)
    usd_axis(ax, "x")
    ax.set_xlabel(xlabel)
    blend = matplotlib.transforms.blended_transform_factory(ax.transAxes, ax.transData)
    for y, v in zip(ys, values, strict=True):
        color = GAIN if v > 0 else LOSS if v < 0 else INK
        ax.text(1.01, y, fmt_pnl(v), transform=blend, va="center", fontsize=size, color=color, fontweight="bold")


def time_axis(ax: Axes, report: Report) -> None:
    """The trading day on x, 3-hour ticks in the report's zone."""
    zone = ZoneInfo(report.day.timezone)
    ax.set_xlim(mdates.date2num(report.day.start), mdates.date2num(report.day.end))
    ax.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, 3), tz=zone))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))
