"""What the tests build their inputs from: fills (``make_fill(**overrides)``) and their raw-row twin for the fake
service, settings, a delivery's outbox, a small disk to fill, and the environment of a ``report`` subprocess
(``report_env``, ``run_report``). Fixtures that start and stop things are in conftest.py."""

from __future__ import annotations

import errno
import io
import itertools
import os
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from reports.delivery.deliver import DeliveryPolicy
from reports.delivery.outbox import Attachment, Outbox
from reports.models import Fill
from reports.settings import ChatTarget, Secret, Settings

_ids = itertools.count(1)
BASE = datetime(2025, 11, 21, 1, 0, tzinfo=UTC)
EVIL = "<b>x</b>&co"
"""A name that is markup: every place that shows one must escape it."""


def make_fill(**overrides: Any) -> Fill:
    """A BTCUSDT buy of 1 at 100 by agent ``a`` at 2025-11-21 01:00 UTC, fee 0, unless overridden.

    ``minutes=`` shifts the timestamp from that base; ``notional`` follows price x quantity.
    """
    minutes = overrides.pop("minutes", 0)
    values: dict[str, Any] = {
        "id": next(_ids),
        "timestamp": BASE + timedelta(minutes=minutes),
        "symbol": "BTCUSDT",
        "side": "BUY",
        "price": 100.0,
        "quantity": 1.0,
        "agent_id": "a",
        "fee": 0.0,
    }
    values.update(overrides)
    values.setdefault("notional", values["price"] * values["quantity"])
    return Fill(**values)


def make_row(**overrides: Any) -> dict[str, Any]:
    """A Trade row as the trading service sends it (CONTRACT 1.1), from :func:`make_fill` fields."""
    raw_fee = overrides.pop("raw_fee", "unset")
    raw_agent = overrides.pop("raw_agent", "unset")
    fill = make_fill(**overrides)
    return {
        "id": fill.id,
        "timestamp": fill.timestamp.isoformat(),
        "symbol": fill.symbol,
        "side": fill.side,
        "price": fill.price,
        "quantity": fill.quantity,
        "notional": fill.notional,
        "agent_id": fill.agent_id if raw_agent == "unset" else raw_agent,
        "agent_model": "demo-model",
        "strategy": "test",
        "fee": fill.fee if raw_fee == "unset" else raw_fee,
        "slippage_bps": 0.5,
        "metadata": None,
    }


def sending_settings(
    trading_url: str, telegram_url: str, token: str, chat: int, state_dir: Any, **extra: Any
) -> Settings:
    """Settings that read from a fake trading service and send to one chat of a fake Bot API."""
    return Settings(
        trading_service_url=trading_url,
        telegram_bot_token=Secret(token),
        telegram_chats=(ChatTarget(str(chat)),),
        telegram_api_url=telegram_url,
        state_dir=state_dir,
        **extra,
    )


def store_settings(url: str, state: Path, timezone: str = "UTC") -> Settings:
    """Settings that read fills from ``url`` and keep closed days in ``state``; nothing is sent."""
    return Settings(trading_service_url=url, state_dir=state, timezone=timezone)


# -- a delivery: what deliver() posts to one chat ------------------------------------------------------

TOKEN = "987654321:AAF-secretPartOfTheTokenXyz0123456789ab"
GROUP = -1001000000001
DAY = date(2025, 1, 2)
# Short waits for tests; the pacing stays above zero so the fake is not hammered.
FAST = DeliveryPolicy(min_interval=0.02, retry_budget=5.0, backoff_initial=0.05, backoff_max=0.2, read_timeout=5.0)


def png(width: int = 320, height: int = 180, colour: str = "white") -> bytes:
    """A plain PNG of that size and colour."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()


def make_outbox(
    messages: tuple[str, ...] = ("<b>Daily report</b> 2025-01-02", "<pre>agent  +1.00</pre>"),
    *,
    photos: int = 3,
    document: bytes | None = b"<!doctype html><title>r</title>\x00\xff",
) -> Outbox:
    """The outbox of :data:`DAY`: two messages, ``photos`` charts and a document unless ``document=None``."""
    charts = tuple(
        Attachment(f"{i + 1:02d}-chart.png", png(colour=("white", "red")[i % 2]), f"Chart {i + 1}")
        for i in range(photos)
    )
    doc = Attachment("report.html", document, f"Full report {DAY}") if document is not None else None
    return Outbox(DAY, messages, charts, doc)


# -- a disk that can be filled -------------------------------------------------------------------------


class SmallDisk:
    """A 512 KiB tmpfs mounted for one test (the ``small_disk`` fixture); :meth:`fill` takes every free byte,
    :meth:`free` gives it back."""

    def __init__(self, mountpoint: Path) -> None:
        self.path = mountpoint
        self.filler = mountpoint / "filler"

    def fill(self) -> None:
        """Write until the disk is full, then prove that not even one byte fits."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for chunk in (65536, 4096, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * chunk)
                except OSError as err:
                    assert err.errno == errno.ENOSPC, err
        finally:
            os.close(fd)
        with pytest.raises(OSError, match="No space left"):
            (self.path / "probe").write_bytes(b"x")

    def free(self) -> None:
        """Give back what :meth:`fill` took."""
        self.filler.unlink(missing_ok=True)


# -- the report command as a subprocess ----------------------------------------------------------------

# Every setting the report reads from its environment starts with one of these (the README's settings table).
SETTING_PREFIXES = ("TELEGRAM_", "REPORT_", "PROMETHEUS", "PUSHGATEWAY", "TRADING_", "ADMIN_")


def report_env(**overrides: str) -> dict[str, str]:
    """This machine's environment without any setting of the report, plus ``overrides``.

    A subprocess of ``report`` run with it sees only the settings the test gives it.
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    return base | overrides


def run_report(*args: str, env: dict[str, str] | None = None, cwd: Any = None) -> subprocess.CompletedProcess[str]:
    """``report ARGS`` as a subprocess, with no setting from this machine's environment and a fresh state folder
    (``env`` may set ``REPORT_STATE_DIR`` to keep one)."""
    full = report_env(**{"REPORT_STATE_DIR": tempfile.mkdtemp(prefix="report-state-")} | (env or {}))
    return subprocess.run(
        [sys.executable, "-m", "reports", *args], capture_output=True, text=True, env=full, cwd=cwd, timeout=120
    )
