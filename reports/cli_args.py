"""The ``report`` command line's arguments: the daily report's own flags and one subparser per subcommand.

Each parser names its command (``args.command``); :mod:`reports.cli` runs it. Only argparse and the calendar are
imported here, so ``report --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reports import calendar
from reports.errors import UsageError

GRACE = 3600.0  # reports.schedule.runner.DEFAULT_GRACE, repeated so that --help does not import APScheduler


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2) like every other failure."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def _verbose(parser: argparse.ArgumentParser) -> None:
    # Its own dest per level: a subcommand's default would otherwise undo `report -v schedule`.
    dest = "verbose" if parser.prog != "report" else "verbose_lead"
    parser.add_argument("--verbose", "-v", dest=dest, action="store_true", help="debug logs, and tracebacks on errors")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: the daily report's own flags, and one subparser per subcommand."""
    parser = _Parser(
        prog="report",
        description="Build the daily strategy report of the Sapphire trading system and post it to Telegram. "
        "Without a subcommand: the report of one day (or of --from/--to).",
        epilog="'report COMMAND --help' shows a command's own options. "
        "Settings come from the environment: see docs/contract.md.",
    )
    parser.add_argument("--date", metavar="YYYY-MM-DD", help="trading day to report (default: the last complete day)")
    parser.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="first day of a range of reports")
    parser.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="last day of a range of reports")
    parser.add_argument(
        "--period",
        choices=calendar.PERIOD_KINDS,
        default="day",
        help="report a day (default), a week (Monday to Sunday) or a calendar month; --date names one of its days",
    )
    parser.add_argument(
        "--today",
        action="store_true",
        help="the day so far, up to now (not final, never stored); a dry run unless --send, which posts it once",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="build everything, send nothing, write the artifacts (to ./out/2025-11-21/, ./out/2025-W47/ for a week, "
        "./out/2025-11/ for a month, ./out/2025-11-21-today/ for --today)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="write the artifacts to DIR (created if missing); with --from/--to, to DIR/<name>/ as for ./out/",
    )
    parser.add_argument("--demo", action="store_true", help="use the embedded demo data; implies --dry-run")
    parser.add_argument("--send", action="store_true", help="with --demo or --today: send to Telegram after all")
    parser.add_argument("--force", action="store_true", help="send again even if this date was already delivered")
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="with --from/--to: build the days in N processes side by side (default: one per core; 1: one by one)",
    )
    parser.add_argument(
        "--shard",
        metavar="INDEX/COUNT",
        help="with --from/--to: only every COUNT-th day from the INDEX-th (0-based; a Kubernetes Indexed Job's share)",
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="forget the store of closed days: read the whole history again"
    )
    parser.add_argument(
        "--rebuild-from",
        metavar="YYYY-MM-DD",
        help="forget the stored days from this one on: read them again (after a correction upstream)",
    )
    _verbose(parser)
    parser.set_defaults(command="report")
    commands = parser.add_subparsers(title="commands", metavar="[COMMAND]", parser_class=_Parser)

    schedule = commands.add_parser(
        "schedule",
        help="send each day's report at REPORT_SCHEDULE, in the foreground",
        description="Send each day's report at REPORT_SCHEDULE "
        "(cron) in REPORT_TIMEZONE, in the foreground, until SIGTERM or Ctrl-C.",
    )
    schedule.add_argument(
        "--grace",
        type=float,
        default=GRACE,
        metavar="SECONDS",
        help=f"run a missed run at most this late (default {GRACE:g}: a run missed by more is logged)",
    )
    schedule.add_argument("--dry-run", action="store_true", help="write the artifacts instead of sending")
    schedule.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="write each report's artifacts to DIR/<name>/ (2025-11-21, a week 2025-W47, a month 2025-11)",
    )
    _verbose(schedule)
    schedule.set_defaults(command="schedule")

    verify = commands.add_parser(
        "verify",
        help="compare the stored days with the trading service, day by day",
        description="Read every day of the range from the trading service again and compare it with the "
        "store of closed days; one line per day; exit 1 when a stored day differs.",
    )
    verify.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", required=True, help="first day to check")
    verify.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", required=True, help="last day to check")
    _verbose(verify)
    verify.set_defaults(command="verify")

    bot = commands.add_parser(
        "bot",
        help="answer the allowed chats' commands (/today, /report, ...), in the foreground",
        description="Answer commands from the chats of TELEGRAM_ALLOWED_CHATS (default: those of TELEGRAM_CHAT_ID) "
        "by long polling, in the foreground, until SIGTERM or Ctrl-C. It changes nothing in the trading system.",
    )
    bot.add_argument("--demo", action="store_true", help="answer from the embedded demo data")
    _verbose(bot)
    bot.set_defaults(command="bot")

    check = commands.add_parser(
        "check",
        help="check every source and destination, one line each",
        description="Check each configured source and destination, "
        "one line each; exit 0 when everything needed to send works.",
    )
    _verbose(check)
    check.set_defaults(command="check")

    state = commands.add_parser(
        "state",
        help="import REPORT_STATE_DIR's stored days and delivery records into REPORT_STATE_URL, or export them back",
        description="import: copy the store of closed days and the delivery records of REPORT_STATE_DIR into the "
        "database of REPORT_STATE_URL before switching to it, so that no date is posted again and the history is not "
        "read again; the files are only read; running it again copies nothing new. export: the way back, the "
        "database's into REPORT_STATE_DIR before unsetting REPORT_STATE_URL; the database is only read.",
    )
    state.add_argument("action", choices=["import", "export"], help="what to do: import or export")
    _verbose(state)
    state.set_defaults(command="state")
    return parser
