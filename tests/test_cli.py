"""The ``report`` command end to end, as a subprocess (CONTRACT 2)."""

from __future__ import annotations

import json
import socket
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from factories import make_row, run_report
from fake_trading import FakeTradingService, running_service
from sample_report import SIX_AGENTS

TOTAL_KEYS = (
    "trades",
    "volume",
    "fees",
    "realized_pnl",
    "net_realized_pnl",
    "unrealized_pnl",
    "total_pnl",
    "closing_fills",
    "wins",
    "capital",
    "equity",
)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("demo")
    proc = run_report("--demo", "--date", "2025-11-21", "--output", str(out))
    return proc, out


def test_demo_writes_every_artifact(demo_run):
    proc, out = demo_run
    assert proc.returncode == 0, proc.stderr
    names = {p.name for p in out.iterdir()}
    assert {"report.json", "report.html", "telegram"} <= names
    assert len([n for n in names if n.endswith(".png")]) >= 4
    calls = sorted(p.name for p in (out / "telegram").iterdir())
    assert calls[0] == "01-sendMessage.json"
    assert "report 2025-11-21: total P&L" in proc.stdout


def test_demo_report_json_follows_the_contract(demo_run):
    _, out = demo_run
    doc = json.loads((out / "report.json").read_text())
    assert doc["schema_version"] == 1 and doc["report_date"] == "2025-11-21" and doc["currency"] == "USDT"
    assert doc["conventions"] == {
        "accounting": "average_cost",
        "periods_per_year": 365,
        "risk_free_rate": 0.0,
        "mark": "last_fill",
    }
    assert doc["period"] == {"kind": "day", "start": "2025-11-21T00:00:00+00:00", "end": "2025-11-22T00:00:00+00:00"}
    assert {a["agent_id"] for a in doc["agents"]} >= set(SIX_AGENTS)
    for key in TOTAL_KEYS:
        assert doc["totals"][key] == pytest.approx(sum(a[key] for a in doc["agents"]), abs=1e-6), key
    assert doc["totals"]["total_pnl"] == pytest.approx(doc["daily"][-1]["total_pnl"])
    assert doc["totals"]["equity"] == pytest.approx(doc["daily"][-1]["equity"])
    assert set(doc["risk"]) == {"7d", "30d", "90d"}
    assert set(doc["risk"]["30d"]) == {
        "days",
        "pnl",
        "return",
        "volatility",
        "sharpe",
        "sortino",
        "max_drawdown",
        "win_days",
    }
    assert doc["risk"]["30d"]["days"] == 30
    assert len(doc["daily"]) >= 35
    assert len({s["symbol"] for s in doc["symbols"]}) >= 5
    assert any(p["quantity"] < 0 for a in doc["agents"] for p in a["open_positions"])


def test_demo_is_deterministic(tmp_path, demo_run):
    _, first = demo_run
    proc = run_report("--demo", "--date", "2025-11-21", "--output", str(tmp_path))
    assert proc.returncode == 0
    a, b = (json.loads((d / "report.json").read_text()) for d in (first, tmp_path))
    a.pop("generated_at"), b.pop("generated_at")
    assert a == b


