"""The cases of the benchmark (issue 7), each measured and turned into one row of the table."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import numpy as np

from bench.child import ROOT, ChildRun, child_env, report_argv, run_child
from bench.data import generate, history, to_frame
from bench.fake import FakeService

REPORT_DAY = date(2025, 6, 30)
"""A fixed, long-ended day: the same data on every run of the benchmark."""
JOB_DELAY = timedelta(minutes=5)
"""The job runs a few minutes after midnight: the service already holds the first fills of the new day."""
STAGES = ("fetch", "engine", "summaries", "charts", "render")


@dataclass(frozen=True)
class Sizes:
    """How big each case is."""

    engine: tuple[int, ...]
    day_fills: int
    history_days: int
    history_fills: int
    big_fills: int
    big_history_days: int
    repeats: int


FULL = Sizes((250_000, 500_000, 1_000_000), 100_000, 90, 10_000, 1_000_000, 7, 3)
QUICK = Sizes((10_000, 20_000, 40_000), 2_000, 5, 300, 20_000, 2, 1)


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
    met: bool | None = None
    note: str = ""


@dataclass
class Context:
    """What the cases share: sizes, where to put things, whether to judge targets, an optional profile."""

    sizes: Sizes
    workdir: Path
    judge: bool
    profile: str | None = None
    profiles: dict[str, Path] = field(default_factory=dict)
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True)


def _end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), dtime(0), tzinfo=UTC)


def _judge(ctx: Context, ok: bool) -> bool | None:
    return ok if ctx.judge else None


def _run_report(ctx: Context, key: str, args: list[str], env: dict[str, str]) -> ChildRun:
    profile = ctx.workdir / f"{key}.prof" if ctx.profile == key else None
    run = run_child(report_argv([*args, "--verbose"], profile), child_env(env))
    if profile is not None:
        ctx.profiles[key] = profile
    return run


def _failed(row: Row, run: ChildRun) -> Row:
    row.met = False
    row.note = f"exit {run.exit_code}: {run.error_line()[:200]}"
    return row


def _trades(out: Path) -> int | None:
    try:
        return int(json.loads((out / "report.json").read_text(encoding="utf-8"))["totals"]["trades"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def case_help(ctx: Context) -> list[Row]:
    """``report --help``: the median of several runs (imports are the whole cost)."""
    runs = [run_child(report_argv(["--help"]), child_env({})) for _ in range(max(3, ctx.sizes.repeats + 2))]
    wall = statistics.median(r.wall_s for r in runs)
    row = Row("`report --help`", "≤ 0.3 s", wall_s=wall, peak_mb=max(r.peak_mb for r in runs))
    row.met = _judge(ctx, wall <= 0.3 and all(r.ok for r in runs))
    row.note = f"median of {len(runs)}, min {min(r.wall_s for r in runs):.3f} s"
    broken = [r for r in runs if not r.ok]
    return [_failed(row, broken[0])] if broken else [row]


def case_engine(ctx: Context) -> list[Row]:
    """``reports.numbers.engine.replay`` in process on generated fills, snapshots at every day's end."""
    from reports.models import Fills
    from reports.numbers.engine import replay

    rows: list[Row] = []
    for n in ctx.sizes.engine:
        per_day = min(n, 10_000)
        n_days = n // per_day
        days = [(REPORT_DAY - timedelta(days=k), per_day) for k in range(n_days)]
        fills = Fills.from_frame(to_frame(generate(days)))
        snaps = np.array([int(_end_of(d).timestamp()) * 1_000_000_000 for d, _ in sorted(days)], dtype=np.int64)
        best = float("inf")
        for _ in range(max(1, ctx.sizes.repeats - 1)):
            started = time.perf_counter()
            replay(fills, snaps)
            best = min(best, time.perf_counter() - started)
        rate = len(fills) / best
        row = Row(f"engine replay, {n:,} fills", "≥ 1,000,000 fills/s, linear", fills=len(fills), wall_s=best)
        row.met = _judge(ctx, rate >= 1_000_000)
        row.note = f"{rate:,.0f} fills/s, {best / len(fills) * 1e9:.0f} ns/fill, {len(snaps)} snapshots"
        rows.append(row)
    # Linear: the cost per fill of the largest size stays within 1.5x of the smallest's.
    per_fill = [r.wall_s / r.fills for r in rows if r.wall_s and r.fills]
    if len(per_fill) > 1 and per_fill[-1] > 1.5 * per_fill[0]:
        rows[-1].met = _judge(ctx, False)
        rows[-1].note += f"; not linear: {per_fill[-1] / per_fill[0]:.2f}x the cost per fill of the smallest size"
    return rows


