"""The job's own metrics against a real Pushgateway, scraped by a real Prometheus that evaluates the alert."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reports.delivery.jobmetrics import check, push_job_metrics
from tests.promstack import Server, binary, free_port, start_prometheus, start_pushgateway

DOC = Path(__file__).resolve().parent.parent / "docs" / "alerting.md"
LAST = 'daily_report_last_success_timestamp_seconds{job="daily_report"'
ALERT = (  # the queries of docs/alerting.md: late, ran and never succeeded, never pushed (the report named daily)
    f'(time() - {LAST}, period="day"}}) > 26 * 3600'
    f' or (time() - {LAST}, period="week"}}) > 170 * 3600'
    f' or (daily_report_failed{{job="daily_report"}} unless on(job, report, period) {LAST}}})'
    f' or absent({LAST}, report="daily", period="day"}})'
)
GROUPS = [(r, p) for r in ("daily", "desk-a") for p in ("day", "week")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """A Pushgateway and a Prometheus scraping it every second."""
    work = tmp_path_factory.mktemp("push")
    gateway = start_pushgateway(work)
    try:
        prom = start_prometheus(work / "data", work, scrape=gateway.url.removeprefix("http://"))
    except Exception:
        gateway.stop()
        raise
    yield gateway, prom
    prom.stop()
    gateway.stop()


@pytest.fixture
def gateway(stack: tuple[Server, Server]) -> Server:
    """The Pushgateway with the reports' groups deleted, so each test starts from reports that never ran."""
    for report, period in GROUPS:
        url = f"{stack[0].url}/metrics/job/daily_report/report/{report}/period/{period}"
        httpx.delete(url, timeout=5).raise_for_status()
    return stack[0]


def pushed(gateway: Server, report: str = "daily", period: str = "day") -> dict[str, float]:
    """One report's metrics as the Pushgateway exposes them to a scrape."""
    text = httpx.get(f"{gateway.url}/metrics", timeout=5).text
    want = {"job": "daily_report", "report": report, "period": period}
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("daily_report_") and want.items() <= sample.labels.items()
    }


def run(
    gateway: Server,
    *,
    success: bool,
    finished: float,
    took: float = 12.5,
    fills: int = 0,
    report: str = "daily",
    period: str = "day",
) -> None:
    warning = push_job_metrics(
        gateway.url,
        report=report,
        period=period,
        success=success,
        started=finished - took,
        finished=finished,
        fills=fills,
        messages=4 if success else 1,
        report_date=date(2025, 3, 14),
    )
    assert warning is None


def test_good_run_then_failed_run_keeps_the_last_success(gateway: Server) -> None:
    good = 1_760_000_000.0
    run(gateway, success=True, finished=good, fills=321)
    assert pushed(gateway) == {
        "daily_report_last_success_timestamp_seconds": good,
        "daily_report_last_run_timestamp_seconds": good,
        "daily_report_duration_seconds": 12.5,
        "daily_report_fills_processed": 321,
        "daily_report_messages_sent": 4,
        "daily_report_failed": 0,
        "daily_report_report_date_timestamp_seconds": 1_741_910_400,
    }

    run(gateway, success=False, finished=good + 86_400, took=3.0)
    after = pushed(gateway)
    assert after["daily_report_last_success_timestamp_seconds"] == good
    assert after["daily_report_last_run_timestamp_seconds"] == good + 86_400
    assert (after["daily_report_failed"], after["daily_report_duration_seconds"]) == (1, 3.0)
    assert (after["daily_report_fills_processed"], after["daily_report_messages_sent"]) == (0, 1)


def test_failed_first_run_pushes_no_success(gateway: Server) -> None:
    run(gateway, success=False, finished=1_760_000_000.0)
    metrics = pushed(gateway)
    assert metrics["daily_report_failed"] == 1
    assert "daily_report_last_success_timestamp_seconds" not in metrics


def test_unreachable_gateway_is_a_warning_not_an_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    warning = push_job_metrics(url, success=True, started=0.0, finished=1.0, fills=0, messages=0, report_date=None)
    assert warning is not None and url in warning and "PUSHGATEWAY_URL" in warning
    assert push_job_metrics(None, success=True, started=0, finished=1, fills=0, messages=0, report_date=None) is None


def firing(prom: Server, expect: set[str], until: float = 15.0) -> set[str]:
    """Poll the alert expression until the reports it names are ``expect`` (scrapes run every second) or time runs
    out; the names (``report/period``) it gave last."""
    deadline = time.monotonic() + until
    while True:
        result = httpx.get(f"{prom.url}/api/v1/query", params={"query": ALERT}, timeout=5).json()["data"]["result"]
        named = {f"{r['metric'].get('report')}/{r['metric'].get('period')}" for r in result}
        if named == expect or time.monotonic() > deadline:
            return named
        time.sleep(0.25)


