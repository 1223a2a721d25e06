"""``report.json``, schema_version 1 (CONTRACT 4): the report as data, for machines and analysts."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from reports.calendar import is_partial
from reports.models import (
    AgentPeriod,
    AgentReport,
    Benchmark,
    DailyPoint,
    Drawdown,
    Mover,
    Operations,
    PeriodFigures,
    Report,
    Risk,
    Totals,
)
from reports.numbers.conventions import CONVENTIONS
from reports.performance import BenchmarkWindow

SCHEMA_VERSION = 1

TOTALS_KEYS = (
    "trades",
    "volume",
    "fees",
    "realized_pnl",
    "net_realized_pnl",
    "funding_pnl",
    "unrealized_pnl",
    "total_pnl",
    "closing_fills",
    "wins",
    "win_rate",
    "profit_factor",
    "capital",
    "equity",
)


def _num(x: float | int | None) -> float | int | None:
    """JSON has no NaN or infinity: those are "not computable", so null."""
    if x is None or isinstance(x, int):
        return x
    return float(x) + 0.0 if math.isfinite(x) else None  # + 0.0: no "-0.0" in the file


def totals_dict(t: Totals) -> dict[str, Any]:
    """The ``totals`` keys of one agent or of the portfolio."""
    return {key: _num(getattr(t, key)) for key in TOTALS_KEYS}


def risk_dict(r: Risk) -> dict[str, Any]:
    """One RISK block."""
    return {
        "days": r.days,
        "pnl": _num(r.pnl),
        "return": _num(r.return_),
        "volatility": _num(r.volatility),
        "sharpe": _num(r.sharpe),
        "sortino": _num(r.sortino),
        "max_drawdown": _num(r.max_drawdown),
        "win_days": _num(r.win_days),
    }


def mover_dict(m: Mover) -> dict[str, Any]:
    """One pair of ``movers``."""
    return {
        "agent_id": m.agent_id,
        "symbol": m.symbol,
        "total_pnl": _num(m.total_pnl),
        "realized_pnl": _num(m.realized_pnl),
        "fees": _num(m.fees),
        "funding_pnl": _num(m.funding_pnl),
        "unrealized_change": _num(m.unrealized_change),
    }


def drawdown_dict(d: Drawdown) -> dict[str, Any]:
    """One drawdown of ``drawdowns``: dates as YYYY-MM-DD, ``end`` null while open."""
    return {
        "start": d.start.isoformat(),
        "valley": d.valley.isoformat(),
        "end": d.end.isoformat() if d.end else None,
        "days": d.days,
        "depth": _num(d.depth),
    }


def _bench_window(w: BenchmarkWindow) -> dict[str, Any]:
    return {
        "days": w.days,
        "return": _num(w.return_),
        "excess_return": _num(w.excess_return),
        "beta": _num(w.beta),
        "alpha": _num(w.alpha),
        "correlation": _num(w.correlation),
    }


def benchmark_dict(b: Benchmark | None) -> dict[str, Any] | None:
    """The ``benchmark`` block, or None when its symbol has no fill."""
    if b is None:
        return None
    return {"symbol": b.symbol, **{name: _bench_window(w) for name, w in b.windows.items()}}


def _daily(p: DailyPoint) -> dict[str, Any]:
    return {
        "date": p.date.isoformat(),
        "total_pnl": _num(p.total_pnl),
        "equity": _num(p.equity),
        "return": _num(p.return_),
    }


def _agent(a: AgentReport, extra: AgentPeriod | None = None) -> dict[str, Any]:
    return {
        "agent_id": a.agent_id,
        **({"name": a.name} if a.name else {}),
        **({"emoji": a.emoji} if a.emoji else {}),
        **totals_dict(a.totals),
        "open_positions": [
            {
                "symbol": p.symbol,
                "quantity": _num(p.quantity),
                "avg_entry_price": _num(p.avg_entry_price),
                "mark_price": _num(p.mark_price),
                "unrealized_pnl": _num(p.unrealized_pnl),
            }
            for p in a.open_positions
        ],
        "risk": {name: risk_dict(r) for name, r in a.risk.items()},
        **(_agent_period(extra) if extra else {}),
    }


def _day(p: DailyPoint | None) -> dict[str, Any] | None:
    return None if p is None else {"date": p.date.isoformat(), "total_pnl": _num(p.total_pnl)}


def _agent_period(e: AgentPeriod) -> dict[str, Any]:
    """What a week or a month adds per agent."""
    return {
        "best_day": _day(e.best_day),
        "worst_day": _day(e.worst_day),
        "expectancy": _num(e.expectancy),
        "average_win": _num(e.average_win),
        "average_loss": _num(e.average_loss),
        "period_risk": risk_dict(e.risk),
    }


def _period_keys(f: PeriodFigures, report: Report) -> dict[str, Any]:
    """What a week or a month adds at the top level."""
    return {
        "period_risk": risk_dict(f.risk),
        "best_day": _day(f.best_day),
        "worst_day": _day(f.worst_day),
        "previous": {
            "start": _local(f.previous.start, report),
            "end": _local(f.previous.end, report),
            "total_pnl": _num(f.previous_total_pnl),
        },
        "monthly": [
            {"year": m.year, "month": m.month, "return": _num(m.return_), "pnl": _num(m.pnl)} for m in f.monthly
        ],
    }


def operations_dict(o: Operations | None) -> dict[str, Any] | None:
    """The ``operations`` block, or None."""
    if o is None:
        return None
    equity = o.equity
    return {
        "equity": None
        if equity is None
        else {"start": _num(equity.start), "end": _num(equity.end), "min": _num(equity.min), "max": _num(equity.max)},
        "max_drawdown": _num(o.max_drawdown),
        "executions": {
            "ok": _num(o.executions.ok),
            "failed": _num(o.executions.failed),
            "failed_by_reason": {k: _num(v) for k, v in sorted(o.executions.failed_by_reason.items())},
        },
        "ai_cost_usd": {k: _num(v) for k, v in sorted(o.ai_cost_usd.items())},
        "ai_cost_total_usd": _num(o.ai_cost_total_usd),
        "agent_errors": {k: _num(v) for k, v in sorted(o.agent_errors.items())},
    }


def to_dict(report: Report) -> dict[str, Any]:
    """The whole report as the JSON-ready dict of CONTRACT 4."""
    f = report.period
    return {
        "schema_version": SCHEMA_VERSION,
        "report_date": report.day.date.isoformat(),
        "timezone": report.day.timezone,
        "period": {
            "kind": f.period.kind if f else ("partial" if is_partial(report.day) else "day"),
            "start": _local(f.period.start if f else report.day.start, report),
            "end": _local(f.period.end if f else report.day.end, report),
        },
        "generated_at": report.generated_at.isoformat(),
        "currency": "USDT",
        "conventions": dict(CONVENTIONS),
        "totals": totals_dict(report.totals),
        "agents": [_agent(a, f.agents.get(a.agent_id) if f else None) for a in report.agents],
        "symbols": [
            {
                "symbol": s.symbol,
                "trades": s.trades,
                "volume": _num(s.volume),
                "fees": _num(s.fees),
                "realized_pnl": _num(s.realized_pnl),
                "net_realized_pnl": _num(s.net_realized_pnl),
                "funding_pnl": _num(s.funding_pnl),
            }
            for s in report.symbols
        ],
        "daily": [_daily(p) for p in report.daily],
        "risk": {name: risk_dict(r) for name, r in report.risk.items()},
        "movers": [mover_dict(m) for m in report.movers],
        "drawdowns": [drawdown_dict(d) for d in report.drawdowns],
        "benchmark": benchmark_dict(report.benchmark),
        "sources": {
            "trading_service": report.sources.trading_service,
            "prometheus": report.sources.prometheus,
            "funding": report.sources.funding,
            "reconciliation": report.sources.reconciliation,
        },
        "operations": operations_dict(report.operations),
        "warnings": list(report.warnings),
        **(_period_keys(f, report) if f else {}),
    }


def _local(ts: datetime, report: Report) -> str:
    return ts.astimezone(ZoneInfo(report.day.timezone)).isoformat()


def dumps(report: Report) -> str:
    """``report.json`` text: UTF-8, indented, no NaN."""
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
