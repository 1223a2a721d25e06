"""Issue 11's cases: 20,000 fills a day, histories of 30, 180 and 365 days.

- **First runs** (empty state) build each history's store; the longest one's peak memory is judged (the
  largest day should set it, not the length of the history), and so is its **read rate**: the fills the
  fake served over the run's wall time (spawn to exit), against the rate at which ``orjson.loads`` alone
  decodes the very bodies the fake served in that run (produced again byte for byte, decoded in this
  process, each timed on its own), measured right after it.
- **Next-day runs** (state kept): the store each first run left is copied aside, and every next-day run
  starts from a fresh copy of it; the lengths take turns (30 180 365, 180 365 30, ...) over several
  rounds and are compared by their medians: wall time and peak memory within 15 % of each other.

One tape holds the longest history; the fake shows each shorter one from its own first day on, so the
days a shorter history holds are byte for byte those of the longer ones.
"""

from __future__ import annotations

import shutil
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import orjson

from bench.child import ChildRun
from bench.data import generate, history
from bench.fake import FakeService
from bench.measure import (
    JOB_DELAY,
    REPORT_DAY,
    Context,
    Row,
    end_of,
    failed,
    median,
    median_stages,
    rotations,
    run_report,
    settle,
    trades_in,
)
from bench.versions import Version

SPREAD = 1.15
"""Next-day runs: the largest median (wall, peak) over the smallest, across the lengths of history."""
FIRST_RUN_MB = 500.0
READ_RATIO = 0.5
"""The first run's read rate over orjson's decode rate of the same bytes."""


def _start_of(day: date) -> datetime:
    return end_of(day - timedelta(days=1))


def _run(
    ctx: Context, fake: FakeService, key: str, day: date, state: Path, out: Path, version: Version | None = None
) -> tuple[ChildRun, int, int]:
    fake.reset_counters()
    env = {"TRADING_SERVICE_URL": fake.url, "REPORT_STATE_DIR": str(state), "REPORT_TIMEZONE": "UTC"}
    args = ["--date", day.isoformat(), "--dry-run", "--output", str(out)]
    run = run_report(ctx, version or ctx.new, key, args, env)
    return run, fake.rows_served, fake.requests


def _decode_rate(fake: FakeService) -> tuple[int, float, int]:
    """Rows, seconds and bodies of ``orjson.loads`` alone on every body recorded."""
    rows, seconds, bodies = 0, 0.0, 0
    for body in fake.bodies():
        started = time.perf_counter()
        doc = orjson.loads(body)
        seconds += time.perf_counter() - started
        rows += len(doc["trades"])
        bodies += 1
        del doc
    return rows, seconds, bodies