def scraped(prom: Server, name: str, value: float, report: str = "daily") -> None:
    deadline = time.monotonic() + 15
    query = f'{name}{{report="{report}", period="day"}}'
    while time.monotonic() < deadline:
        result = httpx.get(f"{prom.url}/api/v1/query", params={"query": query}, timeout=5).json()["data"]["result"]
        if result and float(result[0]["value"][1]) == value:
            return
        time.sleep(0.25)
    pytest.fail(f"Prometheus did not scrape {name}={value}")


def test_alert_expression_on_real_prometheus(stack: tuple[Server, Server], gateway: Server) -> None:
    prom = stack[1]
    assert firing(prom, {"daily/day"}) == {"daily/day"}  # never pushed (the group was just deleted): absent()

    now = time.time()
    run(gateway, success=True, finished=now)
    run(gateway, success=True, finished=now - 6 * 86_400, period="week")  # a week six days ago: in time
    scraped(prom, "daily_report_last_success_timestamp_seconds", now)
    assert firing(prom, set()) == set()

    run(gateway, success=False, finished=now, report="desk-a")  # a desk that ran and never succeeded
    assert firing(prom, {"desk-a/day"}) == {"desk-a/day"}  # the desk alone, named, while the main report is fine

    run(gateway, success=True, finished=now, report="desk-a")
    stale = now - 27 * 3600
    run(gateway, success=True, finished=stale)
    run(gateway, success=False, finished=now)  # a failed run since does not silence it
    scraped(prom, "daily_report_failed", 1)
    assert firing(prom, {"daily/day"}) == {"daily/day"}
    assert pushed(gateway, "desk-a")["daily_report_last_success_timestamp_seconds"] == now


def test_rules_in_the_docs_pass_promtool(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1
    (tmp_path / "rules.yml").write_text(blocks[0], encoding="utf-8")
    (tmp_path / "test.yml").write_text(RULE_TESTS, encoding="utf-8")
    promtool = binary("promtool")
    for argv in ([promtool, "check", "rules", "rules.yml"], [promtool, "test", "rules", "test.yml"]):
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


FAILED_DESCRIPTION = "The next run or a manual `kubectl create job --from=cronjob/<name>` sends only what is missing."


def annotations(report: str, period: str) -> str:
    return f"""
              summary: The {period} report {report} has not succeeded in time
              description: >-
                Report {report} ({period}) has not pushed a success to the Pushgateway within
                its period and slack (or never has). Check its CronJob's last Job logs
                (kubectl -n trading logs job/<name>) and daily_report_failed."""


def group(report: str, period: str) -> str:
    return f'job="daily_report", report="{report}", period="{period}", instance=""'


def missing(report: str, period: str, extra: str = "") -> str:
    return f"""
          - exp_labels: {{severity: warning, job: daily_report, report: {report}, period: {period}{extra}}}
            exp_annotations:{annotations(report, period)}"""


RULE_TESTS = f"""
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - name: the day report daily at t=0, a desk that fails from t=0, a week five days old
    interval: 1m  # scraped well within the 5 min lookback: never stale
    input_series:
      - series: 'daily_report_last_success_timestamp_seconds{{{group("daily", "day")}}}'
        values: '0x1700'
      - series: 'daily_report_failed{{{group("daily", "day")}}}'
        values: '0x1700'
      - series: 'daily_report_failed{{{group("desk-a", "day")}}}'
        values: '1x1700'
      - series: 'daily_report_last_success_timestamp_seconds{{{group("daily", "week")}}}'
        values: '-432000x1700'
    alert_rule_test:
      - eval_time: 25h
        alertname: DailyReportMissing
        exp_alerts:{missing("desk-a", "day")}
      - eval_time: 26h20m
        alertname: DailyReportMissing
        exp_alerts:{missing("daily", "day")}{missing("desk-a", "day")}
  - name: the job never pushed a success
    interval: 1m
    input_series:
      - series: 'daily_report_failed{{{group("daily", "day")}}}'
        values: '1x60'
    alert_rule_test:
      - {{eval_time: 5m, alertname: DailyReportMissing, exp_alerts: []}}
      - eval_time: 15m
        alertname: DailyReportMissing
        exp_alerts:{missing("daily", "day")}
      - eval_time: 15m
        alertname: DailyReportLastRunFailed
        exp_alerts:
          - exp_labels: {{severity: info, job: daily_report, report: daily, period: day}}
            exp_annotations:
              summary: The last run of the day report daily failed
              description: {FAILED_DESCRIPTION}
"""


def test_check_lines(stack: tuple[Server, Server]) -> None:
    assert check(stack[0].url) == (True, f"Pushgateway at {stack[0].url}: ready")
    ok, line = check(f"http://127.0.0.1:{free_port()}", timeout=1)
    assert not ok and "could not connect" in line
    assert check(None)[0]
