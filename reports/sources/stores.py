"""Which store of closed days a run uses: the PostgreSQL one of ``REPORT_STATE_URL`` when it is set, else the SQLite
file in ``REPORT_STATE_DIR``. Both back ends import nothing of each other; this module picks between them."""

from __future__ import annotations

from pathlib import Path

from reports.sources.store import DayStore
from reports.sources.store_pg import PgDayStore


def open_store(
    state_dir: Path, service_url: str, timezone: str, state_url: str | None = None
) -> tuple[DayStore, list[str]]:
    """The store of closed days of one trading service and zone: in ``state_url`` (PostgreSQL) when it is set,
    else the SQLite file in ``state_dir``; and the warnings of opening it."""
    if state_url:
        return PgDayStore.open(state_url, service_url, timezone)  # type: ignore[return-value]  # same methods
    return DayStore.open(state_dir, service_url, timezone)
