"""ISO 8601 timestamps of the trading service's fills as int64 nanoseconds (UTC), a page at a time.

The shapes the service writes are checked byte by byte and read by numpy at C speed; anything else is read
by pandas itself, so the result is always what ``pd.to_datetime(..., format="ISO8601", utc=True)`` gives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _shape(pattern: str) -> tuple[np.ndarray, np.ndarray]:
    """A timestamp shape (``d`` a digit) as the bytes to take away and the most each difference may be."""
    text = pattern.replace("d", "0").encode().ljust(32, b"\0")
    limit = bytes(9 if c == "d" else 0 for c in pattern.ljust(32, "\0"))
    return np.frombuffer(text, dtype=np.uint8), np.frombuffer(limit, dtype=np.uint8)


_SHAPES = {
    len(pattern): _shape(pattern)
    for pattern in (
        "dddd-dd-ddTdd:dd:dd",
        "dddd-dd-ddTdd:dd:dd+00:00",
        "dddd-dd-ddTdd:dd:dd.dddddd",
        "dddd-dd-ddTdd:dd:dd.dddddd+00:00",
    )
}
"""What the service writes (``datetime.isoformat``: microseconds only when not 0), by length."""
_MICROS = np.array([100_000, 10_000, 1_000, 100, 10, 1], dtype=np.int64)
_SAFE = (np.datetime64("1678-01-01T00:00:00", "s"), np.datetime64("2262-01-01T00:00:00", "s"))
"""Well inside the nanosecond range of pandas: a timestamp outside it goes the way of pandas."""


def parse_timestamps(stamps: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Int64 nanoseconds (UTC) of ISO 8601 timestamps, and which ones did not parse (0 there).

    As pandas reads them (``format="ISO8601"``, naive is UTC). The shapes of :data:`_SHAPES` are checked byte
    by byte and read by numpy at C speed; every other string (another offset, other fraction digits, a date
    that does not exist) is left to pandas itself.
    """
    n = len(stamps)
    try:
        raw = np.array(stamps, dtype="S")
    except UnicodeEncodeError:
        return _pandas_timestamps(stamps)
    if n == 0 or raw.dtype.itemsize > 32:
        return _pandas_timestamps(stamps)
    raw = raw.astype("S32")
    u = raw.view(np.uint8).reshape(n, 32)
    length = np.fromiter(map(len, stamps), dtype=np.int64, count=n)  # a trailing NUL is not in ``raw``
    ok = np.zeros(n, dtype=bool)
    for size, (text, limit) in _SHAPES.items():
        rows = length == size
        if rows.all():
            ok = np.all((u - text) <= limit, axis=1)  # uint8: a byte below the template's wraps round
        elif rows.any():
            ok[rows] = np.all((u[rows] - text) <= limit, axis=1)
    seconds = np.zeros(n, dtype="datetime64[s]")
    try:
        seconds[ok] = raw[ok].astype("S19").astype("datetime64[s]")
    except ValueError:  # not a date (the 30th of February, hour 24): pandas says which
        return _pandas_timestamps(stamps)
    ok &= (seconds >= _SAFE[0]) & (seconds < _SAFE[1])
    micros = np.where(length >= 26, (u[:, 20:26] - 48).astype(np.int64) @ _MICROS, 0)
    ts = (seconds.astype(np.int64) * 1_000_000 + micros) * 1_000
    bad = np.zeros(n, dtype=bool)
    if not ok.all():
        others = np.flatnonzero(~ok)
        ts[others], bad[others] = _pandas_timestamps([stamps[k] for k in others.tolist()])
    return ts, bad


def _pandas_timestamps(stamps: list[str]) -> tuple[np.ndarray, np.ndarray]:
    parsed = pd.to_datetime(pd.Series(stamps, dtype=object), format="ISO8601", utc=True, errors="coerce")
    bad_ts = parsed.isna().to_numpy()
    ts = parsed.to_numpy(dtype="datetime64[ns]", na_value=np.datetime64(0, "ns")).astype(np.int64)
    return ts, bad_ts