def case_scale(ctx: Context) -> list[Row]:
    """First runs and next-day runs at ``scale_fills`` a day over each length of ``scale_days``."""
    s = ctx.sizes
    per_day, lengths, longest = s.scale_fills, s.scale_days, max(s.scale_days)
    next_day = REPORT_DAY + timedelta(days=1)
    days = [*history(REPORT_DAY, per_day, longest, per_day), (next_day, per_day)]
    ctx.log(f"  generating and encoding {sum(n for _, n in days):,} fills")
    tape = generate(days)
    fake = FakeService(tape)
    rows: list[Row] = []
    kept: dict[int, Path] = {}
    decoded: list[tuple[int, float, int]] = []
    rate: tuple[ChildRun, int, int] | None = None
    old_rate: tuple[ChildRun, int] | None = None
    with fake.serve():
        for n in lengths:
            fake.show_from(_start_of(REPORT_DAY - timedelta(days=n)))
            fake.show_until(end_of(REPORT_DAY) + JOB_DELAY)
            fake.record, fake.recorded = n == longest, []
            state, out = ctx.workdir / f"state-scale-{n}", ctx.workdir / f"out-scale-first-{n}"
            ctx.log(f"  first run, {n} days × {per_day:,} fills (empty state)")
            key = "scale_first" if n == longest else f"scale_first_{n}"
            run, served, requests = _run(ctx, fake, key, REPORT_DAY, state, out)
            fake.record = False
            total = tape.count_between(_start_of(REPORT_DAY - timedelta(days=n)), end_of(REPORT_DAY))
            row = Row(
                f"{per_day:,} fills a day × {n} days: first run (empty state)",
                f"≤ {FIRST_RUN_MB:g} MB" if n == longest else "—",
                fills=total,
                wall_s=run.wall_s,
                peak_mb=run.peak_mb,
                served=served,
                stages=run.stages,
            )
            if not run.ok:
                rows.append(failed(row, run))
                continue
            kept[n] = ctx.workdir / f"state-scale-{n}-kept"
            shutil.copytree(state, kept[n])
            misses = []
            expected = tape.count_between(_start_of(REPORT_DAY), end_of(REPORT_DAY))
            if (trades := trades_in(out)) != expected:
                misses.append(f"report.json has {trades} trades on the day, expected {expected:,}")
            if n == longest and run.peak_mb > FIRST_RUN_MB:
                misses.append(f"{run.peak_mb:,.0f} MB > {FIRST_RUN_MB:g} MB")
            row.note = f"{requests:,} requests, {served / run.wall_s:,.0f} fills/s end to end"
            if n != longest:
                row.met = None
                row.note = "; ".join([row.note, *misses])
                rows.append(row)
                continue
            rows.append(settle(ctx, row, misses))
            ctx.log(f"  orjson.loads on the {len(fake.recorded):,} bodies served")
            decoded = [_decode_rate(fake)]
            rate = (run, served, n)
            if ctx.old is not None:  # issue 22: the code before, side by side on the same service
                ctx.log(f"  first run, {n} days × {per_day:,} fills (empty state), the old code")
                old_state, old_out = ctx.workdir / f"state-scale-{n}-old", ctx.workdir / f"out-scale-first-{n}-old"
                old_key = f"scale_first_old_{n}"
                old_run, old_served, _ = _run(ctx, fake, old_key, REPORT_DAY, old_state, old_out, ctx.old)
                old_rate = (old_run, old_served) if old_run.ok else None
        rows.extend(_next_days(ctx, fake, kept, next_day, per_day))
        if decoded:
            # A second pass at the end of the case: the faster one is the yardstick (the machine is shared).
            ctx.log("  orjson.loads on the same bodies again")
            decoded.append(_decode_rate(fake))
            fake.recorded = []
            at = next(k for k, r in enumerate(rows) if r.case.endswith(f"× {rate[2]} days: first run (empty state)"))
            rows.insert(at + 1, _read_rate_row(ctx, decoded, *rate, per_day, old_rate))
    return rows


def _read_rate_row(
    ctx: Context,
    passes: list[tuple[int, float, int]],
    run: ChildRun,
    served: int,
    n: int,
    per_day: int,
    old: tuple[ChildRun, int] | None = None,
) -> Row:
    decoded, seconds, bodies = min(passes, key=lambda p: p[1])
    e2e, alone = served / run.wall_s, decoded / seconds
    row = Row(
        f"{per_day:,} fills a day × {n} days: first run's read rate",
        f"≥ {READ_RATIO:.0%} of `orjson.loads` alone",
        fills=served,
        wall_s=run.wall_s,
        served=served,
    )
    row.note = (
        f"{e2e:,.0f} fills/s served over the run's wall time = {e2e / alone:.0%} of `orjson.loads` alone on the "
        f"same {bodies:,} bodies ({alone:,.0f} fills/s, {seconds:.1f} s, the faster of {len(passes)} passes); the "
        f"child's CPU time {run.cpu_s:.1f} s"
    )
    if old is not None:
        old_run, old_served = old
        old_e2e = old_served / old_run.wall_s
        row.vs_old = run.wall_s / old_run.wall_s
        row.note += (
            f"; the old code in the same run: {old_e2e:,.0f} fills/s = {old_e2e / alone:.0%}, "
            f"wall {old_run.wall_s:.1f} s, CPU {old_run.cpu_s:.1f} s, peak {old_run.peak_mb:,.0f} MB"
        )
    misses = [] if e2e >= READ_RATIO * alone else [f"{e2e / alone:.0%} < {READ_RATIO:.0%}"]
    if decoded != served:
        misses.append(f"decoded {decoded:,} rows, served {served:,}")
    return settle(ctx, row, misses)


