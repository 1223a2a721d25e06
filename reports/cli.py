"""The ``report`` command line (CONTRACT 2): parse, check, call the pipeline, turn errors into one line.

Each command builds its inputs and calls one library function (pipeline, backfill, schedule, check).
Heavy libraries (pandas, matplotlib, telegram, apscheduler) are imported only by the commands that need them,
so ``report --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from reports import calendar
from reports.cli_args import build_parser
from reports.errors import ReportError, UsageError

if TYPE_CHECKING:
    from reports.settings import Settings

log = logging.getLogger("reports")


def parse_date(raw: str, flag: str = "--date") -> date:
    """A ``YYYY-MM-DD`` date (:func:`reports.calendar.parse_date`), or :class:`UsageError` naming ``flag``."""
    try:
        return calendar.parse_date(raw)
    except calendar.BadDate as exc:
        if exc.malformed:
            raise UsageError(f"{flag} {raw!r} is not a date: use YYYY-MM-DD, e.g. {flag} 2025-11-21") from None
        raise UsageError(f"{flag} {raw!r} is not a valid calendar date: use YYYY-MM-DD") from None


def check_ended(day: date, timezone: str, flag: str = "--date", now: datetime | None = None) -> date:
    """``day`` if it has ended in ``timezone``, else :class:`UsageError`."""
    try:
        return calendar.resolve("day", day, timezone, now)
    except calendar.NotEnded as exc:
        raise UsageError(
            f"{flag} {day.isoformat()} has not ended yet in {timezone}: the latest complete day is {exc.latest.last}"
        ) from None


def setup_logging(settings: Settings | None, verbose: bool) -> None:
    """Logs to standard error as text, or JSON lines with ``REPORT_LOG_FORMAT=json``; secrets scrubbed."""
    from reports.logs import setup_logging as setup

    setup(fmt=settings.log_format if settings else "text", verbose=verbose)


def _settings(verbose: bool) -> Settings:
    from reports.settings import Settings

    settings = Settings.from_env()
    setup_logging(settings, verbose)
    return settings


def _need_telegram(settings: Settings) -> None:
    from reports.delivery.records import DeliveryStore
    from reports.errors import DeliveryError

    if settings.telegram_bot_token is None:
        raise UsageError("TELEGRAM_BOT_TOKEN is not set: set it to send, or use --dry-run")
    if not settings.telegram_chats:
        raise UsageError("TELEGRAM_CHAT_ID is not set: set it to one or more chat ids to send, or use --dry-run")
    if settings.state_url:
        return  # the database is checked when the run opens it: a fault there is exit 1, not a setting
    try:  # without its delivery records a re-run would post again: a setting to fix before any request
        DeliveryStore(settings.state_dir).check_writable()
    except DeliveryError as exc:
        raise UsageError(str(exc)) from None


def _report(args: argparse.Namespace) -> int:
    settings = _settings(args.verbose)
    if args.date and (args.date_from or args.date_to):
        raise UsageError("--date cannot be combined with --from/--to: give one day or a range")
    if bool(args.date_from) != bool(args.date_to):
        raise UsageError("--from and --to go together: give both, e.g. --from 2025-11-01 --to 2025-11-07")
    if (args.workers is not None or args.shard) and not args.date_from:
        raise UsageError("--workers and --shard apply to a range: give --from and --to")
    if args.today:
        return _today(args, settings)
    send = not args.dry_run and (not args.demo or args.send)
    if args.date_from:
        return _backfill(args, settings, send)
    day = _report_day(args, settings.timezone)
    if send:
        _need_telegram(settings)
    from reports.logs import run_context
    from reports.operations.pipeline import RunOptions, run

    with run_context(day):
        options = RunOptions(
            day,
            demo=args.demo,
            send=send,
            output=args.output,
            force=args.force,
            rebuild=args.rebuild,
            rebuild_from=_rebuild_from(args),
            period=args.period,
        )
        outcome = run(options, settings)
    totals = outcome.report.totals
    where = f", artifacts in {outcome.output_dir}" if outcome.output_dir else ""
    sent = f", {outcome.messages_sent} Telegram messages sent" if send else " (dry run, nothing sent)"
    figures = outcome.report.period
    what = day.isoformat() if figures is None else f"{args.period} {figures.period.first}..{figures.period.last}"
    print(f"report {what}: total P&L {totals.total_pnl:+,.2f} USDT{sent}{where}")
    return 0


def _today(args: argparse.Namespace, settings: Settings) -> int:
    """``report --today``: the day so far; a dry run unless ``--send``, which posts it once (no delivery record)."""
    if args.date or args.date_from or args.date_to:
        raise UsageError("--today cannot be combined with --date or --from/--to: it reports the day in progress")
    if args.period != "day":
        raise UsageError(f"--today reports the day so far: it cannot be combined with --period {args.period}")
    if args.force:
        raise UsageError("--force has nothing to do with --today: the day so far has no delivery record to override")
    send = args.send and not args.dry_run
    if send and settings.telegram_bot_token is None:
        raise UsageError("TELEGRAM_BOT_TOKEN is not set: set it to send the day so far, or leave out --send")
    if send and not settings.telegram_chats:
        raise UsageError("TELEGRAM_CHAT_ID is not set: set it to one or more chat ids, or leave out --send")
    from reports.logs import run_context
    from reports.operations.today import run_today

    with run_context(datetime.now(ZoneInfo(settings.timezone)).date()):
        outcome = run_today(
            settings,
            demo=args.demo,
            send=send,
            output=args.output,
            rebuild=args.rebuild,
            rebuild_from=_rebuild_from(args),
        )
    where = f", artifacts in {outcome.output_dir}" if outcome.output_dir else ""
    sent = f", {outcome.messages_sent} Telegram messages sent" if send else " (dry run, nothing sent)"
    day = outcome.report.day.date.isoformat()
    print(f"report {day} so far ({outcome.label}): total P&L {outcome.report.totals.total_pnl:+,.2f} USDT{sent}{where}")
    return 0


def _report_day(args: argparse.Namespace, timezone: str) -> date:
    """The report's last day: the day asked for, or the last day of the week or month that holds it."""
    day = parse_date(args.date) if args.date else None
    if args.period == "day" and day is not None:
        return check_ended(day, timezone)
    try:
        return calendar.resolve(args.period, day, timezone)
    except calendar.NotEnded as exc:
        asked, done = exc.asked, exc.latest
        raise UsageError(
            f"--date {args.date} is in the {args.period} {asked.first}..{asked.last}, which has not ended yet in "
            f"{timezone}: the latest complete {args.period} is {done.first}..{done.last}"
        ) from None


