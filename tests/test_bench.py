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

from bench.child import child_env, parse_stages, run_child
from bench.data import generate, generate_day, history
from bench.fake import FakeService
from bench.measure import rotations, rounds
from bench.versions import OLD_COMMIT, at_commit
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


def test_fake_holds_a_window_of_the_tape_and_gives_back_the_bytes_it_served(tape) -> None:
    fake = FakeService(tape, page_cap=300)
    first_day = datetime(2025, 6, 29, tzinfo=UTC)
    fake.show_from(first_day)
    fake.show_until(datetime(2025, 7, 1, tzinfo=UTC))
    assert fake.held(datetime(1970, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)) == 400 + 1_500
    fake.record = True
    with fake.serve():
        bodies = [
            _get(fake.url, start_date="1970-01-01T00:00:00", end_date=end, limit=5000).content
            for end in ("2030-01-01T00:00:00", "2025-06-29T12:00:00", "2025-06-28T12:00:00")
        ]
    assert list(fake.bodies()) == bodies
    pages = [json.loads(b)["trades"] for b in bodies]
    noon = datetime(2025, 6, 29, 12, tzinfo=UTC)
    assert [len(p) for p in pages] == [300, fake.held(first_day, noon + timedelta(microseconds=1)), 0]
    assert all(datetime.fromisoformat(r["timestamp"]) >= first_day for page in pages for r in page)
    assert fake.requests == 3 and fake.rows_served == sum(len(p) for p in pages)


def test_versions_export_an_old_commit_that_runs_from_its_own_tree(tmp_path: Path) -> None:
    old = at_commit("old", OLD_COMMIT, tmp_path)
    assert (old.tree / "reports" / "__init__.py").is_file() and (old.tree / "templates").is_dir()
    code = "import reports, sys; print(reports.__file__)"
    run = subprocess.run(
        [sys.executable, "-c", code], env=child_env(old.env({})), cwd=old.tree, capture_output=True, text=True
    )
    assert run.stdout.strip() == str(old.tree / "reports" / "__init__.py")


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


def test_rounds_alternate_and_rotate() -> None:
    assert [order for _, order in rounds(["a", "b"], 3)] == [["a", "b"], ["b", "a"], ["a", "b"]]
    assert [order for _, order in rotations([1, 2, 3], 4)] == [[1, 2, 3], [2, 3, 1], [3, 1, 2], [1, 2, 3]]


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
    reports = [
        "2,000 fills on the day + 5 days × 300: first run (empty state)",
        "2,000 fills on the day + 5 days × 300: next day, state kept",
        "20,000 fills on the day (+ 2 days of history)",
    ]
    scale = [
        "500 fills a day × 2 days: first run (empty state)",
        "500 fills a day × 4 days: first run (empty state)",
        "500 fills a day × 2 days: next day, state kept",
        "500 fills a day × 4 days: next day, state kept",
    ]
    rate = "500 fills a day × 4 days: first run's read rate"
    expected = [
        "`report --help`",
        "engine replay, 10,000 fills",
        "engine replay, 20,000 fills",
        "engine replay, 40,000 fills",
        *reports,
        "demo report end to end (`report --demo`)",
        "quantstats `reports.html`, same daily returns, own process",
        *scale[:2],
        rate,
        *scale[2:],
        "one cold `report --date D --dry-run`, 500 fills, the 3 days before stored",
        "backfill of 4 days × 500 fills from an empty state, one process per core (default): per day",
        "backfill of 4 days × 500 fills from an empty state, `--workers 1`: per day",
    ]
    assert list(rows) == expected
    for case in expected:
        assert f"| {case} |" in done.stdout
    for row in rows.values():
        assert row["met"] is None, f"{row['case']}: {row['note']}"  # quick mode judges nothing; a failure is False
        assert 0 < row["wall_s"] < 120 and math.isfinite(row["wall_s"])
        # A backfill row's wall time is per day; its stages are those of the whole range's runs.
        limit = row["wall_s"] * 4 if row["case"].startswith("backfill of 4 days") else row["wall_s"]
        for seconds in row["stages"].values():
            assert 0 <= seconds <= limit
    for case in [*reports, *scale]:
        assert 30 < rows[case]["peak_mb"] < 4096
        assert "report.json has" not in rows[case]["note"], rows[case]["note"]  # the day's trades are checked
    first, following, big = (rows[c] for c in reports)
    assert first["served"] >= 3_500 and following["served"] >= 2_000 and big["served"] >= 20_600
    assert 0 < rows["demo report end to end (`report --demo`)"]["vs_quantstats"] < 10
    assert rows["demo report end to end (`report --demo`)"]["fills"] > 0
    # The quick mode compares the old code in a few cases only: help and the history runs.
    for case in ["`report --help`", *reports[:2]]:
        assert 0 < rows[case]["vs_old"] < 10 and "old " in rows[case]["note"]
    assert rows[reports[2]]["vs_old"] is None
    assert rows[scale[0]]["served"] >= 1_500 and rows[scale[1]]["served"] >= 2_500
    assert rows[scale[2]]["served"] < 1_000 and "the smallest" in rows[scale[3]]["note"]
    assert rows[rate]["served"] == rows[scale[1]]["served"] and "of `orjson.loads` alone" in rows[rate]["note"]
