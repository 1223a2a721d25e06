"""Worker processes that draw the charts while the main process fetches and computes.

matplotlib takes a quarter of a second to import and every chart a tenth to draw: on a machine with
two cores, two forked workers import it during the fetch and then draw the charts side by side.
The bytes are those the main process would draw.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import TYPE_CHECKING

from reports.models import Report

_log = logging.getLogger("reports")

if TYPE_CHECKING:
    from reports.presentation.charts import Chart


@contextmanager
def chart_workers() -> Iterator[Executor | None]:
    """Two processes that import matplotlib while this one fetches and computes, then draw the charts.

    Only where it is safe and pays: more than one core, and no other thread in this process (a fork
    copies only the calling thread, and a lock held by another one would stay locked in the child).
    """
    if (os.cpu_count() or 1) < 2 or threading.active_count() > 1 or "fork" not in mp.get_all_start_methods():
        yield None
        return
    try:
        pool = ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("fork"), initializer=_import_charts)
        pool.submit(int)  # forks the workers now, so their imports overlap with the fetch
    except OSError as exc:  # no /dev/shm for the pool's semaphores, or no process to spare: draw here
        _log.debug("chart workers unavailable (%s): drawing in this process", exc)
        yield None
        return
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


MAX_CHARTS = 8
"""More than the charts there are: the album positions handed out to the workers."""


def _import_charts() -> None:
    import reports.presentation.charts  # noqa: F401


def _chart_share(report: Report, part: int, parts: int) -> list[tuple[int, Chart]]:
    from reports.presentation.charts import chart_share

    return chart_share(report, part, parts)


def draw_charts(report: Report, pool: Executor | None = None) -> list[Chart]:
    """The report's charts, drawn by ``pool``'s workers when given (this process then never loads matplotlib)."""
    if pool is not None:
        try:
            # One chart a job, so a free worker takes the next; a position past the last chart is empty.
            jobs = [pool.submit(_chart_share, report, position, MAX_CHARTS) for position in range(MAX_CHARTS)]
            return [chart for job in jobs for _, chart in job.result()]
        except BrokenProcessPool:  # a worker died (killed for memory, say): the charts are still owed
            _log.warning("a chart worker died: drawing the charts in this process")
    from reports.presentation.charts import render_charts

    return render_charts(report)
