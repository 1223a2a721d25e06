"""One store of closed days in PostgreSQL for every report, period and desk; moving a state folder into it.

The fake trading service counts the fill rows it serves: a week's or a desk's run after the day runs reads only the
report day and the hour before it; the first run after ``report state import`` reads no history again.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from factories import report_env, store_settings
from fake_telegram import FakeChat, FakeTelegram
from fake_trading import FakeTradingService, running_service
from history_data import AGENTS, history_rows
from pgstack import PgServer, remove, start_server
from store_reference import NOW, figures, reference, stored_dates

from reports.calendar import trading_day
from reports.models import Report
from reports.operations.pipeline import build
from reports.settings import Settings
from reports.statedb import StateDbError

TOKEN = "7000000020:AAHimportTOKENimportTOKENimportTOKEN1"
CHAT = -1001900000003
DAY_ROWS = 24 * 3  # history_rows: three fills an hour
DAY_RUN_ROWS = DAY_ROWS + 3 + 2
"""What a run of a day after the day before was stored reads: the report day, the last hour of the day before (3),
the newest fill before an instant (1 row, twice)."""


@dataclass
class CountingService(FakeTradingService):
    """The fake trading service, counting the fill rows it serves."""

    served: int = 0

    def history(self, query: dict[str, list[str]]) -> dict[str, Any]:
        page = super().history(query)
        self.served += page["count"]
        return page

    def take(self) -> int:
        """The rows served since the last call."""
        served, self.served = self.served, 0
        return served


def run(settings: Settings, d: date, period: str = "day") -> Report:
    return build(settings, trading_day(d, settings.timezone), demo=False, clock=lambda: NOW, period=period)


def test_a_week_and_a_desk_read_the_days_the_day_runs_stored(tmp_path: Path, state_url: str) -> None:
    with running_service(CountingService(trades=history_rows(date(2025, 9, 1), date(2025, 9, 16)))) as fake:
        day = dataclasses.replace(store_settings(fake.url, tmp_path / "day"), state_url=state_url)
        run(day, date(2025, 9, 7))  # the first run reads the history
        first = fake.take()
        for d in range(8, 15):  # Monday 2025-09-08 to Sunday 2025-09-14
            run(day, date(2025, 9, d))
        days = fake.take()
        week_settings = dataclasses.replace(day, state_dir=tmp_path / "week")  # a folder of its own: empty
        week = run(week_settings, date(2025, 9, 14), "week")
        week_rows = fake.take()
        desk_settings = dataclasses.replace(day, state_dir=tmp_path / "desk", agents=(AGENTS[0],))
        desk = run(desk_settings, date(2025, 9, 14))
        desk_rows = fake.take()
        print(f"rows served: first run {first}, 7 day runs {days}, the week {week_rows}, the desk {desk_rows}")
        assert first >= 7 * DAY_ROWS and days == 7 * week_rows
        # Nothing the day runs stored is read again: the week and the desk read what one more day run would.
        assert week_rows == desk_rows == DAY_RUN_ROWS
        assert week.period is not None and week.period.period.first == date(2025, 9, 8)
        assert [a.agent_id for a in desk.agents] == [AGENTS[0]]
        assert stored_dates(day)[-1] == date(2025, 9, 14)
        assert not (tmp_path / "week" / "store").exists() and not (tmp_path / "desk" / "store").exists()
        cold = store_settings(fake.url, tmp_path / "cold")
        assert figures(run(day, date(2025, 9, 14))) == figures(reference(cold, date(2025, 9, 14)))


def _report(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reports", *args], env=env, capture_output=True, text=True, timeout=180
    )


def test_the_import_moves_a_state_folder_with_no_repost_and_no_history_read(tmp_path: Path, state_url: str) -> None:
    state = tmp_path / "state"
    with (
        running_service(CountingService(trades=history_rows(date(2025, 9, 1), date(2025, 9, 20)))) as fake,
        FakeTelegram(TOKEN, [FakeChat(CHAT)]) as tg,
    ):
        files = report_env(
            TRADING_SERVICE_URL=fake.url,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_CHAT_ID=str(CHAT),
            TELEGRAM_API_URL=tg.url,
            REPORT_STATE_DIR=str(state),
        )
        database = files | {"REPORT_STATE_URL": state_url}
        assert _report("--date", "2025-09-10", env=files).returncode == 0
        assert _report("--period", "week", "--date", "2025-09-07", env=files).returncode == 0
        sent = Counter(c.method for c in tg.calls if c.method.startswith("send"))
        fake.take()
        moved = _report("state", "import", env=database)
        assert moved.returncode == 0, moved.stderr
        assert moved.stdout.splitlines()[:2] == [
            "store of closed days: 10 day(s) imported (2025-09-01 to 2025-09-10), 0 already in the database",
            "delivery records: 1 day, 1 week, 0 month imported, 0 already in the database",
        ]
        assert fake.take() == 0  # the import reads the folder, not the trading service
        # Delivered before the move: nothing posted again (from an empty folder too: the records are in the database).
        again = _report("--date", "2025-09-10", env=database | {"REPORT_STATE_DIR": str(tmp_path / "empty")})
        assert again.returncode == 0, again.stderr
        week = _report("--period", "week", "--date", "2025-09-07", env=database)
        assert week.returncode == 0, week.stderr
        assert Counter(c.method for c in tg.calls if c.method.startswith("send")) == sent
        fake.take()
        assert _report("--date", "2025-09-11", env=database).returncode == 0
        assert fake.take() == DAY_RUN_ROWS  # the new day and the hour before it: no history read again
        twice = _report("state", "import", env=database)
        assert twice.returncode == 0 and "0 day(s) imported" in twice.stdout and "0 day, 0 week" in twice.stdout
        (state / "deliveries" / "2025-09-10" / f"{CHAT}.json").write_text("{not json")
        broken = _report("state", "import", env=database)
        assert broken.returncode == 1 and "could not be read" in broken.stderr.splitlines()[-1]


@pytest.fixture
def own_server() -> Any:
    server = start_server()
    yield server
    remove(server)


def test_the_store_with_the_database_down_before_or_during_a_run_is_one_line_exit_1(
    tmp_path: Path, own_server: PgServer
) -> None:
    url = own_server.role()

    @dataclass
    class StopsTheDatabase(FakeTradingService):
        after: int = 1_000_000

        def history(self, query: dict[str, list[str]]) -> dict[str, Any]:
            self.after -= 1
            if self.after == 0:
                own_server.stop()  # while the first run reads the history, day by day
            return super().history(query)

    with running_service(StopsTheDatabase(trades=history_rows(date(2025, 9, 1), date(2025, 9, 30)), after=60)) as fake:
        settings = dataclasses.replace(store_settings(fake.url, tmp_path / "s"), state_url=url)
        with pytest.raises(StateDbError) as during:
            run(settings, date(2025, 9, 29))
        print(during.value)
        assert f"the state database 127.0.0.1:{own_server.port}/reports failed while" in str(during.value)
        assert "the connection was lost" in str(during.value) or "cannot be reached" in str(during.value)
        assert during.value.exit_code == 1
        with pytest.raises(StateDbError, match="cannot be reached"):  # down before the run
            run(settings, date(2025, 9, 29))
        own_server.start()
        kept = stored_dates(settings)
        assert kept and kept[0] == date(2025, 9, 1)  # the days stored before it went down are kept
        report = run(settings, date(2025, 9, 29))  # the next run completes
        assert figures(report) == figures(reference(settings, date(2025, 9, 29)))


def test_the_bots_status_reads_the_records_every_node_writes(tmp_path: Path, state_url: str) -> None:
    from reports.delivery.record_stores import records_for
    from reports.delivery.records import SentCall
    from reports.delivery.status import last_delivered
    from reports.settings import ChatTarget

    settings = dataclasses.replace(store_settings("http://127.0.0.1:9", tmp_path / "bot"), state_url=state_url)
    assert last_delivered(settings) is None
    writer = records_for(dataclasses.replace(settings, state_dir=tmp_path / "a report's node"))
    try:
        written = [
            (date(2025, 9, 9), "-100", True),
            (date(2025, 9, 10), "-100", True),
            (date(2025, 9, 10), "-200", False),  # in part: counted among the records, not the chats
            (date(2025, 9, 11), "-100", False),  # the latest date, not whole anywhere: passed over
        ]
        for day, chat, complete in written:
            record = writer.new(day, ChatTarget(chat))
            record.calls["message:0"] = SentCall("sendMessage", [7], ["d"])
            record.complete = complete
            writer.save(record)
    finally:
        writer.close()
    done = last_delivered(settings)  # the bot's own folder holds nothing: the database's records
    assert done is not None and (done.report_date, done.chats, done.records) == (date(2025, 9, 10), 1, 2)
    assert last_delivered(settings, "week") is None
    assert last_delivered(dataclasses.replace(settings, report_name="desk")) is None  # another report's records


def test_a_database_of_another_schema_version_is_refused_with_one_line(pg: PgServer, state_url: str) -> None:
    from reports.statedb import connect

    connect(state_url).close()
    role = state_url.split("//")[1].split(":")[0]
    pg.sql(f"UPDATE {role}.report_state_version SET version = 99")
    with pytest.raises(StateDbError, match="holds schema version 99, this version of the report reads 1") as refused:
        connect(state_url)
    assert refused.value.exit_code == 1


def test_the_export_goes_back_to_a_state_folder_with_no_repost_and_no_history_read(
    tmp_path: Path, state_url: str
) -> None:
    back = tmp_path / "back"
    with (
        running_service(CountingService(trades=history_rows(date(2025, 9, 1), date(2025, 9, 20)))) as fake,
        FakeTelegram(TOKEN, [FakeChat(CHAT)]) as tg,
    ):
        env = report_env(
            TRADING_SERVICE_URL=fake.url,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_CHAT_ID=str(CHAT),
            TELEGRAM_API_URL=tg.url,
            REPORT_STATE_DIR=str(tmp_path / "node"),
        )
        database = env | {"REPORT_STATE_URL": state_url}
        assert _report("--date", "2025-09-10", env=database).returncode == 0
        sent = Counter(c.method for c in tg.calls if c.method.startswith("send"))
        moved = _report("state", "export", env=database | {"REPORT_STATE_DIR": str(back)})
        assert moved.returncode == 0, moved.stderr
        assert moved.stdout.splitlines()[:2] == [
            "store of closed days: 10 day(s) exported (2025-09-01 to 2025-09-10)",
            "delivery records: 1 day, 0 week, 0 month exported, 0 already in the folder",
        ]
        files = env | {"REPORT_STATE_DIR": str(back)}  # REPORT_STATE_URL unset: the way back
        again = _report("--date", "2025-09-10", env=files)
        assert again.returncode == 0, again.stderr
        assert Counter(c.method for c in tg.calls if c.method.startswith("send")) == sent  # nothing posted again
        fake.take()
        assert _report("--date", "2025-09-11", env=files).returncode == 0
        assert fake.take() == DAY_RUN_ROWS  # the folder's store holds the days: no history read again