def case_history(ctx: Context) -> list[Row]:
    """The first run over a long history, then the next day's run with the state kept."""
    s = ctx.sizes
    next_day = REPORT_DAY + timedelta(days=1)
    days = [*history(REPORT_DAY, s.day_fills, s.history_days, s.history_fills), (next_day, s.day_fills)]
    ctx.log(f"  generating and encoding {sum(n for _, n in days):,} fills")
    tape = generate(days)
    fake = FakeService(tape)
    state = ctx.workdir / "state-history"
    rows: list[Row] = []
    with fake.serve():
        env = {"TRADING_SERVICE_URL": fake.url, "REPORT_STATE_DIR": str(state), "REPORT_TIMEZONE": "UTC"}
        for key, day, label, limit in (
            ("history", REPORT_DAY, "first run (empty state)", 30.0),
            ("next_day", next_day, "next day, state kept", 8.0),
        ):
            fake.show_until(_end_of(day) + JOB_DELAY)
            fake.reset_counters()
            out = ctx.workdir / f"out-{key}"
            expected = tape.count_between(_end_of(day) - timedelta(days=1), _end_of(day))
            total = tape.count_between(datetime(1970, 1, 1, tzinfo=UTC), _end_of(day))
            ctx.log(f"  report --date {day} ({label})")
            run = _run_report(ctx, key, ["--date", day.isoformat(), "--dry-run", "--output", str(out)], env)
            row = Row(
                f"{s.day_fills:,} fills on the day + {s.history_days} days × {s.history_fills:,}: {label}",
                f"≤ {limit:g} s" + (", reads only the new day" if key == "next_day" else ""),
                fills=total,
                wall_s=run.wall_s,
                peak_mb=run.peak_mb,
                served=fake.rows_served,
                stages=run.stages,
            )
            if not run.ok:
                rows.append(_failed(row, run))
                continue
            trades = _trades(out)
            misses = _misses(run, limit, None, trades, expected)
            # The new day, plus the fills of the page that overlaps the previous day's end.
            if key == "next_day" and fake.rows_served > expected + fake.page_cap:
                misses.append(f"served {fake.rows_served:,} > {expected + fake.page_cap:,} (the new day and a page)")
            row.met = _judge(ctx, not misses)
            row.note = "; ".join([f"{fake.requests} requests", *misses])
            rows.append(row)
    return rows


def case_big_day(ctx: Context) -> list[Row]:
    """A million fills on the report day (a week of ordinary history before it), first run."""
    s = ctx.sizes
    days = history(REPORT_DAY, s.big_fills, s.big_history_days, s.history_fills)
    ctx.log(f"  generating and encoding {sum(n for _, n in days):,} fills")
    tape = generate(days)
    fake = FakeService(tape)
    fake.show_until(_end_of(REPORT_DAY) + JOB_DELAY)
    out = ctx.workdir / "out-big"
    with fake.serve():
        env = {
            "TRADING_SERVICE_URL": fake.url,
            "REPORT_STATE_DIR": str(ctx.workdir / "state-big"),
            "REPORT_TIMEZONE": "UTC",
        }
        ctx.log(f"  report --date {REPORT_DAY} ({s.big_fills:,} fills on the day)")
        run = _run_report(ctx, "big", ["--date", REPORT_DAY.isoformat(), "--dry-run", "--output", str(out)], env)
    expected = tape.count_between(_end_of(REPORT_DAY) - timedelta(days=1), _end_of(REPORT_DAY))
    row = Row(
        f"{s.big_fills:,} fills on the day (+ {s.big_history_days} days of history)",
        "≤ 60 s, ≤ 1.5 GB",
        fills=len(tape),
        wall_s=run.wall_s,
        peak_mb=run.peak_mb,
        served=fake.rows_served,
        stages=run.stages,
    )
    if not run.ok:
        return [_failed(row, run)]
    trades = _trades(out)
    misses = _misses(run, 60.0, 1536.0, trades, expected)
    row.met = _judge(ctx, not misses)
    row.note = "; ".join([f"{fake.requests} requests", *misses])
    return [row]


