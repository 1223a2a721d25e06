"""The columnar decoder (msgspec into numpy columns) against the client before it (tests/fill_rows_reference.py).

Both read the same scripted pages from a real HTTP server: the same fills (frame equal, dtypes included), the
same drops and warnings, the same requests (so the same paging: overlaps, ids seen, the stuck-paging error).
"""

from __future__ import annotations

import json
import math
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pandas as pd
import pytest
from factories import make_row
from fill_rows_reference import reference_fills
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports.errors import FetchError
from reports.sources import day_columns
from reports.sources.fill_decode import TypedPage, decode_history
from reports.sources.trading_service import TradingService

START = datetime(2025, 11, 21, tzinfo=UTC)
END = datetime(2025, 11, 21, 1, 0, 2, tzinfo=UTC)


class Pages:
    """A server that answers ``/api/trades/history`` with scripted bodies, in order, then empty pages."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.served = 0
        self.queries: list[str] = []
        pages = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                pages.queries.append(self.path)
                k, pages.served = pages.served, pages.served + 1
                body = pages.bodies[k] if k < len(pages.bodies) else b'{"trades":[],"count":0}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def pages():
    server = Pages()
    yield server
    server.close()


def both(pages: Pages, bodies: list[bytes], limit: int = 50) -> tuple[Any, Any]:
    """(result or error, queries) of the new client and of the reference on the same scripted pages."""
    out = []
    for read in (
        lambda: TradingService(pages.url, page_limit=limit, attempts=1).fills(end=END, start=START),
        lambda: reference_fills(pages.url, END, START, limit),
    ):
        pages.bodies, pages.served, pages.queries = bodies, 0, []
        try:
            got: Any = read()
        except FetchError as exc:
            got = ("FetchError", "page limit" in str(exc))
        out.append((got, list(pages.queries)))
    return out[0], out[1]


def assert_same(pages: Pages, bodies: list[bytes], limit: int = 50) -> Any:
    (new, new_queries), (old, old_queries) = both(pages, bodies, limit)
    assert new_queries == old_queries
    if isinstance(old, tuple):
        assert new == old
        return new
    assert new.warnings == old.warnings
    pd.testing.assert_frame_equal(new.fills.frame, old.fills.frame, check_exact=True)
    return new


def body(rows: list[Any]) -> bytes:
    return json.dumps({"trades": rows, "count": len(rows)}).encode()  # NaN and Infinity as Python writes them


def row(minute: int = 0, **changes: Any) -> dict[str, Any]:
    out = make_row(timestamp=datetime(2025, 11, 21, 1, tzinfo=UTC).replace(second=minute % 2))
    for key, value in changes.items():
        if value is _MISSING:
            out.pop(key)
        else:
            out[key] = value
    return out


_MISSING = object()

MALFORMED = {
    "non-object row": [1, 2],
    "bad id (string)": {"id": "7"},
    "bad id (bool)": {"id": True},
    "bad id (float)": {"id": 7.0},
    "bad id (missing)": {"id": _MISSING},
    "unknown side": {"side": "HOLD"},
    "side missing": {"side": _MISSING},
    "missing symbol": {"symbol": ""},
    "symbol not a string": {"symbol": 5},
    "bad timestamp (number)": {"timestamp": 12345},
    "bad timestamp (text)": {"timestamp": "yesterday"},
    "bad timestamp (no such date)": {"timestamp": "2025-02-30T01:00:00+00:00"},
    "bad price (NaN)": {"price": math.nan},
    "bad price (zero)": {"price": 0},
    "bad price (negative)": {"price": -1.5},
    "bad price (string)": {"price": "1.5"},
    "bad price (infinite)": {"price": math.inf},
    "bad price (bool)": {"price": True},
    "bad quantity (zero)": {"quantity": 0.0},
    "bad quantity (missing)": {"quantity": _MISSING},
    "bad fee (NaN)": {"fee": math.nan},
    "bad fee (string)": {"fee": "0.1"},
    "bad agent_id": {"agent_id": 7},
    "null fee, agent and notional": {"fee": None, "agent_id": None, "notional": None},
    "fee, agent and notional left out": {"fee": _MISSING, "agent_id": _MISSING, "notional": _MISSING},
    "empty agent": {"agent_id": ""},
    "zero notional": {"notional": 0.0},
    "notional a string": {"notional": "12"},
    "notional NaN": {"notional": math.nan},
    "notional a bool": {"notional": True},
    "integer price and quantity": {"price": 100, "quantity": 2, "notional": 200},
    "naive timestamp": {"timestamp": "2025-11-21T01:00:01"},
    "timestamp with Z": {"timestamp": "2025-11-21T01:00:01Z"},
    "timestamp at another offset": {"timestamp": "2025-11-21T03:00:01+02:00"},
    "timestamp with milliseconds": {"timestamp": "2025-11-21T01:00:01.250+00:00"},
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_every_malformed_row_the_tests_know_is_read_as_before(pages, case):
    change = MALFORMED[case]
    odd = change if isinstance(change, list) else row(1, **change)
    good = [row(k) for k in range(4)]
    result = assert_same(pages, [body([good[0], odd, *good[1:]])])
    if not isinstance(result, tuple):
        assert len(result.fills) >= 4


def test_the_malformed_rows_of_test_fetch_together_and_a_duplicate_id(pages):
    good = [row(k) for k in range(3)]
    odd = [dict(good[0], price=123.0), row(1, side="HOLD"), row(0, price=math.nan), row(1, quantity=0.0)]
    odd += [row(0, fee=None, agent_id=None, notional=None), row(1, notional=0.0)]
    result = assert_same(pages, [body([*good, *odd])])
    assert result.warnings == (
        "4 fills dropped: 1 bad price, 1 bad quantity, 1 duplicate id, 1 unknown side",
        "1 fill with an unusable notional: price × quantity used for the volume",
    )


def test_overlapping_pages_a_duplicate_with_other_content_and_the_stuck_error(pages):
    a, b, c = row(1), row(1), row(0)
    # a typed page, then a page that repeats b as it was and claims a's id with other content
    second = [b, dict(a, price=a["price"] + 1), c]
    result = assert_same(pages, [body([a, b]), body(second)])
    assert result.warnings == ("1 fill dropped: 1 duplicate id",)
    # the same page again and again: nothing new, older fills exist
    stuck = assert_same(pages, [body([a, b]), body([a, b]), body([c])])
    assert stuck == ("FetchError", True)


def test_clean_pages_take_the_typed_path_and_malformed_ones_the_row_by_row_path():
    assert isinstance(decode_history(body([row(0), row(1, fee=None, agent_id=None)])), TypedPage)
    assert not isinstance(decode_history(body([row(0), row(1, side="HOLD")])), TypedPage)
    assert not isinstance(decode_history(body([row(0, price=math.nan)])), TypedPage)
    assert decode_history(b'{"error": "x"}') == {"error": "x"}


STAMPS = [
    "2025-11-21T01:00:00+00:00",
    "2025-11-21T01:00:00.500000+00:00",
    "2025-11-21T01:00:01",
    "2025-11-21T01:00:01Z",
    "2025-11-21T03:00:01+02:00",
    "2025-11-21T01:00:03+00:00",  # after the end: not kept
    "2025-11-20T23:00:00+00:00",  # before the start: ends the paging
]
BAD = {
    "timestamp": [12345, "yesterday"],
    "symbol": ["", 5, None],
    "side": ["HOLD", None],
    "price": [0, -1.0, math.nan, "1", True],
    "quantity": [0, math.inf],
    "notional": [None, 0.0, "12", True, -3.0],
    "agent_id": [None, "", 7],
    "fee": [None, "x", math.nan],
    "id": ["7", 7.5, False],
}


def rows_strategy(clean: bool) -> st.SearchStrategy[list[Any]]:
    fields = {
        "id": st.integers(1, 25),
        "timestamp": st.sampled_from(STAMPS),
        "symbol": st.sampled_from(["BTCUSDT", "ETHUSDT"]),
        "side": st.sampled_from(["BUY", "SELL"]),
        "price": st.one_of(st.floats(0.01, 1e6), st.integers(1, 1000)),
        "quantity": st.one_of(st.floats(1e-6, 100), st.integers(1, 5)),
        "notional": st.floats(0.01, 1e6),
        "agent_id": st.sampled_from(["a", "b"]),
        "fee": st.one_of(st.floats(-1, 1), st.integers(0, 2)),
    }
    if not clean:
        fields = {key: st.one_of(value, value, value, st.sampled_from(BAD[key])) for key, value in fields.items()}
    one = st.fixed_dictionaries(fields)
    if not clean:
        one = st.one_of(one, one, one, one, one, one, st.just([1]))
    return st.lists(one, max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), n_pages=st.integers(1, 4), limit=st.sampled_from([3, 50]))
def test_random_pages_are_read_as_before(pages, data, n_pages, limit):
    bodies = []
    for _ in range(n_pages):
        rows = data.draw(rows_strategy(clean=data.draw(st.booleans())))
        if data.draw(st.booleans()) and bodies:  # the next page repeats rows of the one before (the boundary)
            rows = [*json.loads(bodies[-1])["trades"][-2:], *rows]
        bodies.append(body(rows))
    assert_same(pages, bodies, limit)


def test_pages_gathered_in_small_blocks_read_as_before(pages, monkeypatch):
    monkeypatch.setattr(day_columns, "BLOCK", 6)  # a block every two pages
    rows = [row(k % 2) for k in range(12)]
    for k, r in enumerate(rows):
        r["timestamp"] = f"2025-11-21T00:{59 - k:02d}:00+00:00"  # newest first, as the service pages
    bodies = [body(rows[k : k + 4]) for k in range(0, 12, 3)]  # each page repeats the last row of the one before
    result = assert_same(pages, bodies)
    assert len(result.fills) == 12
