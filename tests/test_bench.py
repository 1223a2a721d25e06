"""The benchmark harness (bench/): its fake pages like CONTRACT 1.1, its data is deterministic, its
measurements come from the OS, and the quick mode yields a row per case with sane numbers.

No speed target is asserted here: the targets are judged by the full benchmark (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest

from bench.child import parse_stages, run_child
from bench.data import generate, generate_day, history
from bench.fake import FakeService
from reports.sources.trading_service import TradingService

ROOT = Path(__file__).resolve().parent.parent

DAY = date(2025, 6, 30)


@pytest.fixture(scope="module")
def tape():
    """Three small days, the last one the report day."""
    return generate(history(DAY, 1_500, 2, 400))


def _get(url: str, **params: object) -> httpx.Response:
    return httpx.get(url + "/api/trades/history", params=params, timeout=10)


def test_days_are_deterministic_and_independent_of_each_other() -> None:
    one = generate_day(DAY, 500)
    again = generate_day(DAY, 500)
    with_more = generate(history(DAY, 500, 3, 100))
    assert np.array_equal(one.id, again.id) and np.array_equal(one.price, again.price)
    # The history of a longer run holds the very same fills for that day.
    assert np.array_equal(with_more.price[-500:], one.price) and np.array_equal(with_more.ts[-500:], one.ts)
    assert np.all(np.diff(with_more.ts) >= 0)
    assert len(np.unique(one.ts)) < len(one.ts), "several fills share a timestamp"
    assert one.ts[0] == int(datetime(2025, 6, 30, tzinfo=UTC).timestamp()) * 10**9, "a fill exactly at midnight"


def test_fake_pages_newest_first_with_inclusive_bounds_and_a_cap(tape) -> None:
    fake = FakeService(tape, page_cap=250)
    with fake.serve():
        page = _get(fake.url, start_date="1970-01-01T00:00:00+00:00", end_date="2030-01-01T00:00:00", limit=10_000)
        assert page.status_code == 200
        rows = page.json()["trades"]
        assert len(rows) == 250 == page.json()["count"]
        keys = [(datetime.fromisoformat(r["timestamp"]), r["id"]) for r in rows]
        assert keys == sorted(keys, reverse=True) and rows[0]["id"] == int(tape.id[-1])
        assert rows[0]["timestamp"].endswith("+00:00") and set(rows[0]) >= {"agent_model", "slippage_bps", "metadata"}
        at = rows[-1]["timestamp"]
        both = _get(fake.url, start_date=at, end_date=at, limit=1000).json()["trades"]
        assert both and all(r["timestamp"] == at for r in both)
        assert len(_get(fake.url, end_date=at, limit=3).json()["trades"]) == 3
        assert _get(fake.url, end_date=at, limit=0).status_code == 422
        assert _get(fake.url, end_date="yesterday").status_code == 422
        assert httpx.get(fake.url + "/healthz").json()["running"] is True


def test_the_real_client_reads_exactly_the_tape_through_the_fake(tape) -> None:
    fake = FakeService(tape, page_cap=97)  # a small page: many boundaries inside runs of one timestamp
    end = datetime(2025, 7, 1, tzinfo=UTC)
    fake.show_until(end + timedelta(minutes=5))
    with fake.serve(), TradingService(fake.url, page_limit=97) as service:
        result = service.fills(end=end)
    frame = result.fills.frame
    assert result.warnings == ()
    assert frame["id"].tolist() == tape.id.tolist()
    assert np.allclose(frame["price"].to_numpy(), tape.price)
    assert fake.rows_served >= len(tape) and fake.requests > len(tape) // 97


def test_stage_lines_are_parsed_and_summed() -> None:
    err = "2025-07-01 00:05:01 DEBUG stage fetch 1.250s\nnoise\nDEBUG stage charts 0.5s\nstage fetch 0.250s\n"
    assert parse_stages(err) == {"fetch": 1.5, "charts": 0.5}


def test_peak_memory_is_the_childs_own() -> None:
    code = "import numpy as np; a = np.ones(200 * 2**20 // 8); print(a.sum())"
    run = run_child([sys.executable, "-c", code], {"PATH": "/usr/bin:/bin"})
    assert run.ok and 200 < run.peak_mb < 400 and run.wall_s > 0
    # A big parent does not leak its own peak into a small child's figure (Linux carries the
    # pre-exec high-water mark into ru_maxrss of a child spawned straight from it).
    ballast = np.ones(400 * 2**20 // 8)
    small = run_child([sys.executable, "-S", "-c", "pass"], {"PATH": "/usr/bin:/bin"})
    assert ballast.sum() > 0 and small.ok and small.peak_mb < 100


def test_a_child_past_its_timeout_is_killed() -> None:
    run = run_child(["sleep", "30"], {"PATH": "/usr/bin:/bin"}, timeout=0.3)
    assert run.exit_code == -9 and run.wall_s < 5 and "killed after 0.3 s" in run.error_line()


def test_quick_benchmark_has_every_case_with_sane_numbers(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {r["case"]: r for r in json.loads(out.read_text())}
    expected = [
        "`report --help`",
        "engine replay, 10,000 fills",
        "engine replay, 20,000 fills",
        "engine replay, 40,000 fills",
        "2,000 fills on the day + 5 days × 300: first run (empty state)",
        "2,000 fills on the day + 5 days × 300: next day, state kept",
        "20,000 fills on the day (+ 2 days of history)",
        "demo report end to end (`report --demo`)",
        "quantstats `reports.html`, same daily returns, own process",
    ]
    assert list(rows) == expected
    for case in expected:
        assert f"| {case} |" in done.stdout
    for row in rows.values():
        assert row["met"] is None, f"{row['case']}: {row['note']}"  # quick mode judges nothing; a failure is False
        assert 0 < row["wall_s"] < 120 and math.isfinite(row["wall_s"])
        for seconds in row["stages"].values():
            assert 0 <= seconds <= row["wall_s"]
    for case in expected[4:]:
        assert 30 < rows[case]["peak_mb"] < 4096
    first, following, big = (rows[c] for c in expected[4:7])
    for row in (first, following, big):
        assert "report.json has" not in row["note"], row["note"]  # the day's trade count is checked by the run
    assert first["served"] >= 3_500 and following["served"] >= 2_000 and big["served"] >= 20_600
    assert 0 < rows[expected[7]]["vs_quantstats"] < 10 and rows[expected[7]]["fills"] > 0
