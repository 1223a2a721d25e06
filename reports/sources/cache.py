"""A copy of the fills of closed days in ``REPORT_STATE_DIR``, so a daily run reads only the new day.

A cache is a copy: it must never change a number. Each run reads again, from the service, the last
hour of the cache before the day it needs (the overlap, where late fills land) and compares it fill by
fill with the copy; any difference, a file that cannot be read, or ``--rebuild`` means the whole history
is read again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from reports.models import FILL_COLUMNS, FetchResult, Fills, TradingDay

if TYPE_CHECKING:
    from reports.sources.trading_service import TradingService

_log = logging.getLogger("reports")

FORMAT_VERSION = 2
OVERLAP = timedelta(hours=1)


_CODED = ("symbol", "agent_id")
"""Text columns stored as codes into their distinct values: a few bytes a fill instead of a hundred."""


@dataclass(frozen=True)
class CachedFills:
    """The fills of the history strictly before ``until`` (UTC, aware), as read from the service."""

    fills: Fills
    until: datetime


def cache_path(state_dir: Path, service_url: str) -> Path:
    """One cache file per trading service."""
    digest = hashlib.sha256(service_url.encode()).hexdigest()[:16]
    return state_dir / "cache" / f"fills-{digest}.npz"


def load(path: Path) -> CachedFills | None:
    """The cached fills, or None when there is no cache. Raises ``ValueError`` for a file that cannot be used."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            version = int(data["version"])
            if version != FORMAT_VERSION:
                raise ValueError(f"format {version}, expected {FORMAT_VERSION}")
            columns = {name: data[name] for name in FILL_COLUMNS if name not in _CODED}
            for name in _CODED:
                columns[name] = pd.Categorical.from_codes(data[f"{name}_codes"], data[f"{name}_values"].tolist())
            until = pd.Timestamp(int(data["until"]), tz="UTC").to_pydatetime()
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"the fill cache {path} cannot be read ({type(exc).__name__}: {exc})") from exc
    frame = pd.DataFrame(columns)
    for name in _CODED:
        frame[name] = frame[name].astype(object)
    return CachedFills(Fills.from_frame(frame), until)


def save(path: Path, fills: Fills, until: datetime) -> None:
    """Write the fills before ``until`` atomically (a temporary file renamed over the old one)."""
    frame = fills.before(until).frame
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {name: frame[name].to_numpy() for name in FILL_COLUMNS if name not in _CODED}
    for name in _CODED:
        codes, values = pd.factorize(frame[name])
        arrays[f"{name}_codes"] = codes.astype(np.int32)
        arrays[f"{name}_values"] = np.asarray(values, dtype=str)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, version=np.int64(FORMAT_VERSION), until=np.int64(pd.Timestamp(until).value), **arrays)
    os.replace(tmp, path)


def same_fills(a: Fills, b: Fills) -> bool:
    """True when both hold the very same fills (ids, times, sides, prices, quantities, fees, agents, symbols)."""
    if len(a) != len(b):
        return False
    left, right = a.frame.reset_index(drop=True), b.frame.reset_index(drop=True)
    return all(bool((left[c].to_numpy() == right[c].to_numpy()).all()) for c in FILL_COLUMNS)


def _any_common(small: np.ndarray, large: np.ndarray) -> bool:
    """Whether two id arrays share a value (a sort and a binary search: np.isin hashes both, slower here)."""
    if not len(small) or not len(large):
        return False
    ordered = np.sort(large)
    at = np.minimum(np.searchsorted(ordered, small), len(ordered) - 1)
    return bool((ordered[at] == small).any())


def read_through(service: TradingService, state_dir: Path, day: TradingDay, *, rebuild: bool = False) -> FetchResult:
    """Every fill before the end of ``day``: what the cache holds, and from the service only what it does not.

    The overlap is read again and compared; on any doubt the whole history is read, with a warning. After
    the run the cache holds every fill before the end of ``day`` (a day that has ended).
    """
    path = cache_path(state_dir, service.base_url)
    warnings: list[str] = []
    cached = None
    if not rebuild:
        try:
            cached = load(path)
        except ValueError as exc:
            warnings.append(f"{exc}: the history was read again in full")
    result = None
    if cached is not None:
        verify_from = min(cached.until, day.start) - OVERLAP
        recent = service.fills(end=day.end, start=verify_from)
        overlap_end = min(cached.until, day.end)
        older = cached.fills.before(verify_from)
        if same_fills(cached.fills.since(verify_from).before(overlap_end), recent.fills.before(overlap_end)) and not (
            # A cached id that comes back later is a duplicate the full read settles; the copy cannot.
            _any_common(recent.fills.frame["id"].to_numpy(), older.frame["id"].to_numpy())
        ):
            _log.debug("cache hit: %d cached fills, %d read", len(cached.fills), len(recent.fills))
            fills = older.then(recent.fills)
            result = FetchResult(fills=fills, warnings=recent.warnings)
        else:
            warnings.append(
                f"the trading service's fills from {verify_from.date()} differ from the cached copy: "
                "the history was read again in full"
            )
    full_read = result is None
    if result is None:
        result = service.fills(end=day.end)
    # The report day has ended, so every fill before its end is closed history worth keeping.
    if full_read or (cached is not None and day.end > cached.until):
        try:
            save(path, result.fills, day.end)
        except OSError as exc:
            warnings.append(f"could not write the fill cache in {path.parent} ({exc.strerror}): next run reads all")
    return dataclasses.replace(result, warnings=(*warnings, *result.warnings))