def _misses(run: ChildRun, seconds: float, megabytes: float | None, trades: int | None, expected: int) -> list[str]:
    """What a report run missed: its time, its memory, or the day's trade count in its report.json."""
    out = []
    if run.wall_s > seconds:
        out.append(f"{run.wall_s:.1f} s > {seconds:g} s")
    if megabytes is not None and run.peak_mb > megabytes:
        out.append(f"{run.peak_mb:,.0f} MB > {megabytes:,.0f} MB")
    if trades != expected:
        out.append(f"report.json has {trades} trades on the day, expected {expected:,}")
    return out


def case_demo(ctx: Context) -> list[Row]:
    """``report --demo`` against quantstats' ``reports.html`` on its daily returns, alternating, medians."""
    demo_runs: list[ChildRun] = []
    qs_runs: list[tuple[ChildRun, dict[str, float]]] = []
    out = ctx.workdir / "out-demo"
    for i in range(ctx.sizes.repeats):
        ctx.log(f"  demo and quantstats, round {i + 1}/{ctx.sizes.repeats}")
        demo = _run_report(ctx, "demo", ["--demo", "--output", str(out)], {"REPORT_STATE_DIR": str(ctx.workdir)})
        demo_runs.append(demo)
        if not demo.ok:
            return [_failed(Row("demo report end to end", "≤ ½ × quantstats"), demo)]
        qs = run_child(
            [sys.executable, "-m", "bench.qs_child", str(out / "report.json"), str(ctx.workdir / "quantstats.html")],
            child_env({"MPLBACKEND": "Agg"}),
            cwd=ROOT,
        )
        if not qs.ok:
            return [_failed(Row("quantstats `reports.html`", "yardstick"), qs)]
        qs_runs.append((qs, json.loads(qs.stdout.strip().splitlines()[-1])))
    demo_wall = statistics.median(r.wall_s for r in demo_runs)
    qs_wall = statistics.median(r.wall_s for r, _ in qs_runs)
    qs_html = statistics.median(t["html_s"] for _, t in qs_runs)
    qs_import = statistics.median(t["import_s"] for _, t in qs_runs)
    days = int(qs_runs[0][1]["days"])
    stages = {k: statistics.median(r.stages.get(k, 0.0) for r in demo_runs) for k in demo_runs[0].stages}
    demo = Row(
        "demo report end to end (`report --demo`)",
        "≤ ½ × quantstats",
        fills=_demo_fills(demo_runs[0]),
        wall_s=demo_wall,
        peak_mb=max(r.peak_mb for r in demo_runs),
        stages=stages,
        vs_quantstats=demo_wall / qs_wall,
    )
    demo.met = _judge(ctx, demo_wall / qs_wall <= 0.5)
    if demo_wall / qs_wall > 0.5:
        demo.note = f"{demo_wall:.2f} s > ½ × {qs_wall:.2f} s; "
    demo.note += (
        f"median of {len(demo_runs)}; vs the `reports.html` call alone "
        f"(without quantstats' {qs_import:.2f} s import): {demo_wall / qs_html:.2f}"
    )
    qs_row = Row(
        "quantstats `reports.html`, same daily returns, own process",
        "yardstick",
        wall_s=qs_wall,
        peak_mb=max(r.peak_mb for r, _ in qs_runs),
        vs_quantstats=1.0,
        note=f"{days} daily returns; import {qs_import:.2f} s + reports.html {qs_html:.2f} s",
    )
    return [demo, qs_row]


def _demo_fills(run: ChildRun) -> int | None:
    for line in run.stderr.splitlines():
        if "fetched" in line and "fills" in line:
            words = line.split()
            i = words.index("fetched")
            if i + 1 < len(words) and words[i + 1].replace(",", "").isdigit():
                return int(words[i + 1].replace(",", ""))
    return None


CASES: dict[str, Callable[[Context], list[Row]]] = {
    "help": case_help,
    "engine": case_engine,
    "history": case_history,
    "big": case_big_day,
    "demo": case_demo,
}


def run_cases(ctx: Context, names: list[str]) -> list[Row]:
    """Run the named cases in order; a case that breaks becomes a failed row, the others still run."""
    rows: list[Row] = []
    for name in names:
        ctx.log(f"case {name}")
        try:
            rows.extend(CASES[name](ctx))
        except Exception as exc:
            traceback.print_exc()
            rows.append(Row(name, "—", met=False, note=f"benchmark error: {type(exc).__name__}: {exc}"))
    return rows


def new_workdir() -> Path:
    """A fresh temporary folder for outputs and state."""
    return Path(tempfile.mkdtemp(prefix="report-bench-"))