def _next_days(ctx: Context, fake: FakeService, kept: dict[int, Path], next_day: date, per_day: int) -> list[Row]:
    """Next-day runs from a fresh copy of each store, the lengths taking turns; medians compared."""
    lengths = sorted(kept)
    if not lengths:
        return []
    runs: dict[int, list[tuple[ChildRun, int, int]]] = {n: [] for n in lengths}
    repeats = ctx.sizes.scale_repeats
    fake.show_until(end_of(next_day) + JOB_DELAY)
    for r, order in rotations(lengths, repeats):
        for n in order:
            ctx.log(f"  round {r + 1}/{repeats}: next day, {n} days kept")
            fake.show_from(_start_of(REPORT_DAY - timedelta(days=n)))
            state = ctx.workdir / f"state-scale-{n}-run"
            shutil.rmtree(state, ignore_errors=True)
            shutil.copytree(kept[n], state)
            key = "scale_next" if n == max(lengths) else f"scale_next_{n}"
            runs[n].append(_run(ctx, fake, key, next_day, state, ctx.workdir / f"out-scale-next-{n}"))
    expected = fake.tape.count_between(_start_of(next_day), end_of(next_day))
    rows: list[Row] = []
    good: dict[int, Row] = {}
    walls: dict[int, float] = {}
    peaks: dict[int, float] = {}
    cpu: dict[int, float] = {}
    for n in lengths:
        row = Row(
            f"{per_day:,} fills a day × {n} days: next day, state kept",
            f"wall and peak within {SPREAD - 1:.0%} across {', '.join(map(str, lengths))} days",
            fills=fake.tape.count_between(_start_of(REPORT_DAY - timedelta(days=n)), end_of(next_day)),
        )
        broken = [r for r, _, _ in runs[n] if not r.ok]
        if broken:
            rows.append(failed(row, broken[0]))
            continue
        row.wall_s = walls[n] = median([r.wall_s for r, _, _ in runs[n]])
        row.peak_mb = peaks[n] = median([r.peak_mb for r, _, _ in runs[n]])
        row.served = runs[n][-1][1]
        row.stages = median_stages([r for r, _, _ in runs[n]])
        cpu[n] = median([r.cpu_s for r, _, _ in runs[n]])
        row.note = (
            f"medians of {len(runs[n])}: wall {min(r.wall_s for r, _, _ in runs[n]):.2f}–"
            f"{max(r.wall_s for r, _, _ in runs[n]):.2f} s, peak {min(r.peak_mb for r, _, _ in runs[n]):,.0f}–"
            f"{max(r.peak_mb for r, _, _ in runs[n]):,.0f} MB, CPU {cpu[n]:.2f} s; {runs[n][-1][2]} requests"
        )
        rows.append(row)
        good[n] = row
    if len(good) == len(lengths):
        wall_spread = max(walls.values()) / min(walls.values())
        peak_spread = max(peaks.values()) / min(peaks.values())
        spread_miss = []
        if wall_spread > SPREAD:
            spread_miss.append(f"wall spread {wall_spread:.2f} > {SPREAD:.2f}")
        if peak_spread > SPREAD:
            spread_miss.append(f"peak spread {peak_spread:.2f} > {SPREAD:.2f}")
        for n, row in good.items():
            misses = list(spread_miss)
            row.note += (
                f"; wall {walls[n] / min(walls.values()):.2f}×, peak {peaks[n] / min(peaks.values()):.2f}×, "
                f"CPU {cpu[n] / min(cpu.values()):.2f}× the smallest"
            )
            trades = trades_in(ctx.workdir / f"out-scale-next-{n}")
            if trades != expected:
                misses.append(f"report.json has {trades} trades on the day, expected {expected:,}")
            if row.served is not None and row.served > expected + fake.page_cap:
                misses.append(f"served {row.served:,} > {expected + fake.page_cap:,} (the new day and a page)")
            settle(ctx, row, misses)
    return rows
