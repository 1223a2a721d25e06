"""The ids read so far while paging, with the fingerprint of the row first read with each, in numpy arrays.

Pages overlap at their boundaries, so each page's ids are looked up among those read before; a known id with
other content is a second fill claiming the id (dropped, the first one read stays). Held as a few sorted runs
merged as they grow (sizes roughly halving), 16 bytes an id: a dict of a million ids would take about 100 MB.
"""

from __future__ import annotations

import numpy as np

from reports.sources.fill_rows import Drops, Page


class SeenIds:
    """Ids read so far and the fingerprint of the row first read with each."""

    def __init__(self) -> None:
        self._ids: list[np.ndarray] = []
        self._marks: list[np.ndarray] = []

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which of ``ids`` were read before, and the fingerprint first read with each (0 where not)."""
        found = np.zeros(len(ids), dtype=bool)
        marks = np.zeros(len(ids), dtype=np.uint64)
        for run, run_marks in zip(self._ids, self._marks, strict=True):
            at = np.minimum(np.searchsorted(run, ids), len(run) - 1)
            hit = run[at] == ids
            found |= hit
            marks[hit] = run_marks[at[hit]]
        return found, marks

    def add(self, ids: np.ndarray, marks: np.ndarray) -> None:
        """Record ids not read before (each once) with their rows' fingerprints."""
        if not len(ids):
            return
        order = np.argsort(ids, kind="stable")
        self._ids.append(ids[order])
        self._marks.append(marks[order])
        while len(self._ids) > 1 and len(self._ids[-2]) <= 2 * len(self._ids[-1]):
            ids_merged = np.concatenate(self._ids[-2:])
            order = np.argsort(ids_merged, kind="stable")
            marks_merged = np.concatenate(self._marks[-2:])[order]
            del self._ids[-2:], self._marks[-2:]
            self._ids.append(ids_merged[order])
            self._marks.append(marks_merged)


def new_rows(page: Page, seen: SeenIds, drops: Drops) -> np.ndarray | None:
    """Indices of the page's rows not read before (None: all of them); a known id with other content is a
    dropped duplicate. The same id twice in one page: first come, first kept."""
    ids, marks = page.ids, page.marks
    found, first = seen.lookup(ids)
    n = len(ids)
    unique_ids, first_at = np.unique(ids, return_index=True)
    if len(unique_ids) == n:
        if not found.any():
            seen.add(ids, marks)
            return None
        fresh = np.flatnonzero(~found)
    else:
        is_first = np.zeros(n, dtype=bool)
        is_first[first_at] = True
        fresh = np.flatnonzero(~found & is_first)
        # A later row of an id new on this page compares with that id's first row on the page.
        where = np.searchsorted(unique_ids, ids)
        later = ~found & ~is_first
        first[later] = marks[first_at[where[later]]]
        found = found | later
    for k in np.flatnonzero(found & (first != marks)).tolist():
        drops.add("duplicate id", page.raw(k))
    seen.add(ids[fresh], marks[fresh])
    return fresh
