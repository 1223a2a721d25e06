"""A page of ``/api/trades/history`` decoded straight into typed rows, checked a column at a time.

msgspec decodes the body against the Trade row's shape (CONTRACT 1.1) in C: types, a positive price and
quantity, a known side, a symbol that is not empty, all checked while decoding, and no dict per row. The rows
are read into numpy columns a field at a time and freed with the page. A body that does not fit the shape (a
malformed row, ``NaN``, a number out of range, an error body) is decoded as before and read row by row
(:func:`reports.sources.fill_rows.page_from_rows`), which names what is wrong; so is a page with a timestamp
that does not parse. msgspec refuses ``NaN``, ``Infinity`` and a number out of a float's range (``1e999``): every
price, quantity, notional and fee of a typed page is finite.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Annotated, Any, Literal

import msgspec
import numpy as np

from reports.sources.fill_rows import Drops, Page, RawColumns, build, page_from_rows
from reports.sources.http import decode_json
from reports.sources.timestamps import parse_timestamps

_Positive = Annotated[float, msgspec.Meta(gt=0)]


class _Trade(msgspec.Struct, gc=False):
    """The fields of a Trade row the report reads; the others are skipped while decoding."""

    id: Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
    timestamp: str
    symbol: Annotated[str, msgspec.Meta(min_length=1)]
    side: Literal["BUY", "SELL"]
    price: _Positive
    quantity: _Positive
    notional: float | None = None
    agent_id: str | None = None
    fee: float | None = None


class _History(msgspec.Struct, gc=False):
    trades: list[_Trade]


_DECODER = msgspec.json.Decoder(_History)
_FIELDS = {name: attrgetter(name) for name in _Trade.__struct_fields__}


class TypedPage:
    """A history body decoded into typed rows; the body is kept to show a row as the service wrote it."""

    __slots__ = ("body", "trades")

    def __init__(self, trades: list[_Trade], body: bytes) -> None:
        self.trades = trades
        self.body = body


def decode_history(content: bytes) -> TypedPage | Any:
    """The body as typed rows when every row fits the Trade shape, else decoded generically (None for none)."""
    try:
        return TypedPage(_DECODER.decode(content).trades, content)
    except msgspec.DecodeError:  # ValidationError included: some row does not fit, or it is another body
        return decode_json(content)


def typed_page(page: TypedPage, drops: Drops) -> Page:
    """The page's columns, checked a column at a time; the row-by-row path if some row is malformed after all."""
    trades, n = page.trades, len(page.trades)
    get = _FIELDS
    values = RawColumns(
        ids=np.fromiter(map(get["id"], trades), dtype=np.int64, count=n),
        stamps=list(map(get["timestamp"], trades)),
        symbols=list(map(get["symbol"], trades)),
        sides=list(map(get["side"], trades)),
        price=np.fromiter(map(get["price"], trades), dtype=np.float64, count=n),
        qty=np.fromiter(map(get["quantity"], trades), dtype=np.float64, count=n),
        notionals=list(map(get["notional"], trades)),
        agents=list(map(get["agent_id"], trades)),
        fees=list(map(get["fee"], trades)),
        typed=True,
    )
    page.trades = []  # the rows are in the columns now: free them before the frame is built
    ts, bad_ts = parse_timestamps(values.stamps)
    if bad_ts.any():
        return _by_rows(page.body, drops)
    columns, marks = build(values, ts, drops)
    return Page(columns, marks, n, _RawRows(page.body).row)


def _by_rows(body: bytes, drops: Drops) -> Page:
    return page_from_rows(decode_json(body)["trades"], drops)


class _RawRows:
    """A typed page's rows as the service wrote them, decoded only if a drop needs one (a duplicate id)."""

    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body
        self._rows: list[Any] | None = None

    def row(self, k: int) -> Any:
        if self._rows is None:
            assert self._body is not None
            self._rows, self._body = decode_json(self._body)["trades"], None
        return self._rows[k]
