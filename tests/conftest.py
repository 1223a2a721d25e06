"""Fixtures shared by the test modules: the fake trading service on 127.0.0.1, a state folder, the figures the
charts draw on, and a small disk to fill. Plain helpers (fills, rows, settings, outboxes, the environment of a
``report`` subprocess) are in factories.py, shared checks in assertions.py."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from factories import SmallDisk
from fake_trading import FakeTradingService, running_service
from matplotlib.figure import Figure
from pgstack import PgServer, remove, start_server

from reports.presentation.charts import style


@pytest.fixture
def trading() -> Iterator[Callable[..., FakeTradingService]]:
    """``trading(rows, **options)``: a :class:`FakeTradingService` with those rows, serving on 127.0.0.1 until the
    test ends (its ``url`` is set)."""
    with ExitStack() as stack:

        def start(rows: list[dict[str, Any]] | None = None, **options: Any) -> FakeTradingService:
            return stack.enter_context(running_service(FakeTradingService(trades=list(rows or []), **options)))

        yield start


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    """One real PostgreSQL server on 127.0.0.1 for the session (tests/pgstack.py); stopped at the end."""
    server = start_server()
    try:
        yield server
    finally:
        remove(server)


@pytest.fixture
def state_url(pg: PgServer) -> str:
    """A REPORT_STATE_URL of a fresh role that owns only its own schema on the session's server."""
    return pg.role()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A fresh REPORT_STATE_DIR, not yet created (the report makes it)."""
    return tmp_path / "state"


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """The figures the charts draw on, kept after their PNG was encoded (which draws every label)."""
    figures: list[Figure] = []
    make = style.figure

    def keep() -> Figure:
        figures.append(make())
        return figures[-1]

    monkeypatch.setattr(style, "figure", keep)
    return figures


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 512 KiB tmpfs, unmounted after the test."""
    # Skipped only where mounting is refused (not root, no CAP_SYS_ADMIN); CI runs as root and mounts it.
    if os.geteuid() != 0:
        reason = "mounting a tmpfs needs root: run as root (as CI does) to test a full disk"
        print(f"SKIP: {reason}", file=sys.stderr)
        pytest.skip(reason)
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        reason = f"mount -t tmpfs was refused: {mounted.stderr.strip() or mounted.returncode}"
        print(f"SKIP: {reason}", file=sys.stderr)
        pytest.skip(reason)
    try:
        yield SmallDisk(mountpoint)
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)
