"""What ``report schedule`` runs at each fire time: the day's report, then the week's and the month's that end
on that day (``REPORT_PERIODS``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from reports.calendar import PERIOD_KINDS, ends_period
from reports.settings import Settings


def run_report(
    settings: Settings,
    day: date,
    *,
    send: bool,
    output: Path | None,
    should_stop: Callable[[], bool] | None = None,
) -> str:
    """The production run: one day's report, then the week's on a Sunday and the month's on its last day (as
    ``REPORT_PERIODS`` asks; a period already delivered is left alone); a one-line outcome."""
    from reports.errors import ReportError
    from reports.operations.artifacts import artifacts_dir
    from reports.operations.backfill_day import delivered_everywhere
    from reports.operations.pipeline import RunOptions, run

    outcomes, failed = [], []
    for kind in periods_ending(day, settings.periods):
        if kind != "day" and send and delivered_everywhere(settings, day, kind):
            continue
        where = artifacts_dir(kind, day, output) if output else None
        options = RunOptions(day, send=send, output=where, should_stop=should_stop, period=kind)
        try:
            outcome = run(options, settings)
        except ReportError as exc:
            if kind == "day":
                raise
            failed.append(f"the {kind} ending {day}: {exc}")
            continue
        done = f"{outcome.messages_sent} Telegram messages" if send else f"artifacts in {outcome.output_dir}"
        label = f"report {day}" if kind == "day" else f"{kind} report to {day}"
        outcomes.append(f"{label}: total P&L {outcome.report.totals.total_pnl:+,.2f} USDT, {done}")
    if failed:
        raise ReportError("; ".join([*outcomes, *failed]))
    return "; ".join(outcomes)


def periods_ending(day: date, periods: tuple[str, ...]) -> list[str]:
    """The periods of ``periods`` that end on ``day``, the day first: a week ends on a Sunday, a month on its
    last day."""
    return [kind for kind in PERIOD_KINDS if kind in periods and ends_period(kind, day)]
