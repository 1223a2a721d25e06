"""Issue 22's backfill case: ``report --from D1 --to D2`` over 90 days of 20,000 fills, per day, against one cold
``report --date D --dry-run`` of the same data, side by side in one run.

- **The yardstick**: a cold day, as the daily job runs it: a new process, the store holding the days before D
  (copied afresh for each round from the store the backfill left), reading D and building its report.
- **The backfill**: from an empty state, as after a change of the contract (``--rebuild``): the range's days closed
  first, one by one, then every day's report built, one process per core (the default) and, for comparison, one by
  one (``--workers 1``). Per day: the wall time over the days.

The rounds alternate (cold day, backfill side by side, backfill one by one): the machine is shared and noisy.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from bench.child import ChildRun
from bench.data import generate, history
from bench.fake import FakeService
from bench.measure import JOB_DELAY, REPORT_DAY, Context, Row, end_of, failed, median, run_report, settle

TARGET = 0.15
"""A backfilled day over one cold day."""
DAYS = 90


def _cold_day(ctx: Context, fake: FakeService, store: Path, k: int) -> ChildRun:
    state = ctx.workdir / f"state-backfill-cold-{k}"
    shutil.rmtree(state, ignore_errors=True)
    shutil.copytree(store, state)
    env = {"TRADING_SERVICE_URL": fake.url, "REPORT_STATE_DIR": str(state), "REPORT_TIMEZONE": "UTC"}
    out = ctx.workdir / f"out-backfill-cold-{k}"
    args = ["--date", str(REPORT_DAY), "--dry-run", "--output", str(out)]
    return run_report(ctx, ctx.new, "backfill_cold", args, env)


def _backfill(ctx: Context, fake: FakeService, first: str, workers: int | None, k: int) -> tuple[ChildRun, Path]:
    state = ctx.workdir / f"state-backfill-{workers}-{k}"
    shutil.rmtree(state, ignore_errors=True)
    env = {"TRADING_SERVICE_URL": fake.url, "REPORT_STATE_DIR": str(state), "REPORT_TIMEZONE": "UTC"}
    out = ctx.workdir / f"out-backfill-{workers}-{k}"
    args = ["--from", first, "--to", str(REPORT_DAY), "--dry-run", "--output", str(out)]
    if workers is not None:
        args += ["--workers", str(workers)]
    return run_report(ctx, ctx.new, "backfill" if workers is None else f"backfill_{workers}", args, env), state


def case_backfill(ctx: Context) -> list[Row]:
    """The backfill of ``DAYS`` days at ``scale_fills`` a day (quick mode: 4 days), per day, against a cold day."""
    per_day = ctx.sizes.scale_fills
    n = DAYS if ctx.judge else 4
    rounds = 2 if ctx.judge else 1
    first = REPORT_DAY - timedelta(days=n - 1)
    days = history(REPORT_DAY, per_day, n - 1, per_day)
    ctx.log(f"  generating and encoding {sum(c for _, c in days):,} fills")
    fake = FakeService(generate(days))
    fake.show_until(end_of(REPORT_DAY) + JOB_DELAY)
    cold: list[ChildRun] = []
    side: list[ChildRun] = []
    one: list[ChildRun] = []
    store: Path | None = None
    with fake.serve():
        for k in range(rounds):
            ctx.log(f"  round {k + 1}/{rounds}: backfill of {n} days, one process per core")
            run, state = _backfill(ctx, fake, str(first), None, k)
            side.append(run)
            if not run.ok:
                return [failed(Row(f"backfill of {n} days", "—"), run)]
            store = store or state
            ctx.log(f"  round {k + 1}/{rounds}: one cold day, report --date {REPORT_DAY} --dry-run (store kept)")
            cold.append(_cold_day(ctx, fake, store, k))
            ctx.log(f"  round {k + 1}/{rounds}: backfill of {n} days, --workers 1")
            one.append(_backfill(ctx, fake, str(first), 1, k)[0])
    broken = [r for r in (*cold, *one) if not r.ok]
    if broken:
        return [failed(Row(f"backfill of {n} days", "—"), broken[0])]
    day_wall = median([r.wall_s for r in cold])
    yard = Row(
        f"one cold `report --date D --dry-run`, {per_day:,} fills, the {n - 1} days before stored",
        "yardstick",
        fills=per_day,
        wall_s=day_wall,
        peak_mb=max(r.peak_mb for r in cold),
        stages=cold[0].stages,
        note=f"median of {len(cold)}: {', '.join(f'{r.wall_s:.2f}' for r in cold)} s; CPU {cold[0].cpu_s:.2f} s",
    )
    rows = [yard]
    for label, runs, judged in (("one process per core (default)", side, True), ("`--workers 1`", one, False)):
        wall = median([r.wall_s for r in runs])
        per = wall / n
        row = Row(
            f"backfill of {n} days × {per_day:,} fills from an empty state, {label}: per day",
            f"≤ {TARGET:g} × one cold day" if judged else "—",
            fills=per_day * n,
            wall_s=per,
            peak_mb=max(r.peak_mb for r in runs),
            # Each day's stage times (its worker's), added up and over the days: a day's own cost, one core.
            stages={k: v / n for k, v in runs[0].stages.items()},
        )
        row.note = (
            f"{per / day_wall:.2f} × the cold day; whole range median {wall:.1f} s of "
            f"{', '.join(f'{r.wall_s:.1f}' for r in runs)} s, CPU {runs[0].cpu_s:.1f} s (workers included)"
        )
        if not judged:
            row.met = None
            rows.append(row)
            continue
        misses = [f"{per / day_wall:.2f} > {TARGET:g}"] if per > TARGET * day_wall else []
        rows.append(settle(ctx, row, misses))
    return rows