def _ended_range(args: argparse.Namespace, timezone: str, period: str) -> tuple[date, date]:
    """``--from``/``--to`` as dates that have ended (for a week or a month: whose period has ended), in order."""
    first = check_ended(parse_date(args.date_from, "--from"), timezone, "--from")
    last = check_ended(parse_date(args.date_to, "--to"), timezone, "--to")
    if period != "day":
        end = calendar.period_of(period, last, timezone).last
        check_ended(end, timezone, f"the {period} of --to {last}, ending")
    if last < first:
        raise UsageError(f"--to {last} is before --from {first}: give the range oldest first")
    return first, last


def _backfill(args: argparse.Namespace, settings: Settings, send: bool) -> int:
    """``report --from D1 --to D2``: every day of the range, then the table; exit 1 if any day failed."""
    first, last = _ended_range(args, settings.timezone, getattr(args, "period", "day"))
    if send:
        _need_telegram(settings)
    from reports.operations.backfill import backfill, failure_summary, render_table
    from reports.operations.parallel import cores, parse_shard

    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers}: give 1 or more (1 builds the days one by one)")
    shard = parse_shard(args.shard) if args.shard else None
    results = backfill(
        first,
        last,
        settings,
        demo=args.demo,
        send=send,
        output=args.output,
        force=args.force,
        rebuild=args.rebuild,
        rebuild_from=_rebuild_from(args),
        period=args.period,
        workers=args.workers or cores(),
        shard=shard,
    )
    print(render_table(results))
    problem = failure_summary(results)
    if problem:
        raise ReportError(problem)
    return 0


