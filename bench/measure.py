"""What the cases share: sizes, the row of the table, running one version of ``report`` and comparing two.

Every time target is a ratio of runs made side by side in one benchmark run (this machine's speed drifts
from day to day): versions and sizes are run in alternating rounds, ``A B`` then ``B A``, and compared by
their medians. Memory is absolute: the child's own ``ru_maxrss``.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import TypeVar

from bench.child import ChildRun, child_env, run_child
from bench.versions import Version

REPORT_DAY = date(2025, 6, 30)
"""A fixed, long-ended day: the same data on every run of the benchmark."""
JOB_DELAY = timedelta(minutes=5)
"""The job runs a few minutes after midnight: the service already holds the first fills of the new day."""
STAGES = ("fetch", "engine", "summaries", "charts", "render")
T = TypeVar("T")
NOT_SLOWER = 1.05
"""new/old up to this counts as "not slower": medians of a few runs on this shared machine move by a few %."""


@dataclass(frozen=True)
class Sizes:
    """How big each case is, and how many rounds of each are run."""

    engine: tuple[int, ...]
    day_fills: int
    history_days: int
    history_fills: int
    big_fills: int
    big_history_days: int
    repeats: int
    scale_days: tuple[int, ...]
    """Lengths of history of the next-day case (issue 11), each with ``scale_fills`` fills a day."""
    scale_fills: int
    scale_repeats: int
    old_cases: frozenset[str]
    """The cases that run the old code too (quick mode: only a few, to keep the smoke test short)."""
    big_repeats: int = 1
    """Rounds of the big day (its new/old is the closest call: a few more rounds than the others)."""
    huge_fills: int = 0
    """Fills of the day that must fit in the pod's 1 GiB (issue 22), the new code once; 0: not run."""


FULL = Sizes(
    (250_000, 500_000, 1_000_000),
    100_000,
    90,
    10_000,
    1_000_000,
    7,
    3,
    (30, 180, 365),
    20_000,
    7,
    frozenset({"help", "engine", "history", "big", "demo"}),
    5,
    huge_fills=3_000_000,
)
QUICK = Sizes((10_000, 20_000, 40_000), 2_000, 5, 300, 20_000, 2, 1, (2, 4), 500, 1, frozenset({"help", "history"}))


@dataclass
class Row:
    """One line of the table; ``met`` is None where no target applies (or in quick mode)."""

    case: str
    target: str
    fills: int | None = None
    wall_s: float | None = None
    peak_mb: float | None = None
    served: int | None = None
    stages: dict[str, float] = field(default_factory=dict)
    vs_quantstats: float | None = None
    vs_old: float | None = None
    """The new code's wall time over the old code's, medians of the same rounds."""
    met: bool | None = None
    note: str = ""


@dataclass
class Context:
    """What the cases share: sizes, where to put things, the code compared, whether to judge, a profile."""

    sizes: Sizes
    workdir: Path
    judge: bool
    new: Version
    old: Version | None = None
    profile: str | None = None
    profiles: dict[str, Path] = field(default_factory=dict)
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True)
    case: str = ""
    """The case being run (it decides whether the old code runs too)."""

    @property
    def compared(self) -> Version | None:
        """The old code, when the current case runs it."""
        return self.old if self.case in self.sizes.old_cases else None

    @property
    def versions(self) -> list[Version]:
        """The new code, and the old one when the current case compares them."""
        old = self.compared
        return [self.new] if old is None else [self.new, old]


def end_of(day: date) -> datetime:
    """The end of the UTC day ``day`` (the start of the next one)."""
    return datetime.combine(day + timedelta(days=1), dtime(0), tzinfo=UTC)


def rounds(items: Sequence[Version], n: int) -> Iterator[tuple[int, list[Version]]]:
    """``n`` rounds over ``items``, the order turned round every other round (drift hits each alike)."""
    for i in range(n):
        yield i, list(items) if i % 2 == 0 else list(items)[::-1]


def rotations(items: Sequence[T], n: int) -> Iterator[tuple[int, list[T]]]:
    """``n`` rounds over ``items``, each round starting one further along (A B C, B C A, C A B, ...)."""
    for i in range(n):
        k = i % len(items)
        yield i, [*items[k:], *items[:k]]


def run_report(ctx: Context, version: Version, key: str, args: list[str], env: dict[str, str]) -> ChildRun:
    """``report ARGS --verbose`` of ``version`` as a measured child (the new one under cProfile if asked)."""
    profile = ctx.workdir / f"{key}.prof" if ctx.profile == key and version.name == "new" else None
    run = run_child(version.argv([*args, "--verbose"], profile), child_env(version.env(env)), cwd=version.tree)
    if profile is not None:
        ctx.profiles[key] = profile
    return run


def judge(ctx: Context, ok: bool) -> bool | None:
    """``ok`` when targets are judged, else None (quick mode)."""
    return ok if ctx.judge else None


def failed(row: Row, run: ChildRun, who: str = "") -> Row:
    """The row of a run that did not exit 0."""
    row.met = False
    row.note = f"{who}exit {run.exit_code}: {run.error_line()[:200]}"
    return row


def trades_in(out: Path) -> int | None:
    """The day's trade count in ``out/report.json`` (None when it cannot be read)."""
    try:
        return int(json.loads((out / "report.json").read_text(encoding="utf-8"))["totals"]["trades"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def median(values: Sequence[float]) -> float:
    """The median (of a non-empty sequence)."""
    return float(statistics.median(values))


def median_stages(runs: Sequence[ChildRun]) -> dict[str, float]:
    """Per stage, the median over the runs that logged it."""
    names = sorted({k for r in runs for k in r.stages})
    return {k: median([r.stages[k] for r in runs if k in r.stages]) for k in names}


def versus_old(ctx: Context, row: Row, new: Sequence[float], old: Sequence[float], misses: list[str]) -> None:
    """Set ``row.vs_old`` from the medians of the same rounds; a ratio above :data:`NOT_SLOWER` is a miss."""
    if ctx.compared is None or not new or not old:
        return
    row.vs_old = median(new) / median(old)
    row.note += (", " if row.note else "") + f"old {median(old):.3f} s"
    if row.vs_old > NOT_SLOWER:
        misses.append(f"{row.vs_old:.2f} × the old code's time")


def settle(ctx: Context, row: Row, misses: list[str]) -> Row:
    """Judge ``row`` by its misses, written into its note."""
    row.met = judge(ctx, not misses)
    row.note = "; ".join([p for p in (row.note, *misses) if p])
    return row
