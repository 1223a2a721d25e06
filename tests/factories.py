"""One factory for fills: ``make_fill(**overrides)``, and its raw-row twin for the fake service."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from reports.models import Fill

_ids = itertools.count(1)
BASE = datetime(2025, 11, 21, 1, 0, tzinfo=UTC)


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


def sending_settings(trading_url: str, telegram_url: str, token: str, chat: int, state_dir: Any, **extra: Any) -> Any:
    """Settings that read from a fake trading service and send to one chat of a fake Bot API."""
    from reports.settings import ChatTarget, Secret, Settings

    return Settings(
        trading_service_url=trading_url,
        telegram_bot_token=Secret(token),
        telegram_chats=(ChatTarget(str(chat)),),
        telegram_api_url=telegram_url,
        state_dir=state_dir,
        **extra,
    )


def run_report(*args: str, env: dict[str, str] | None = None, cwd: Any = None) -> Any:
    """``report ARGS`` as a subprocess, with no setting from this machine's environment and a fresh state folder
    (``env`` may set ``REPORT_STATE_DIR`` to keep one)."""
    import os
    import subprocess
    import sys
    import tempfile

    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "REPORT_", "PROMETHEUS", "PUSHGATEWAY"))
    }
    base["REPORT_STATE_DIR"] = tempfile.mkdtemp(prefix="report-state-")
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "reports", *args], capture_output=True, text=True, env=base, cwd=cwd, timeout=120
    )