def _rebuild_from(args: argparse.Namespace) -> date | None:
    if args.rebuild_from is None:
        return None
    if args.rebuild:
        raise UsageError("--rebuild and --rebuild-from exclude each other: --rebuild forgets every stored day")
    return parse_date(args.rebuild_from, "--rebuild-from")


def _verify(args: argparse.Namespace) -> int:
    """``report verify``: the stored days against the service; exit 1 when one differs."""
    settings = _settings(args.verbose)
    first, last = _ended_range(args, settings.timezone, getattr(args, "period", "day"))
    from reports.operations.verify import verify

    checks = verify(settings, first, last)
    for check in checks:
        print(check.render(), flush=True)
    differ = [c.date.isoformat() for c in checks if c.outcome == "differs"]
    print(f"{len(checks)} day(s): {len(checks) - len(differ)} as stored or not stored, {len(differ)} differ")
    if differ:
        raise ReportError(
            f"{len(differ)} stored day(s) differ from the trading service ({', '.join(differ[:5])}"
            f"{', ...' if len(differ) > 5 else ''}): run 'report --rebuild-from {differ[0]}' to read them again"
        )
    return 0


def _schedule(args: argparse.Namespace) -> int:
    """``report schedule``: send each day's report at REPORT_SCHEDULE until SIGTERM/SIGINT."""
    settings = _settings(args.verbose)
    from reports.cron import parse_schedule
    from reports.schedule.runner import run_schedule

    parse_schedule(settings.schedule, settings.timezone)  # a bad cron is exit 2 before anything else
    if not args.dry_run:
        _need_telegram(settings)
    return run_schedule(settings, send=not args.dry_run, output=args.output, grace=args.grace)


def _bot(args: argparse.Namespace) -> int:
    """``report bot``: answer the allowed chats until SIGTERM/SIGINT."""
    settings = _settings(args.verbose)
    if settings.telegram_bot_token is None:
        raise UsageError("TELEGRAM_BOT_TOKEN is not set: the bot needs the token BotFather gave it")
    if not settings.telegram_allowed_chats:
        raise UsageError(
            "TELEGRAM_ALLOWED_CHATS and TELEGRAM_CHAT_ID are not set: the bot would answer no one; set the chats "
            "it may answer"
        )
    from reports.bot.app import run_bot

    return run_bot(settings, demo=args.demo, verbose=args.verbose)


def _check(args: argparse.Namespace) -> int:
    """``report check``: one line per link; exit 0 when everything needed to send works."""
    settings = _settings(args.verbose)
    from reports.checks.run import exit_status, run_checks

    lines = []
    for line in run_checks(settings):
        print(line.render(), flush=True)
        lines.append(line)
    status = exit_status(lines)
    broken = ", ".join(line.link for line in lines if line.status == "fail")
    if status:
        raise (UsageError if status == 2 else ReportError)(f"report check: not ready to send: {broken}")
    return 0


def _state(args: argparse.Namespace) -> int:
    """``report state import`` (the folder's state into the database) or ``export`` (back); one line per part."""
    settings = _settings(args.verbose)
    if args.action == "export":
        from reports.operations.state_export import export_state

        for line in export_state(settings).lines():
            print(line, flush=True)
        return 0
    from reports.operations.state_import import ImportIncomplete, import_state

    try:
        done = import_state(settings)
    except ImportIncomplete as exc:
        for line in exc.done.lines():
            print(line, flush=True)
        raise
    for line in done.lines():
        print(line, flush=True)
    return 0


COMMANDS = {"report": _report, "schedule": _schedule, "verify": _verify, "bot": _bot, "check": _check, "state": _state}
"""What each parser's ``command`` runs."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``report`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv or "-v" in argv
    from reports.logs import failure_line

    try:
        args = build_parser().parse_args(argv)
        args.verbose = getattr(args, "verbose", False) or args.verbose_lead
        return COMMANDS[args.command](args)
    except ReportError as exc:
        if verbose:
            log.exception("failed")
        failure_line(f"report: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        failure_line("report: interrupted")
        return 130
    except Exception as exc:
        if verbose:
            log.exception("internal error")
        failure_line(f"report: internal error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
