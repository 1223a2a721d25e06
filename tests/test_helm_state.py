"""The chart with the state in PostgreSQL (dailyReport.state.urlKey) and its alert per report (issue 19).

Rendered by Helm's engine; ``ci/state-values.yaml`` is also validated strictly with every other value set by
test_helm.py. The PrometheusRule is run through promtool's rule unit tests.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import helm_python as helm
import pytest
import yaml
from helm_chart import CHART, POD_KINDS, RELEASE, pod_spec, render, values_of

STATE = "state-values.yaml"


def pods(objects: list[dict]) -> dict[str, dict]:
    return {o["metadata"]["name"]: pod_spec(o) for o in objects if o["kind"] in POD_KINDS}


def report_pods(objects: list[dict]) -> dict[str, dict]:
    """The pods of the report's CronJobs and of the bot."""
    return {n: p for n, p in pods(objects).items() if not n.endswith("cloud-trader")}


def env_of(spec: dict) -> dict[str, dict]:
    return {e["name"]: e for e in spec["containers"][0]["env"]}


def test_with_the_state_in_postgresql_no_claim_is_made_or_mounted_and_every_pod_reads_the_url() -> None:
    objects = render(values_of(STATE))
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    found = report_pods(objects)
    assert set(found) == {
        f"{RELEASE}-daily-report",
        f"{RELEASE}-daily-report-week",
        f"{RELEASE}-desk-report",
        f"{RELEASE}-report-bot",
    }
    for name, spec in found.items():
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["state"] == {"name": "state", "emptyDir": {}}, name  # any node: nothing to attach
        assert not spec.get("nodeSelector") and not spec.get("affinity"), name
        url = env_of(spec)["REPORT_STATE_URL"]["valueFrom"]["secretKeyRef"]
        assert url == {"name": "trading-system-report", "key": "REPORT_STATE_URL"}, name
    assert "REPORT_NAME" not in env_of(found[f"{RELEASE}-daily-report"])  # the default name, daily
    assert env_of(found[f"{RELEASE}-desk-report"])["REPORT_NAME"]["value"] == "desk"


def test_without_it_the_claim_stays_and_the_values_say_what_rwo_means() -> None:
    objects = render(values_of("bot-values.yaml"))
    for name, spec in report_pods(objects).items():  # the report's CronJob and the bot: the one claim
        state = {v["name"]: v for v in spec["volumes"]}["state"]
        assert state["persistentVolumeClaim"] == {"claimName": f"{RELEASE}-daily-report-state"}, name
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"] == [
        f"{RELEASE}-daily-report-state"
    ]
    assert all("REPORT_STATE_URL" not in env_of(s) for s in report_pods(objects).values())
    values = (CHART / "values.yaml").read_text()
    assert "# ReadWriteOnce is one node: with the bot on, a report Job scheduled on another node waits" in values


def test_the_network_policy_lets_the_pods_reach_the_database_and_needs_its_peers() -> None:
    policy = next(o for o in render(values_of(STATE)) if o["kind"] == "NetworkPolicy")
    database = [rule for rule in policy["spec"]["egress"] if rule["ports"] == [{"protocol": "TCP", "port": 5432}]]
    assert database == [{"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 5432}]}]
    values = values_of(STATE)
    values["networkPolicy"]["databasePeers"] = []
    with pytest.raises(
        helm.HelmRenderError, match=re.escape("networkPolicy.databasePeers must list the state database's peers")
    ):
        render(values)


def test_a_wrong_state_value_is_refused_by_the_schema() -> None:
    with pytest.raises(helm.HelmValuesError, match=re.escape("urlKey")):
        render({"dailyReport": {"state": {"urlKey": 5}}})
    with pytest.raises(helm.HelmValuesError, match="url"):
        render({"dailyReport": {"state": {"url": "postgresql://u:p@db/r"}}})  # never the URL itself in values


def test_the_alert_fires_for_each_report_on_its_own_naming_it(tmp_path: Path) -> None:
    rule = next(o for o in render(values_of(STATE)) if o["kind"] == "PrometheusRule")
    rules = rule["spec"]["groups"][0]["rules"]
    assert [(r["labels"]["report"], r["labels"]["period"]) for r in rules] == [
        ("daily", "day"),
        ("daily", "week"),
        ("desk", "day"),
    ]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]))

    def series(report: str, period: str = "day") -> str:
        return (
            f'daily_report_last_success_timestamp_seconds{{job="daily_report", report="{report}", period="{period}"}}'
        )

    def fired(report: str, period: str) -> dict:
        [own] = [r for r in rules if r["labels"] == {"severity": "warning", "report": report, "period": period}]
        assert f"{RELEASE}-{report}-report" in own["annotations"]["description"]
        return {"exp_labels": own["labels"] | {"job": "daily_report"}, "exp_annotations": own["annotations"]}

    inputs = [
        {"series": series("daily"), "values": "0+3600x60"},  # the daily report succeeds (here, every hour)
        {"series": series("daily", "week"), "values": "-432000x60"},  # its week, five days ago: in time
        {"series": series("desk"), "values": "-100000x60"},  # the desk: last success 27.8 hours before t=0
    ]
    tests = [
        {
            "interval": "1m",
            "input_series": inputs,
            "alert_rule_test": [
                {"eval_time": "15m", "alertname": "DailyReportMissing", "exp_alerts": [fired("desk", "day")]},
            ],
        },
        {
            "interval": "1m",
            "input_series": inputs[:2],  # the desk never pushed at all
            "alert_rule_test": [
                {"eval_time": "15m", "alertname": "DailyReportMissing", "exp_alerts": [fired("desk", "day")]},
            ],
        },
    ]
    (tmp_path / "test.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests})
    )
    done = subprocess.run(["promtool", "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