def test_dry_run_defaults_to_out_date_folder(tmp_path):
    proc = run_report("--demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    assert (tmp_path / "out" / yesterday / "report.json").exists()


def test_the_day_the_week_and_the_month_ending_on_one_date_are_written_apart(tmp_path):
    # 2025-11-30 ends a day, a week (Monday 24 to Sunday 30) and November: three dry runs, three folders
    folders = ("2025-11-30", "2025-W48", "2025-11")
    lines = []
    for period in ("day", "week", "month"):
        proc = run_report("--demo", "--period", period, "--date", "2025-11-30", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        lines.append(proc.stdout.strip())
    assert [line.rsplit(", artifacts in ", 1)[1] for line in lines] == [f"out/{f}" for f in folders]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(folders)
    kinds = [json.loads((tmp_path / "out" / f / "report.json").read_text())["period"]["kind"] for f in folders]
    assert kinds == ["day", "week", "month"]


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--date", "2025-13-01"], {}, "not a valid calendar date"),
        (["--date", "21.11.2025"], {}, "use YYYY-MM-DD"),
        (["--date", (date.today() + timedelta(days=2)).isoformat(), "--dry-run"], {}, "has not ended yet"),
        (["--date", datetime.now(UTC).date().isoformat(), "--dry-run"], {}, "has not ended yet"),
        (["--demo"], {"REPORT_TIMEZONE": "Mars/Olympus"}, "unknown time zone"),
        (["--date", "2025-11-21"], {}, "TELEGRAM_BOT_TOKEN is not set"),
        (["--date", "2025-11-21"], {"TELEGRAM_BOT_TOKEN": "1:x"}, "TELEGRAM_CHAT_ID is not set"),
        (["--bogus"], {}, "unrecognized arguments"),
        (["--demo"], {"REPORT_AGENT_CAPITAL": "lots"}, "REPORT_AGENT_CAPITAL"),
        (
            ["--date", "2025-11-21"],
            {"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_CHAT_ID": "5", "REPORT_STATE_DIR": "/proc/no-such-state"},
            "cannot write delivery records",
        ),
        (
            ["--from", "2025-11-20", "--to", "2025-11-21", "--dry-run"],
            {"REPORT_QUERIES_FILE": "/nonexistent/queries.yaml"},
            "REPORT_QUERIES_FILE",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(args, env, needle):
    proc = run_report(*args, env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0] and lines[0].startswith("report: error:")
    assert "Traceback" not in proc.stderr


def test_dead_trading_service_exits_1_naming_the_url(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = run_report("--date", "2025-11-21", "--dry-run", "--output", str(tmp_path), env={"TRADING_SERVICE_URL": url})
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert url in last and "could not connect" in last
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "report.json").exists()


def test_dry_run_against_the_service(tmp_path):
    rows = [
        make_row(
            agent_id="vpin-hft", price=100.0, quantity=2.0, fee=0.1, timestamp=datetime(2025, 11, 20, 12, tzinfo=UTC)
        ),
        make_row(
            agent_id="vpin-hft",
            side="SELL",
            price=103.0,
            quantity=1.0,
            fee=0.1,
            timestamp=datetime(2025, 11, 21, 12, tzinfo=UTC),
        ),
        make_row(
            agent_id="vpin-hft", side="SELL", price=999.0, quantity=1.0, timestamp=datetime(2025, 11, 22, 0, tzinfo=UTC)
        ),
    ]
    fake = FakeTradingService(trades=rows, page_cap=2)
    with running_service(fake):
        proc = run_report(
            "--date", "2025-11-21", "--dry-run", "--output", str(tmp_path), env={"TRADING_SERVICE_URL": fake.url}
        )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "report.json").read_text())
    t = doc["totals"]
    assert t["trades"] == 1
    assert t["realized_pnl"] == pytest.approx(3.0)
    assert t["unrealized_pnl"] == pytest.approx(3.0)  # 1 left at 100, marked 103
    assert t["total_pnl"] == pytest.approx(3.0 - 0.1 + 3.0 - 0.0)  # unrealized the day before: 0 (marked at 100)
    assert doc["sources"] == {
        "trading_service": "ok",
        "prometheus": "not configured",
        "funding": "ok",
        "reconciliation": "not configured",
    }
    summary = json.loads((tmp_path / "telegram" / "01-sendMessage.json").read_text())["params"]["text"]
    assert "Prometheus not configured" in summary


def test_help_lists_the_commands():
    proc = run_report("--help")
    assert proc.returncode == 0
    for flag in ("--date", "--dry-run", "--output", "--demo", "--from", "--to", "--force", "--verbose"):
        assert flag in proc.stdout


def test_rebuild_reads_the_whole_history_again(tmp_path):
    rows = [
        make_row(price=100.0, timestamp=datetime(2025, 11, 19, 12, tzinfo=UTC)),
        make_row(side="SELL", price=101.0, timestamp=datetime(2025, 11, 21, 12, tzinfo=UTC)),
    ]
    fake = FakeTradingService(trades=rows)
    env = {"REPORT_STATE_DIR": str(tmp_path / "state")}
    with running_service(fake):
        env["TRADING_SERVICE_URL"] = fake.url
        starts = []
        for extra in ([], [], ["--rebuild"]):
            fake.requests.clear()
            proc = run_report("--date", "2025-11-21", "--dry-run", "--output", str(tmp_path / "out"), *extra, env=env)
            assert proc.returncode == 0, proc.stderr
            starts.append(next(q["start_date"][0] for p, q in fake.requests if p == "/api/trades/history"))
    assert starts[0].startswith("1970-01-01")  # nothing cached yet
    assert starts[1].startswith("2025-11-20T23:00")  # cached: only the overlap hour before the day, and the day
    assert starts[2].startswith("1970-01-01")  # --rebuild


def test_verbose_may_come_before_a_subcommand():
    proc = run_report("-v", "check", env={"TRADING_SERVICE_URL": "http://127.0.0.1:9"})
    assert "unrecognized arguments" not in proc.stderr
    assert any(line.startswith("FAIL trading service") for line in proc.stdout.splitlines()), proc.stdout
