"""Codes of a string column into its sorted distinct values, a slice at a time.

``pd.factorize`` of a whole column sizes its hash table for as many distinct values as the column has rows: at a
million fills that is some 20 MB of memory for the ten symbols or six agents a day holds. Factorizing a slice at a
time keeps each table small; the codes and the names are those of ``pd.factorize(values, sort=True)``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

SLICE = 1 << 16
"""Rows factorized at a time."""


def sorted_codes(
    values: pd.Series | np.ndarray, extra: Iterable[str] = (), dtype: type[np.integer] = np.intp
) -> tuple[np.ndarray, list[str]]:
    """Codes (``dtype``) into the sorted distinct values of ``values`` together with ``extra``, and those names.

    ``values`` holds no missing value (a fill's symbol or agent never is).
    """
    column = values.to_numpy() if isinstance(values, pd.Series) else values
    n = len(column)
    codes = np.empty(n, dtype=dtype)
    at: dict[str, int] = {}
    for lo in range(0, n, SLICE):
        part, uniques = pd.factorize(column[lo : lo + SLICE])
        lut = np.array([at.setdefault(u, len(at)) for u in uniques.tolist()], dtype=dtype)
        codes[lo : lo + SLICE] = lut[part]
    names = sorted(set(at) | set(extra))
    # Codes so far are in order of first appearance: renumber them in name order, as factorize(sort=True) does.
    rank = {name: k for k, name in enumerate(names)}
    remap = np.array([rank[u] for u in at] or [0], dtype=dtype)
    codes = remap[codes]
    return codes, names
