"""Issue 22: a big read releases what its pages left behind, and its columns are the same."""

from __future__ import annotations

import numpy as np
import pytest

from reports.sources import day_columns
from reports.sources.day_columns import DayColumns


def _page(lo: int, hi: int) -> dict[str, np.ndarray]:
    ids = np.arange(hi - 1, lo - 1, -1, dtype=np.int64)  # newest first, as the service pages
    return {"id": ids, "ts": ids * 10, "price": ids.astype(np.float64)}


@pytest.mark.parametrize("pages", [1, 6])
def test_a_read_of_several_blocks_releases_the_pages_once(monkeypatch: pytest.MonkeyPatch, pages: int) -> None:
    monkeypatch.setattr(day_columns, "BLOCK", 10)
    calls: list[None] = []
    monkeypatch.setattr(day_columns, "release_pages", lambda: calls.append(None))
    gathered = DayColumns()
    for k in range(pages, 0, -1):
        gathered.add(_page(10 * (k - 1), 10 * k))
    out = gathered.in_replay_order()
    assert np.array_equal(out["id"], np.arange(10 * pages))
    assert np.array_equal(out["price"], np.arange(10 * pages, dtype=np.float64))
    assert len(calls) == (1 if pages > 1 else 0)  # a small read (one block) costs no collection


def test_release_pages_runs() -> None:
    day_columns.release_pages()  # a full collection, then the C heap trimmed where the C library can
