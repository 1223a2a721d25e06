"""The day so far (``report --today``, the bot's ``/today``): the report of the current day up to now.

It is a day's report whose day ends at the instant it was taken (:func:`~reports.numbers.closing.partial_day`):
every figure of the daily report up to now, marks from the last fill before now, ``period.kind`` ``"partial"``
in report.json, and "as of 14:05 UTC, not final" on the first line of the summary and of report.html. It is
built from the store of closed days and today's fills so far, and it is never stored (only a day that has
ended is), never delivered through the daily delivery records, and pushes no job metrics (it must not look
like a daily report that went out). ``--send`` posts it to the chats as a one-off: no record, a re-run posts
it again.
"""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from reports.delivery.outbox import Outbox
from reports.errors import DeliveryError
from reports.models import Report
from reports.settings import Settings

log = logging.getLogger("reports")


@dataclass(frozen=True)
class TodayOutcome:
    """What ``report --today`` did."""

    report: Report
    label: str
    output_dir: Path | None
    messages_sent: int = 0


def build_today(
    settings: Settings,
    *,
    demo: bool,
    now: datetime | None = None,
    pool: Executor | None = None,
    rebuild: bool = False,
    rebuild_from: date | None = None,
) -> tuple[Report, Outbox]:
    """The report of the day so far at ``now`` (default: now) and its outbox, labelled as not final."""
    from reports.calendar import partial_day
    from reports.operations.pipeline import build, render
    from reports.presentation.workers import chart_workers

    day = partial_day(now or datetime.now(UTC), settings.timezone)
    if pool is None:
        with chart_workers() as workers:
            report = build(settings, day, demo=demo, rebuild=rebuild, rebuild_from=rebuild_from)
            outbox, _ = render(report, settings, workers)
    else:
        report = build(settings, day, demo=demo, rebuild=rebuild, rebuild_from=rebuild_from)
        outbox, _ = render(report, settings, pool)
    return report, labelled(outbox, report)


def labelled(outbox: Outbox, report: Report) -> Outbox:
    """The outbox of a partial report with its label on the summary, in report.html and the document's caption."""
    from reports.presentation.partial import label_html, label_summary, partial_label

    label = partial_label(report)
    if label is None:
        return outbox
    document = outbox.document
    if document is not None:
        page = label_html(document.data.decode("utf-8"), label)
        document = dataclasses.replace(document, data=page.encode("utf-8"), caption=f"{document.caption}, {label}")
    return dataclasses.replace(
        outbox, messages=label_summary(outbox.messages, label), document=document, kind="partial"
    )


def run_today(
    settings: Settings,
    *,
    demo: bool,
    send: bool,
    output: Path | None,
    rebuild: bool = False,
    rebuild_from: date | None = None,
    now: datetime | None = None,
) -> TodayOutcome:
    """``report --today``: build the day so far, write its artifacts (a dry run: ``./out/<date>-today/``), and
    with ``send`` post it to every chat of ``TELEGRAM_CHAT_ID`` as a one-off."""
    from reports.operations.artifacts import artifacts_dir
    from reports.operations.pipeline import write_artifacts
    from reports.presentation.partial import partial_label

    if not demo:
        from reports.sources.prometheus import load_queries

        load_queries(settings.queries_file)  # a malformed queries file is a usage error, before any request
    report, outbox = build_today(settings, demo=demo, now=now, rebuild=rebuild, rebuild_from=rebuild_from)
    label = partial_label(report) or ""
    if output is None and not send:
        output = artifacts_dir("partial", report.day.date)
    if output is not None:
        write_artifacts(report, outbox, settings, output)
        log.info("artifacts written to %s", output)
    sent = 0
    if send:
        from reports.delivery.oneoff import send_oneoff

        result = send_oneoff(outbox, settings)
        sent = result.sent
        if result.failed:
            raise DeliveryError(
                f"the day so far was not posted to {len(result.failed)} of {len(settings.telegram_chats)} chat(s): "
                f"{'; '.join(result.failed)}; run it again (a one-off: the chats that got it get it again)"
            )
    return TodayOutcome(report, label, output, sent)
