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
ALERT = (
    '(time() - max(daily_report_last_success_timestamp_seconds{job="daily_report"})) > 26 * 3600'
    ' or absent(daily_report_last_success_timestamp_seconds{job="daily_report"})'
)


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
    """The Pushgateway with the job's group deleted, so each test starts from a job that never ran."""
    httpx.delete(f"{stack[0].url}/metrics/job/daily_report", timeout=5).raise_for_status()
    return stack[0]


def pushed(gateway: Server) -> dict[str, float]:
    """The job's metrics as the Pushgateway exposes them to a scrape."""
    text = httpx.get(f"{gateway.url}/metrics", timeout=5).text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("daily_report_") and sample.labels.get("job") == "daily_report"
    }


def run(gateway: Server, *, success: bool, finished: float, took: float = 12.5, fills: int = 0) -> None:
    warning = push_job_metrics(
        gateway.url,
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


def alert_fires(prom: Server, until: float = 15.0, *, expect: bool) -> bool:
    """Poll the alert expression until it gives ``expect`` (scrapes run every second) or time runs out."""
    deadline = time.monotonic() + until
    while True:
        result = httpx.get(f"{prom.url}/api/v1/query", params={"query": ALERT}, timeout=5).json()["data"]["result"]
        if bool(result) == expect or time.monotonic() > deadline:
            return bool(result)
        time.sleep(0.25)


def scraped(prom: Server, name: str, value: float) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        result = httpx.get(f"{prom.url}/api/v1/query", params={"query": name}, timeout=5).json()["data"]["result"]
        if result and float(result[0]["value"][1]) == value:
            return
        time.sleep(0.25)
    pytest.fail(f"Prometheus did not scrape {name}={value}")


def test_alert_expression_on_real_prometheus(stack: tuple[Server, Server], gateway: Server) -> None:
    prom = stack[1]
    assert alert_fires(prom, expect=True)  # never succeeded (the group was just deleted): absent() fires

    now = time.time()
    run(gateway, success=True, finished=now)
    scraped(prom, "daily_report_last_success_timestamp_seconds", now)
    assert not alert_fires(prom, expect=False)

    stale = now - 27 * 3600
    run(gateway, success=True, finished=stale)
    run(gateway, success=False, finished=now)  # a failed run since does not silence it
    scraped(prom, "daily_report_failed", 1)
    assert alert_fires(prom, expect=True)


def test_rules_in_the_docs_pass_promtool(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1
    (tmp_path / "rules.yml").write_text(blocks[0], encoding="utf-8")
    (tmp_path / "test.yml").write_text(RULE_TESTS, encoding="utf-8")
    promtool = binary("promtool")
    for argv in ([promtool, "check", "rules", "rules.yml"], [promtool, "test", "rules", "test.yml"]):
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


ANNOTATIONS = """
              summary: No daily strategy report has succeeded for 26 hours
              description: >-
                The report job has not pushed a success to the Pushgateway for over 26 hours (or never has).
                Check the CronJob's last Job logs (kubectl -n trading logs job/<name>) and daily_report_failed.
"""
FAILED_DESCRIPTION = "The next run or a manual `kubectl create job --from=cronjob/<name>` sends only what is missing."
RULE_TESTS = f"""
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - name: a success at t=0, exposed by the Pushgateway ever since
    interval: 1m  # scraped well within the 5 min lookback: never stale
    input_series:
      - series: 'daily_report_last_success_timestamp_seconds{{job="daily_report", instance=""}}'
        values: '0x1700'
      - series: 'daily_report_failed{{job="daily_report", instance=""}}'
        values: '0x1700'
    alert_rule_test:
      - {{eval_time: 25h, alertname: DailyReportMissing, exp_alerts: []}}
      - {{eval_time: 26h5m, alertname: DailyReportMissing, exp_alerts: []}}
      - eval_time: 26h20m
        alertname: DailyReportMissing
        exp_alerts:
          - exp_labels: {{severity: warning}}
            exp_annotations:{ANNOTATIONS}
      - {{eval_time: 26h20m, alertname: DailyReportLastRunFailed, exp_alerts: []}}
  - name: the job never pushed a success
    interval: 1m
    input_series:
      - series: 'daily_report_failed{{job="daily_report", instance=""}}'
        values: '1x60'
    alert_rule_test:
      - {{eval_time: 5m, alertname: DailyReportMissing, exp_alerts: []}}
      - eval_time: 15m
        alertname: DailyReportMissing
        exp_alerts:
          - exp_labels: {{severity: warning, job: daily_report}}
            exp_annotations:{ANNOTATIONS}
      - eval_time: 15m
        alertname: DailyReportLastRunFailed
        exp_alerts:
          - exp_labels: {{severity: info}}
            exp_annotations:
              summary: The last daily strategy report run failed
              description: {FAILED_DESCRIPTION}
"""


def test_check_lines(stack: tuple[Server, Server]) -> None:
    assert check(stack[0].url) == (True, f"Pushgateway at {stack[0].url}: ready")
    ok, line = check(f"http://127.0.0.1:{free_port()}", timeout=1)
    assert not ok and "could not connect" in line
    assert check(None)[0]
