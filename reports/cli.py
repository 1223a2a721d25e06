"""The ``report`` command line (CONTRACT 2): parse, check, call the pipeline, turn errors into one line.

Heavy libraries (pandas, matplotlib, telegram) are imported only by the commands that need them,
so ``report --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from reports.errors import ReportError, UsageError

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SUBCOMMANDS = ("schedule", "check")

log = logging.getLogger("reports")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2) like every other failure."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see report --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="report",
        description="Build the daily strategy report of the Sapphire trading system and post it to Telegram.",
        epilog="Subcommands: 'report schedule' runs the daily schedule in the foreground; "
        "'report check' checks every source and destination. Settings come from the environment (see README).",
    )
    parser.add_argument("--date", metavar="YYYY-MM-DD", help="trading day to report (default: the last complete day)")
    parser.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="first day of a range of reports")
    parser.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="last day of a range of reports")
    parser.add_argument("--dry-run", action="store_true", help="build everything, send nothing, write the artifacts")
    parser.add_argument("--output", type=Path, metavar="DIR", help="write the artifacts to DIR (created if missing)")
    parser.add_argument("--demo", action="store_true", help="use the embedded demo data; implies --dry-run")
    parser.add_argument("--send", action="store_true", help="with --demo: send to Telegram after all")
    parser.add_argument("--force", action="store_true", help="send again even if this date was already delivered")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logs, and tracebacks on errors")
    return parser


def parse_date(raw: str, flag: str = "--date") -> date:
    """A ``YYYY-MM-DD`` date, or :class:`UsageError`."""
    if not DATE_RE.match(raw):
        raise UsageError(f"{flag} {raw!r} is not a date: use YYYY-MM-DD, e.g. {flag} 2025-11-21")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise UsageError(f"{flag} {raw!r} is not a valid calendar date: use YYYY-MM-DD") from None


def last_complete_day(timezone: str, now: datetime | None = None) -> date:
    """Yesterday in ``timezone``: the last trading day that has ended."""
    current = now.astimezone(ZoneInfo(timezone)) if now else datetime.now(ZoneInfo(timezone))
    return current.date() - timedelta(days=1)


def check_ended(day: date, timezone: str, flag: str = "--date", now: datetime | None = None) -> date:
    """``day`` if it has ended in ``timezone``, else :class:`UsageError`."""
    latest = last_complete_day(timezone, now)
    if day > latest:
        raise UsageError(
            f"{flag} {day.isoformat()} has not ended yet in {timezone}: the latest complete day is {latest.isoformat()}"
        )
    return day


def setup_logging(verbose: bool) -> None:
    """Log to standard error; keep the HTTP clients quiet: their request lines hold the bot token."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "telegram", "apscheduler", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _report(args: argparse.Namespace) -> int:
    from reports.settings import Settings

    settings = Settings.from_env()
    if args.date and (args.date_from or args.date_to):
        raise UsageError("--date cannot be combined with --from/--to: give one day or a range")
    if bool(args.date_from) != bool(args.date_to):
        raise UsageError("--from and --to go together: give both, e.g. --from 2025-11-01 --to 2025-11-07")
    send = not args.dry_run and (not args.demo or args.send)
    if args.date_from:
        first = check_ended(parse_date(args.date_from, "--from"), settings.timezone, "--from")
        last = check_ended(parse_date(args.date_to, "--to"), settings.timezone, "--to")
        if last < first:
            raise UsageError(f"--to {last} is before --from {first}: give the range oldest first")
        raise UsageError("--from/--to is not available yet in this version: run one --date at a time")
    day = check_ended(parse_date(args.date), settings.timezone) if args.date else last_complete_day(settings.timezone)
    if send:
        if settings.telegram_bot_token is None:
            raise UsageError("TELEGRAM_BOT_TOKEN is not set: set it to send, or use --dry-run")
        if not settings.telegram_chats:
            raise UsageError("TELEGRAM_CHAT_ID is not set: set it to one or more chat ids to send, or use --dry-run")
    from reports.pipeline import RunOptions, run

    outcome = run(RunOptions(day, demo=args.demo, send=send, output=args.output, force=args.force), settings)
    totals = outcome.report.totals
    where = f", artifacts in {outcome.output_dir}" if outcome.output_dir else ""
    sent = f", {outcome.messages_sent} Telegram calls" if send else " (dry run, nothing sent)"
    print(f"report {day.isoformat()}: total P&L {totals.total_pnl:+,.2f} USDT{sent}{where}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``report`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv or "-v" in argv
    try:
        if argv and argv[0] in SUBCOMMANDS:
            raise UsageError(f"'report {argv[0]}' is not available yet in this version")
        args = _parser().parse_args(argv)
        setup_logging(args.verbose)
        return _report(args)
    except ReportError as exc:
        if verbose:
            log.exception("failed")
        print(f"report: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("report: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if verbose:
            log.exception("internal error")
        print(
            f"report: internal error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
