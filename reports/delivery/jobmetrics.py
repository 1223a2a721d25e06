"""The job's own metrics, pushed to a Pushgateway at the end of every run so that a missing report alerts.

One group per report and period, as the Pushgateway asks of batch jobs: ``job="daily_report"``, ``report`` (the
report's ``REPORT_NAME``) and ``period`` (day, week, month), so that each report alerts on its own. Every run adds
to its group (POST, "pushadd"): a successful one with ``daily_report_last_success_timestamp_seconds``, a failed one
without it, so a failure never erases the last success and the alert (docs/alerting.md) measures the time since it.
"""

from __future__ import annotations

import http.client
from datetime import UTC, date, datetime

import httpx
from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway

JOB = "daily_report"
PUSH_TIMEOUT = 10.0


def job_registry(
    *, success: bool, started: float, finished: float, fills: int, messages: int, report_date: date | None
) -> CollectorRegistry:
    """The run's metrics; ``daily_report_last_success_timestamp_seconds`` only when it succeeded."""
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, value: float) -> None:
        Gauge(name, doc, registry=registry).set(value)

    if success:
        gauge("daily_report_last_success_timestamp_seconds", "End of the last successful run (Unix time).", finished)
    gauge("daily_report_last_run_timestamp_seconds", "End of the last run, success or not (Unix time).", finished)
    gauge("daily_report_duration_seconds", "How long the last run took.", max(finished - started, 0.0))
    gauge("daily_report_fills_processed", "Fills the last run read from the trading service.", fills)
    gauge("daily_report_messages_sent", "Telegram messages the last run sent.", messages)
    gauge("daily_report_failed", "1 when the last run failed, else 0.", 0 if success else 1)
    if report_date is not None:
        midnight = datetime(report_date.year, report_date.month, report_date.day, tzinfo=UTC)
        gauge(
            "daily_report_report_date_timestamp_seconds",
            "Report date of the last run (00:00 UTC).",
            midnight.timestamp(),
        )
    return registry


def grouping_key(report: str, period: str) -> dict[str, str]:
    """The labels of a report's group besides ``job``: each report and period alerts on its own."""
    return {"report": report, "period": period}


def check(url: str | None, *, timeout: float = 5.0) -> tuple[bool, str]:
    """One line for ``report check``: is the Pushgateway at ``url`` ready (``/-/ready``)."""
    if not url:
        return True, "Pushgateway: not configured (PUSHGATEWAY_URL unset): the job pushes no metrics"
    try:
        status = httpx.get(f"{url.rstrip('/')}/-/ready", timeout=timeout).status_code
    except httpx.HTTPError as exc:
        return False, f"Pushgateway at {url}: could not connect ({type(exc).__name__}): check PUSHGATEWAY_URL"
    if status != 200:
        return False, f"Pushgateway at {url}: /-/ready answered {status}: check PUSHGATEWAY_URL"
    return True, f"Pushgateway at {url}: ready"


def push_job_metrics(
    url: str | None,
    *,
    report: str = "daily",
    period: str = "day",
    success: bool,
    started: float,
    finished: float,
    fills: int,
    messages: int,
    report_date: date | None,
) -> str | None:
    """Push the run's metrics to the group of ``report`` and ``period`` at ``url`` (nothing when it is ``None``).

    ``started``/``finished`` are Unix times. Returns a warning line when the push failed; never raises,
    because a Pushgateway outage must not turn a delivered report into a failed run.
    """
    if not url:
        return None
    registry = job_registry(
        success=success, started=started, finished=finished, fills=fills, messages=messages, report_date=report_date
    )
    try:
        pushadd_to_gateway(
            url, job=JOB, registry=registry, grouping_key=grouping_key(report, period), timeout=PUSH_TIMEOUT
        )
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return f"could not push the job's metrics to PUSHGATEWAY_URL {url} ({exc}): the missed-report alert may fire"
    return None
