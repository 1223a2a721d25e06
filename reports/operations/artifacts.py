"""Where a run's artifacts go: one folder per report, named after what it covers.

A day is ``2025-11-21``, a week its ISO week ``2025-W47`` (Monday to Sunday, like the report's week), a month
``2025-11``, the day so far ``2025-11-21-today``. The names differ by kind so that the day, the week and the
month that end on the same date never write into one folder, and they sort by date within each kind.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

DEFAULT_ROOT = Path("out")
"""Where a dry run without ``--output`` writes, relative to the working directory."""


def artifacts_dir(kind: str, day: date, root: Path = DEFAULT_ROOT) -> Path:
    """The folder under ``root`` for the report of ``kind`` (``day``, ``week``, ``month`` or ``partial``, the day
    so far) that holds ``day`` (any of its days; the pipeline passes the last)."""
    if kind == "day":
        name = day.isoformat()
    elif kind == "week":
        year, week, _ = day.isocalendar()  # the ISO year: 2026-12-31 is in 2026-W53, 2027-01-01 too
        name = f"{year}-W{week:02d}"
    elif kind == "month":
        name = f"{day.year}-{day.month:02d}"
    elif kind == "partial":
        name = f"{day.isoformat()}-today"
    else:
        raise ValueError(f"unknown report kind {kind!r}")
    return root / name
