"""Charts drawn by worker processes are the charts the main process draws, in album order."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date

import pytest

from reports.calendar import trading_day
from reports.operations.pipeline import build
from reports.presentation.charts import render_charts
from reports.presentation.workers import chart_workers, draw_charts
from reports.settings import Settings


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


def test_a_dead_worker_does_not_cost_the_charts():
    report = build(Settings(), trading_day(date(2025, 11, 21), "UTC"), demo=True)
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork")) as pool:
        dead = pool.submit(os._exit, 1)  # the worker dies: the pool is broken for every later job
        with pytest.raises(BrokenProcessPool):
            dead.result()
        charts = draw_charts(report, pool)
    assert [c.png for c in charts] == [c.png for c in render_charts(report)]
