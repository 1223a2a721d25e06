"""One day of ``report --from D1 --to D2``: what its run is given and gives back, the run itself, and the progress
over the days. Shared by the loop (:mod:`reports.operations.backfill`) and the workers side by side
(:mod:`reports.operations.parallel`): the workers import this, never the loop.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, TYPE_CHECKING

from reports.delivery.record_stores import records_for
from reports.errors import DeliveryError, ReportError, UsageError
from reports.logs import StatusLine
from reports.settings import Settings

if TYPE_CHECKING:
    from reports.operations.pipeline import RunOptions, Stages

log = logging.getLogger("reports.operations.backfill")

BAR_WIDTH = 24


@dataclass(frozen=True, slots=True)
class DayResult:
    """What happened to one day of the range."""

    day: date
    outcome: str  # "sent", "written" (dry run), "skipped" (already delivered) or "failed"
    total_pnl: float | None = None
    detail: str = ""

    @property
    def failed(self) -> bool:
        """True when the day's report was not built or not delivered to every chat."""
        return self.outcome == "failed"


@dataclass(frozen=True)
class DayJob:
    """What every worker is given once (pickled with each day: small)."""

    settings: Settings
    demo: bool
    send: bool
    output: Path | None
    force: bool
    period: str


def delivered_everywhere(settings: Settings, day: date, kind: str = "day") -> bool:
    """True when every configured chat has a complete delivery record for ``day`` (for a week or a month, the
    one that ends on ``day``).

    An unreadable record counts as not delivered: the run then says what is wrong with it.
    """
    if not settings.telegram_chats:
        return False
    store = records_for(settings, kind)
    try:
        for chat in settings.telegram_chats:
            try:
                record = store.load(day, chat)
            except DeliveryError:
                return False
            if record is None or not record.complete:
                return False
        return True
    finally:
        store.close()


class Progress:
    """Progress over the days: a bar redrawn in place on a terminal, one plain line per day otherwise."""

    def __init__(self, total: int, stream: IO[str] | None = None, *, tty: bool | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.done = 0
        self.failed = 0
        self.line: StatusLine | None = None

    def bar(self, current: str) -> str:
        """The bar for ``done`` of ``total`` days, e.g. ``[######------] 2/5 2025-11-03``."""
        filled = round(BAR_WIDTH * self.done / self.total) if self.total else BAR_WIDTH
        failed = f", {self.failed} failed" if self.failed else ""
        return f"backfill [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {self.done}/{self.total}{failed} {current}"

    def starting(self, day: date) -> None:
        """A day's run begins."""
        if self.line is not None:
            self.line.show(self.bar(f"{day} ..."))

    def finished(self, result: DayResult) -> None:
        """A day's run ended with ``result``."""
        self.done += 1
        self.failed += result.failed
        if self.line is not None:
            self.line.show(self.bar(f"{result.day} {result.outcome}"))
        else:
            pnl = f", total P&L {result.total_pnl:+,.2f} USDT" if result.total_pnl is not None else ""
            print(f"backfill {self.done}/{self.total} {result.day}: {result.outcome}{pnl}", file=self.stream)


def run_day(
    day: date,
    job: DayJob,
    stages: Stages | None = None,
    *,
    rebuild: bool = False,
    rebuild_from: date | None = None,
) -> DayResult:
    """One day of the range, as ``report --date DAY`` would run it (a day delivered to every chat is skipped)."""
    from reports.operations.artifacts import artifacts_dir
    from reports.operations.pipeline import RunOptions

    settings, send, period, output = job.settings, job.send, job.period, job.output
    already = send and not job.force and delivered_everywhere(settings, day, period)
    if already and output is None:
        log.info("report %s was already delivered to every chat: skipped (--force sends it again)", day)
        return DayResult(day, "skipped", None, "already delivered")
    options = RunOptions(
        day,
        demo=job.demo,
        send=send,
        output=artifacts_dir(period, day, output) if output else None,
        force=job.force,
        rebuild=rebuild,
        rebuild_from=rebuild_from,
        period=period,
    )
    result = _run_one(options, settings, stages)
    if already and result.outcome == "sent":  # built and written; the delivery only edited or left it
        return DayResult(day, "skipped", result.total_pnl, f"already delivered; {result.detail}")
    return result


def _run_one(options: RunOptions, settings: Settings, stages: Stages | None = None) -> DayResult:
    from reports.operations.pipeline import run

    day, send = options.report_date, options.send
    try:
        outcome = run(options, settings, stages=stages)
    except UsageError:  # a setting that is wrong for one day is wrong for all: stop, exit 2
        raise
    except ReportError as exc:
        log.error("report %s failed: %s", day, exc)
        return DayResult(day, "failed", None, str(exc))
    except Exception as exc:  # one day's bug must not cost the other days their reports
        log.error("report %s failed with an internal error: %s: %s", day, type(exc).__name__, exc)
        log.debug("traceback", exc_info=True)
        return DayResult(day, "failed", None, f"internal error: {type(exc).__name__}: {exc}")
    detail = f"{outcome.messages_sent} Telegram messages" if send else ""
    if outcome.output_dir is not None:
        detail = f"{detail}, artifacts in {outcome.output_dir}" if detail else f"artifacts in {outcome.output_dir}"
    return DayResult(day, "sent" if send else "written", outcome.report.totals.total_pnl, detail)
