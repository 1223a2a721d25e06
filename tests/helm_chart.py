"""The chart as the tests see it: its value sets, every object Helm's engine renders from them, and the checks the
API server adds on top of the OpenAPI schemas (shared by test_helm.py and test_helm_bot.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

CHART = Path(__file__).resolve().parents[1] / "helm" / "trading-system"
RELEASE = "trading-system"
NAMESPACE = "trading"
KUBE_VERSIONS = ["1.30.0", "1.33.0"]
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}


def values_of(value_set: str) -> dict[str, Any]:
    """The user values of a value set: nothing for the defaults, else the ci/ file."""
    if value_set == "defaults":
        return {}
    return yaml.safe_load((CHART / "ci" / value_set).read_text()) or {}


def render(values: dict[str, Any] | None = None, release: str = RELEASE, chart: Path = CHART) -> list[dict]:
    """Every Kubernetes object the chart renders with these values (NOTES.txt left out)."""
    manifests = helm.Chart.load(str(chart)).render(values or {}, name=release, namespace=NAMESPACE)
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def pod_spec(obj: dict) -> dict:
    """The pod spec inside a workload object."""
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def api_server_problems(obj: dict) -> list[str]:
    """What the API server's semantic validation refuses that the OpenAPI schema lets through."""
    problems = []
    meta = obj["metadata"]
    limit = {"CronJob": 52, "Service": 63, "Job": 63}.get(obj["kind"], 253)
    if len(meta["name"]) > limit or not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", meta["name"]):
        problems.append(f"{obj['kind']} name {meta['name']!r} is not a valid name of at most {limit}")
    label_sets = [meta.get("labels", {})]
    if obj["kind"] == "CronJob":
        template = obj["spec"]["jobTemplate"]
        label_sets += [
            template.get("metadata", {}).get("labels", {}),
            template["spec"]["template"]["metadata"]["labels"],
        ]
    for labels in label_sets:
        for key, value in labels.items():
            if len(str(value)) > 63 or not LABEL_VALUE.match(str(value)):
                problems.append(f"label {key}={value!r} is not a valid label value of at most 63")
            prefix, _, name = key.rpartition("/")
            if not LABEL_NAME.match(name) or (prefix and not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", prefix)):
                problems.append(f"label key {key!r} is invalid")
    if obj["kind"] not in POD_KINDS:
        return problems
    spec = pod_spec(obj)
    if obj["kind"] in {"Job", "CronJob"} and spec.get("restartPolicy") not in {"Never", "OnFailure"}:
        problems.append("a Job's pod needs restartPolicy Never or OnFailure")
    volumes = {v["name"] for v in spec.get("volumes", [])}
    for container in spec.get("initContainers", []) + spec.get("containers", []):
        if not container.get("image"):
            problems.append(f"container {container['name']} has no image")
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in volumes:
                problems.append(f"volumeMount {mount['name']} names no volume")
        for env in container.get("env", []):
            if not re.match(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$", env["name"]):
                problems.append(f"env name {env['name']!r} is invalid")
    return problems


def assert_hardened(spec: dict) -> None:
    """The report pod's security settings."""
    pod = spec["securityContext"]
    assert (pod["runAsNonRoot"], pod["runAsUser"], pod["fsGroup"]) == (True, 1000, 2000)
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for container in spec["initContainers"] + spec["containers"]:
        ctx = container["securityContext"]
        assert ctx["readOnlyRootFilesystem"] is True and ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"] == {"drop": ["ALL"]} and ctx["runAsNonRoot"] is True
        assert ctx.get("runAsUser", 1000) == 1000
