"""The report bot's Deployment in the chart: off by default; when on, one replica, Recreate, the report's Secret,
pod hardening and state volume, and a liveness probe on the heartbeat. Rendered by Helm's engine, validated strictly
(the generic checks of test_helm.py run over ci/bot-values.yaml too)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import kubernetes_validate
import pytest
from helm_chart import KUBE_VERSIONS, api_server_problems, assert_hardened, render, values_of


def bot(objects: list[dict]) -> dict | None:
    found = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-report-bot")]
    assert len(found) <= 1
    return found[0] if found else None


def test_no_bot_by_default() -> None:
    assert bot(render()) is None


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_the_bot_deployment_is_valid_and_shaped_for_one_poller(version: str) -> None:
    objects = render(values_of("bot-values.yaml"))
    deployment = bot(objects)
    assert deployment is not None
    kubernetes_validate.validate(deployment, version, strict=True)
    assert api_server_problems(deployment) == []
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}  # two pollers would take turns
    pod = spec["template"]["spec"]
    assert_hardened(pod)
    (container,) = pod["containers"]
    assert container["args"] == ["bot"]
    env = {e["name"]: e for e in container["env"]}
    assert env["TELEGRAM_BOT_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "cloud-trader-secrets"
    assert env["TELEGRAM_ALLOWED_CHATS"]["valueFrom"]["secretKeyRef"]["key"] == "TELEGRAM_ALLOWED_CHATS"
    assert env["TELEGRAM_ALLOWED_USERS"]["value"] == "424242,515151"
    assert env["REPORT_TIMEZONE"]["value"] == "Europe/Berlin"
    # The same state as the daily report: its store of closed days and the delivery records /status reads.
    cronjob = next(o for o in objects if o["kind"] == "CronJob")
    report = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    report_env = {e["name"]: e.get("value") for e in report["containers"][0]["env"]}
    assert env["REPORT_STATE_DIR"]["value"] == report_env["REPORT_STATE_DIR"]
    claims = {v["name"]: v.get("persistentVolumeClaim") for v in pod["volumes"]}
    report_claims = {v["name"]: v.get("persistentVolumeClaim") for v in report["volumes"]}
    assert claims["state"] == report_claims["state"] is not None
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["state"] == env["REPORT_STATE_DIR"]["value"]


def test_without_allowed_chats_the_bot_answers_the_report_chats() -> None:
    deployment = bot(render({"bot": {"enabled": True}}))
    assert deployment is not None
    env = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "TELEGRAM_ALLOWED_CHATS" not in env and "TELEGRAM_ALLOWED_USERS" not in env
    assert "TELEGRAM_CHAT_ID" in env


def test_the_liveness_probe_fails_once_the_heartbeat_is_stale(tmp_path: Path) -> None:
    deployment = bot(render({"bot": {"enabled": True}}))
    assert deployment is not None
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
    command = probe["exec"]["command"]
    assert command[:2] == ["python", "-c"] and command[3] == "/var/lib/report/bot/heartbeat"
    heartbeat = tmp_path / "heartbeat"
    heartbeat.write_text("")

    def probe_exit() -> int:
        return subprocess.run([sys.executable, "-c", command[2], str(heartbeat)], check=False).returncode

    assert probe_exit() == 0  # fresh: polling goes on
    stale = time.time() - 121
    os.utime(heartbeat, (stale, stale))
    assert probe_exit() == 1  # older than 120 s: polling has stopped
    heartbeat.unlink()
    assert probe_exit() != 0  # never written: not alive either


def test_a_bad_bot_value_is_refused_by_the_schema() -> None:
    with pytest.raises(Exception, match=r"(?i)schema|allowedUsers|validation"):
        render({"bot": {"enabled": True, "allowedUsers": ["alice"]}})


def test_the_network_policy_covers_the_bot_and_the_report() -> None:
    objects = render(values_of("bot-values.yaml"))
    (policy,) = [o for o in objects if o["kind"] == "NetworkPolicy"]
    selector = policy["spec"]["podSelector"]
    (expression,) = selector["matchExpressions"]
    assert expression["key"] == "app.kubernetes.io/component" and expression["operator"] == "In"
    assert set(expression["values"]) == {"daily-report", "report-bot"}
    deployment = bot(objects)
    assert deployment is not None
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in selector["matchLabels"].items())
    assert labels["app.kubernetes.io/component"] in expression["values"]
