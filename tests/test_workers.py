"""Charts drawn by worker processes are the charts the main process draws, in album order."""

from __future__ import annotations

import multiprocessing as mp
import threading
from concurrent.futures import ProcessPoolExecutor
from datetime import date

from reports.charts import render_charts
from reports.compute import trading_day
from reports.pipeline import build
from reports.settings import Settings
from reports.workers import chart_workers, draw_charts


def test_workers_draw_the_same_bytes_in_album_order():
    report = build(Settings(), trading_day(date(2025, 11, 21), "UTC"), demo=True)
    here = render_charts(report)
    with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("fork")) as pool:
        there = draw_charts(report, pool)
    assert [c.filename for c in there] == [c.filename for c in here]
    assert len(here) >= 4
    assert all(a.png == b.png and a.caption == b.caption for a, b in zip(here, there, strict=True))


def test_no_fork_while_another_thread_runs():
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with chart_workers() as pool:
            assert pool is None
    finally:
        stop.set()
        other.join()
