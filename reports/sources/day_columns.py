"""A day's fill columns gathered page by page (newest first) and put together once, in replay order.

Pages are gathered in blocks of about a quarter of a million rows: a block's columns are a few megabytes each,
which the C allocator maps apart from its heap, while a page's own small arrays, kept until the end, would sit in
the heap between each page's transient body and temporaries and keep it from being reused (at a million fills the
reading peaked some 30 MB higher).
"""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Callable

import numpy as np

from reports.sources.fill_rows import empty_columns

BLOCK = 1 << 18
"""Rows gathered into one block of columns."""


class DayColumns:
    """The columns of the pages read, newest page first."""

    def __init__(self) -> None:
        self._blocks: list[dict[str, np.ndarray]] = []
        self._pending: list[dict[str, np.ndarray]] = []
        self._rows = 0

    def add(self, columns: dict[str, np.ndarray]) -> None:
        """One page's columns (its rows newest first, as the service sends them)."""
        self._pending.append(columns)
        self._rows += len(columns["id"])
        if self._rows >= BLOCK:
            self._gather()

    def _gather(self) -> None:
        pending, self._pending, self._rows = self._pending, [], 0
        if pending:
            self._blocks.append({name: np.concatenate([c[name] for c in pending]) for name in pending[0]})

    def in_replay_order(self) -> dict[str, np.ndarray]:
        """Every row in replay order (timestamp, then id); the blocks are freed a column at a time.

        Pages come newest first, so the rows reversed are usually in replay order already: no permutation then.
        """
        self._gather()
        blocks, self._blocks = self._blocks, []
        if not blocks:
            return empty_columns()
        if len(blocks) > 1:
            release_pages()
        blocks.reverse()
        ts = np.concatenate([b["ts"][::-1] for b in blocks])
        ids = np.concatenate([b["id"][::-1] for b in blocks])
        later = ts[1:] > ts[:-1]
        ordered = bool(np.all(later | ((ts[1:] == ts[:-1]) & (ids[1:] > ids[:-1])))) if len(ts) else True
        del later
        order = None if ordered else np.lexsort((ids, ts))
        out: dict[str, np.ndarray] = {}
        for name in list(blocks[0]):
            column = ts if name == "ts" else ids if name == "id" else np.concatenate([b[name][::-1] for b in blocks])
            for b in blocks:
                del b[name]  # free each block's column once it is in the whole one
            out[name] = column if order is None else column[order]
        return out


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        # The process's own symbols (dlopen(NULL)): the C library already loaded, no search of the system's.
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
        return trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        return None


def release_pages() -> None:
    """Free what the pages read left behind, once a big read is over (a few tens of milliseconds).

    Each page's response sits in a reference cycle (httpx's response and its stream) with its 1.2 MB body: only
    the cycle collector frees it, and one that outlived a collection is freed by a full one only (at a million
    fills some 20 bodies were still held when the replay began). Then the C heap's free pages go back to the
    system: the bodies and the pages' temporaries leave holes there that the day's large arrays, mapped apart,
    do not reuse (at a million fills the run's peak was some 20 MB lower).
    """
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
