"""The trading-system chart, checked the way a cluster would: Helm's own engine renders it, the Kubernetes
OpenAPI schemas (strict) validate every object, and the checks the API server adds on top are asserted here."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml
from apscheduler.triggers.cron import CronTrigger
from helm_chart import (
    CHART,
    KUBE_VERSIONS,
    NAMESPACE,
    POD_KINDS,
    RELEASE,
    api_server_problems,
    assert_hardened,
    pod_spec,
    render,
    values_of,
)

CI_FILES = sorted((CHART / "ci").glob("*.yaml"))
VALUE_SETS = ["defaults", *(p.name for p in CI_FILES)]
# Helm accepts release names up to 53 characters.
LONG_RELEASE = "trading-system-production-europe-west1-canary-blue-02"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
CRON_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def cron_weekdays(field: str) -> str:
    """A crontab weekday field (0 and 7 are Sunday, as Kubernetes reads it) in APScheduler 3's terms (0 is Monday)."""
    names = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
    days = []
    for part in field.split(","):
        if part == "*":
            return "*"
        low, _, high = part.partition("-")
        days += [names[n % 7] for n in range(int(low), int(high or low) + 1)]
    return ",".join(days)


def next_runs(schedule: str, zone: str, count: int, start: datetime | None = None) -> list[datetime]:
    """The next ``count`` runs of a CronJob schedule in that time zone, from ``start`` (2026-01-01 UTC)."""
    minute, hour, day, month, weekday = CRON_DESCRIPTORS.get(schedule, schedule).split()
    trigger = CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=cron_weekdays(weekday), timezone=ZoneInfo(zone)
    )
    runs, last = [], None
    now = start or datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(count):
        last = trigger.get_next_fire_time(last, now if last is None else last)
        if last is None:
            break
        runs.append(last)
        now = last
    return runs


def notes(values: dict[str, Any] | None = None) -> str:
    """The rendered NOTES.txt."""
    manifests = helm.Chart.load(str(CHART)).render(values or {}, name=RELEASE, namespace=NAMESPACE)
    return next(text for path, text in manifests.items() if path.endswith("NOTES.txt"))


def one(objects: list[dict], kind: str) -> dict:
    """The single object of that kind."""
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def cronjobs(objects: list[dict]) -> list[dict]:
    """Every CronJob (one per report and period), in the order rendered."""
    found = [o for o in objects if o["kind"] == "CronJob"]
    assert found, "no CronJob rendered"
    return found


def job_from_cronjob(cronjob: dict, name: str) -> dict:
    """The Job `kubectl create job NAME --from=cronjob/...` creates: the jobTemplate's spec and labels."""
    template = cronjob["spec"]["jobTemplate"]
    annotations = {**template.get("metadata", {}).get("annotations", {})}
    annotations["cronjob.kubernetes.io/instantiate"] = "manual"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": cronjob["metadata"]["namespace"],
            "labels": template.get("metadata", {}).get("labels", {}),
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": cronjob["metadata"]["name"],
                    "uid": "00000000-0000-0000-0000-000000000000",
                    "controller": True,
                }
            ],
        },
        "spec": copy.deepcopy(template["spec"]),
    }


def validate_prometheus_rule(rule: dict, tmp_path: Path) -> None:
    """PrometheusRule: the CRD's structure (strict), and promtool's own check of its rule groups."""
    rule_schema = {
        "type": "object",
        "required": ["expr"],
        "additionalProperties": False,
        "properties": {k: {"type": "string"} for k in ("alert", "record", "expr", "for", "keep_firing_for")}
        | {"labels": {"type": "object"}, "annotations": {"type": "object"}},
    }
    schema = {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "PrometheusRule"},
            "metadata": {"type": "object", "required": ["name"]},
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "groups": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "rules"],
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string", "minLength": 1},
                                "interval": {"type": "string"},
                                "rules": {"type": "array", "items": rule_schema},
                            },
                        },
                    }
                },
            },
        },
    }
    jsonschema.validate(rule, schema)
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump(rule["spec"]))
    result = subprocess.run(["promtool", "check", "rules", str(rules_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def validate_all(objects: list[dict], version: str, tmp_path: Path) -> None:
    """Every object valid for that Kubernetes version in strict mode, and acceptable to the API server."""
    for obj in objects:
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            validate_prometheus_rule(obj, tmp_path)
        else:
            kubernetes_validate.validate(obj, version, strict=True)
        assert api_server_problems(obj) == []


# --- lint and render -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_lint_finds_no_errors(value_set: str) -> None:
    report = helm.lint(str(CHART), values_of(value_set), namespace=NAMESPACE)
    errors = [m for m in report["messages"] if m["severity"] >= 3]
    assert errors == [] and report["errors"] == []


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_renders_the_report_and_the_trading_service(value_set: str) -> None:
    values = values_of(value_set)
    objects = render(values)
    names = [c["metadata"]["name"] for c in cronjobs(objects)]
    merged = helm.Chart.load(str(CHART)).merge_values(values)
    fullname = RELEASE
    # Every value set keeps the report "daily" and its day CronJob under the name it always had.
    assert f"{fullname}-daily-report" in names and len(set(names)) == len(names)
    traders = [o for o in objects if o["metadata"]["name"] == f"{fullname}-cloud-trader"]
    if merged["cloudTrader"]["enabled"]:
        assert sorted(o["kind"] for o in traders) == ["Deployment", "Service"]
    else:
        assert traders == []


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_object_is_valid_for_kubernetes(value_set: str, version: str, tmp_path: Path) -> None:
    validate_all(render(values_of(value_set)), version, tmp_path)


# --- what lint and template do not catch -------------------------------------------------------------------


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_pod_runs_as_a_service_account_that_exists(value_set: str) -> None:
    values = values_of(value_set)
    objects = render(values)
    merged = helm.Chart.load(str(CHART)).merge_values(values)
    existing = {o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"}
    if not merged["serviceAccount"]["create"]:
        existing.add(merged["serviceAccount"]["name"])
    workloads = [o for o in objects if o["kind"] in POD_KINDS]
    assert workloads
    for obj in workloads:
        name = pod_spec(obj).get("serviceAccountName")
        assert name in existing, f"{obj['kind']} {obj['metadata']['name']} runs as missing ServiceAccount {name}"


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_job_created_from_the_cronjob_is_valid(value_set: str, version: str) -> None:
    for cronjob in cronjobs(render(values_of(value_set))):
        job = job_from_cronjob(cronjob, f"{cronjob['metadata']['name']}-manual")
        kubernetes_validate.validate(job, version, strict=True)
        assert api_server_problems(job) == []


def test_names_fit_kubernetes_limits_for_a_long_release_name(tmp_path: Path) -> None:
    helm.validate_release_name(LONG_RELEASE)
    objects = render({}, release=LONG_RELEASE)
    cronjob = one(objects, "CronJob")
    assert len(cronjob["metadata"]["name"]) <= 52
    assert cronjob["metadata"]["name"].endswith("-daily-report")
    assert one(objects, "Service")["metadata"]["name"].endswith("-cloud-trader")
    for obj in objects:
        assert DNS_LABEL.match(obj["metadata"]["name"]) and len(obj["metadata"]["name"]) <= 63
    validate_all(objects, KUBE_VERSIONS[-1], tmp_path)
    # The Jobs the CronJob makes append "-<minutes since epoch>" (11 characters) and must fit in 63.
    assert len(cronjob["metadata"]["name"] + "-29000000") <= 63


@pytest.mark.parametrize("release", [RELEASE, "sapphire", LONG_RELEASE])
def test_the_report_points_at_the_rendered_trading_service(release: str) -> None:
    objects = render({}, release=release)
    service = one(objects, "Service")
    env = {e["name"]: e for e in pod_spec(one(objects, "CronJob"))["containers"][0]["env"]}
    url = urlsplit(env["TRADING_SERVICE_URL"]["value"])
    assert url.hostname == f"{service['metadata']['name']}.{NAMESPACE}.svc.cluster.local"
    assert url.port == service["spec"]["ports"][0]["port"] == 8080


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_the_schedule_is_valid_cron_in_a_valid_zone(value_set: str) -> None:
    for cronjob in cronjobs(render(values_of(value_set))):
        spec = cronjob["spec"]
        schedule = spec["schedule"]
        # Kubernetes refuses TZ= in the schedule: the zone goes in timeZone.
        assert "TZ" not in schedule
        assert next_runs(schedule, spec["timeZone"], 1)


def only_required(values: Any, schema: dict) -> Any:
    """User values that null every key the schema does not require, so the chart sees only required keys."""
    if not isinstance(values, dict) or schema.get("type") != "object":
        return values
    required = set(schema.get("required", []))
    condition = schema.get("if", {}).get("properties", {})
    if condition and all(values.get(k) == c.get("const") for k, c in condition.items()):
        required |= set(schema["then"].get("required", []))
    props = schema.get("properties", {})
    return {k: only_required(v, props.get(k, {})) if k in required else None for k, v in values.items()}


def deep_merge(base: dict, override: dict) -> dict:
    """``base`` with ``override`` merged in, key by key."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = (
            deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


EXTERNAL = {"cloudTrader": {"enabled": False}, "dailyReport": {"tradingServiceUrl": "http://trader:8080"}}


@pytest.mark.parametrize("overrides", [{}, EXTERNAL], ids=["cloud-trader", "external-trader"])
def test_values_with_only_the_required_keys_render(overrides: dict, tmp_path: Path) -> None:
    chart = helm.Chart.load(str(CHART))
    defaults = deep_merge(chart.values, overrides)
    values = deep_merge(only_required(defaults, chart.schema), overrides)
    objects = render(values)
    kinds = sorted(o["kind"] for o in objects)
    assert "CronJob" in kinds and ("Deployment" in kinds) == (overrides == {})
    merged = chart.merge_values(values)
    assert "persistence" not in merged["dailyReport"], "the optional keys were not removed"
    validate_all(objects, KUBE_VERSIONS[-1], tmp_path)


@pytest.mark.parametrize(
    ("values", "fault"),
    [
        ({"dailyReport": {"backoffLimit": "two"}}, "/dailyReport/backoffLimit"),
        ({"dailyReport": {"schedule": 5}}, "/dailyReport/schedule"),
        ({"cloudTrader": {"port": "8080"}}, "/cloudTrader/port"),
        ({"networkPolicy": {"enabled": "yes"}}, "/networkPolicy/enabled"),
        ({"dailyReport": {"schedul": "5 0 * * *"}}, "schedul"),
        ({"cloudTrader": {"enabled": False}}, "tradingServiceUrl"),
        ({"serviceAccount": {"create": False}}, "/serviceAccount/name"),
    ],
)
def test_a_wrong_value_is_refused_by_the_schema(values: dict, fault: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=re.escape(fault)):
        render(values)
    assert any(fault in m["error"] for m in helm.lint(str(CHART), values)["messages"])


def test_schema_declares_every_default_value() -> None:
    chart = helm.Chart.load(str(CHART))
    # additionalProperties is false throughout, so this fails on a value the schema does not describe.
    chart.validate_schema(chart.values)
    assert json.loads((CHART / "values.schema.json").read_text())["additionalProperties"] is False


def test_promtool_is_installed() -> None:
    assert shutil.which("promtool"), "promtool is missing: apt-get install prometheus"


# --- what the issue asks of the CronJob, its pod and the alert ---------------------------------------------


def report_env(objects: list[dict]) -> dict[str, dict]:
    """The report container's environment, by name."""
    return {e["name"]: e for e in pod_spec(one(objects, "CronJob"))["containers"][0]["env"]}


def test_cronjob_defaults() -> None:
    spec = one(render(), "CronJob")["spec"]
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == ("5 0 * * *", "UTC", "Forbid")
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    assert spec["startingDeadlineSeconds"] > 0
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] >= 1 and job["activeDeadlineSeconds"] > 0 and job["ttlSecondsAfterFinished"] > 0
    container = job["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert "args" not in container and "command" not in container, "the image's ENTRYPOINT is `report`"


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_report_pod_is_hardened(value_set: str) -> None:
    for cronjob in cronjobs(render(values_of(value_set))):
        assert_hardened(pod_spec(cronjob))


def test_report_environment_follows_the_contract() -> None:
    env = report_env(render())
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "ADMIN_API_TOKEN"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == ("cloud-trader-secrets", name)
        assert ref.get("optional", False) is (name == "ADMIN_API_TOKEN")
    plain = {k: e["value"] for k, e in env.items() if "value" in e}
    assert plain["REPORT_TIMEZONE"] == "UTC" and plain["REPORT_SCHEDULE"] == "5 0 * * *"
    assert plain["REPORT_LOG_FORMAT"] == "json"
    assert (plain["REPORT_DAILY_PNL_TARGET"], plain["REPORT_TARGET_WIN_RATE"]) == ("350", "0.55")
    assert plain["REPORT_AGENT_CAPITAL"] == "100" and plain["REPORT_MAX_DRAWDOWN_LIMIT"] == "0.25"
    assert "PROMETHEUS_URL" not in plain and "PUSHGATEWAY_URL" not in plain
    # MPLCONFIGDIR and the state dir are on writable volumes: the root filesystem is read-only.
    spec = pod_spec(one(render(), "CronJob"))
    mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
    assert plain["MPLCONFIGDIR"].startswith("/tmp/") and mounts["/tmp"] == "tmp"
    assert mounts[plain["REPORT_STATE_DIR"]] == "state"


def test_full_values_reach_the_environment() -> None:
    values = values_of("full-values.yaml")
    plain = {k: e.get("value") for k, e in report_env(render(values)).items()}
    dr = values["dailyReport"]
    assert plain["PROMETHEUS_URL"] == dr["prometheusUrl"] and plain["PUSHGATEWAY_URL"] == dr["pushgatewayUrl"]
    assert plain["REPORT_TIMEZONE"] == "Europe/Berlin" and plain["REPORT_TEMPLATES_DIR"] == dr["templatesDir"]
    assert plain["REPORT_AGENT_CAPITAL"] == "vpin-hft=500,200" and plain["REPORT_QUERIES_FILE"]


def test_external_trader_without_admin_token() -> None:
    env = report_env(render(values_of("external-trader-values.yaml")))
    assert env["TRADING_SERVICE_URL"]["value"] == "http://cloud-trader.trading-prod.svc.cluster.local:8080"
    assert "ADMIN_API_TOKEN" not in env


@pytest.mark.parametrize(
    ("values", "claim"),
    [
        ({}, f"{RELEASE}-daily-report-state"),
        ({"dailyReport": {"persistence": {"enabled": False}}}, None),
        ({"dailyReport": {"persistence": {"enabled": True, "existingClaim": "mine"}}}, "mine"),
    ],
)
def test_state_volume(values: dict, claim: str | None) -> None:
    objects = render(values)
    volumes = {v["name"]: v for v in pod_spec(one(objects, "CronJob"))["volumes"]}
    pvcs = [o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"]
    if claim is None:
        assert volumes["state"]["emptyDir"] == {} and pvcs == []
        # Retries restart the container in the same pod, so the emptyDir keeps the delivery records.
        assert pod_spec(one(objects, "CronJob"))["restartPolicy"] == "OnFailure"
    else:
        assert volumes["state"]["persistentVolumeClaim"]["claimName"] == claim
        assert pvcs == ([claim] if claim != "mine" else [])


def test_network_policy_allows_only_what_the_report_needs() -> None:
    assert not [o for o in render() if o["kind"] == "NetworkPolicy"]
    policy = one(render({"networkPolicy": {"enabled": True}}), "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "daily-report"
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"] and "ingress" not in policy
    ports = sorted((p["protocol"], p["port"]) for rule in policy["egress"] for p in rule["ports"])
    assert ports == [("TCP", 53), ("TCP", 443), ("TCP", 8080), ("TCP", 9090), ("TCP", 9091), ("UDP", 53)]
    trader = next(r for r in policy["egress"] if r["ports"][0]["port"] == 8080)
    assert trader["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "cloud-trader"


def test_notes_say_an_existing_service_account_must_exist() -> None:
    assert "MUST already exist" not in notes()
    text = notes({"serviceAccount": {"create": False, "name": "trading-bot"}})
    assert "ServiceAccount trading-bot is NOT created" in text and "MUST already exist" in text
    assert f"create job --from=cronjob/{RELEASE}-daily-report" in text


def test_alert_rule_is_rendered_only_when_enabled() -> None:
    assert not [o for o in render() if o["kind"] == "PrometheusRule"]
    rule = one(render({"dailyReport": {"alerts": {"enabled": True}}}), "PrometheusRule")
    [alert] = rule["spec"]["groups"][0]["rules"]  # the one report, daily, of the one period, day
    expr = " ".join(alert["expr"].split())
    series = 'daily_report_last_success_timestamp_seconds{job="daily_report", report="daily", period="day"}'
    assert expr == f"(time() - {series}) > 26 * 3600 or absent({series})"
    assert alert["for"] == "10m" and alert["labels"] == {"severity": "warning", "report": "daily", "period": "day"}


def test_alert_fires_after_26_hours_without_a_delivered_report(tmp_path: Path) -> None:
    rule = one(render({"dailyReport": {"alerts": {"enabled": True}}}), "PrometheusRule")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]))
    alert = rule["spec"]["groups"][0]["rules"][0]
    series = 'daily_report_last_success_timestamp_seconds{job="daily_report", report="daily", period="day"}'

    def fired(extra_labels: dict) -> list[dict]:
        return [{"exp_labels": alert["labels"] | extra_labels, "exp_annotations": alert["annotations"]}]

    def case(values: str | None, at: str, alerts: list[dict]) -> dict:
        inputs = [{"series": series, "values": values}] if values else []
        return {
            "interval": "1m",
            "input_series": inputs,
            "alert_rule_test": [{"eval_time": at, "alertname": alert["alert"], "exp_alerts": alerts}],
        }

    # One success at t=0 (the gauge keeps its value in the Pushgateway), then none for 28 hours.
    stale = "0x1700"
    tests = [
        case(stale, "26h", []),
        case(stale, "26h5m", []),  # over 26 h, but not yet for 10 minutes
        case(stale, "26h11m", fired({"job": "daily_report"})),
        # A report every 24 h keeps it quiet.
        case("0x1439 86400x1439 172800x200", "50h", []),
        # Never succeeded: absent() fires after its 10 minutes.
        case(None, "5m", []),
        case(None, "11m", fired({"job": "daily_report"})),
        # Another report's success does not silence this one's.
        case(None, "11m", fired({"job": "daily_report"}))
        | {"input_series": [{"series": series.replace('"daily"', '"desk"'), "values": "0x60"}]},
    ]
    (tmp_path / "test.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests})
    )
    result = subprocess.run(["promtool", "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_documents_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    free_form = {"commonLabels", "annotations", "podAnnotations", "podLabels", "nodeSelector", "affinity"}
    free_form |= {"resources", "podSecurityContext", "securityContext", "ruleLabels", "podLabels"}

    def leaves(values: dict, prefix: str = "") -> list[str]:
        keys = []
        for key, value in values.items():
            path = f"{prefix}{key}"
            nested = isinstance(value, dict) and value and key not in free_form
            keys.extend(leaves(value, f"{path}.") if nested else [path])
        return keys

    missing = [k for k in leaves(helm.Chart.load(str(CHART)).values) if f"`{k}`" not in readme]
    assert missing == []


# --- several reports (issue 13): one CronJob per report and period -------------------------------------------

THREE_REPORTS = "multi-report-values.yaml"
# The chart before dailyReport.reports existed: the defaults and the older ci/ files must render as they did.
BASELINE_COMMIT = "d1370fa2a631d2ee90bab89d6c31f59e7cf940f1"
# Value files made after that commit (several reports, the bot) have no render before them to compare with.
NEWER_VALUE_SETS = (THREE_REPORTS, "bot-values.yaml", "state-values.yaml", "backfill-values.yaml")
BASELINE_VALUE_SETS = ["defaults", *(p.name for p in CI_FILES if p.name not in NEWER_VALUE_SETS)]
THREE_REPORT_CRONJOBS = {
    # name: (report, period)
    f"{RELEASE}-daily-report": ("daily", "day"),
    f"{RELEASE}-daily-report-week": ("daily", "week"),
    f"{RELEASE}-daily-report-month": ("daily", "month"),
    f"{RELEASE}-asia-report": ("asia", "day"),
    f"{RELEASE}-asia-report-week": ("asia", "week"),
    f"{RELEASE}-hft-report": ("hft", "day"),
    f"{RELEASE}-hft-report-month": ("hft", "month"),
}


def container_env(cronjob: dict) -> dict[str, str]:
    """The report container's environment: plain values, and the Secret key of each secretKeyRef."""
    env = {}
    for e in pod_spec(cronjob)["containers"][0]["env"]:
        env[e["name"]] = e["value"] if "value" in e else e["valueFrom"]["secretKeyRef"]["key"]
    return env


def by_name(objects: list[dict]) -> dict[str, dict]:
    """The CronJobs by name."""
    return {c["metadata"]["name"]: c for c in cronjobs(objects)}


def baseline_chart(tmp_path: Path) -> Path:
    """The chart at BASELINE_COMMIT with today's Chart.yaml (so only the chart version label is the same)."""
    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", BASELINE_COMMIT, "helm/trading-system"], capture_output=True
    )
    if archive.returncode != 0:
        pytest.skip(f"the git history with {BASELINE_COMMIT} is needed: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive.stdout, check=True)
    chart = tmp_path / "helm" / "trading-system"
    shutil.copy(CHART / "Chart.yaml", chart / "Chart.yaml")
    return chart


def rendered_files(values: dict, chart: Path = CHART, release: str = RELEASE) -> dict[str, str]:
    """Every rendered file of the chart, as text."""
    return helm.Chart.load(str(chart)).render(values, name=release, namespace=NAMESPACE)


@pytest.mark.parametrize("value_set", BASELINE_VALUE_SETS)
def test_existing_values_render_byte_for_byte_as_before(value_set: str, tmp_path: Path) -> None:
    before = rendered_files(values_of(value_set), baseline_chart(tmp_path))
    # Templates added since render nothing with these values (the bot's Deployment is off).
    after = {k: v for k, v in rendered_files(values_of(value_set)).items() if k in before or v.strip()}
    cronjob = f"{RELEASE}/templates/cronjob.yaml"
    assert after[cronjob] == before[cronjob]
    assert yaml.safe_load(after[cronjob])["metadata"]["name"] == f"{RELEASE}-daily-report"
    # Everything else too: NetworkPolicy, claim, NOTES; but the PrometheusRule, one rule per report since issue 19
    # (tests/test_helm_state.py).
    rule = f"{RELEASE}/templates/prometheusrule.yaml"
    assert {k: v for k, v in after.items() if k != rule} == {k: v for k, v in before.items() if k != rule}


@pytest.mark.parametrize(
    "reports",
    [
        None,
        [],
        [{"name": "daily"}],
        [{"name": "daily", "periods": None, "schedule": "", "agents": [], "suspend": None}],
    ],
    ids=["null", "empty", "daily", "daily-with-empty-settings"],
)
def test_the_default_report_list_is_the_one_daily_report(reports: list | None) -> None:
    spelled = rendered_files({"dailyReport": {"reports": reports}})
    assert spelled == rendered_files({})


@pytest.mark.parametrize("release", [RELEASE, LONG_RELEASE])
def test_three_reports_render_valid_cronjobs_with_unique_names(release: str, tmp_path: Path) -> None:
    values = values_of(THREE_REPORTS)
    objects = render(values, release=release)
    names = [c["metadata"]["name"] for c in cronjobs(objects)]
    assert len(names) == len(set(names)) == 7
    assert all(len(n) <= 52 and DNS_LABEL.match(n) for n in names)
    # The Jobs of each append 11 characters and must fit in 63.
    assert all(len(n + "-29000000") <= 63 for n in names)
    if release == RELEASE:
        assert set(names) == set(THREE_REPORT_CRONJOBS)
    # The day CronJob of "daily" keeps its name whatever else is listed.
    assert names[0] == one(render({}, release=release), "CronJob")["metadata"]["name"]
    for version in KUBE_VERSIONS:
        validate_all(objects, version, tmp_path)
        for cronjob in cronjobs(objects):
            job = job_from_cronjob(cronjob, f"{cronjob['metadata']['name'][:40]}-manual")
            kubernetes_validate.validate(job, version, strict=True)
            assert api_server_problems(job) == []
    accounts = {o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"}
    assert {pod_spec(c)["serviceAccountName"] for c in cronjobs(objects)} <= accounts and accounts
    # Labels tell them apart, on the CronJob, its Jobs and their pods.
    for cronjob in cronjobs(objects):
        template = cronjob["spec"]["jobTemplate"]
        label_sets = [cronjob["metadata"]["labels"], template["metadata"]["labels"]]
        label_sets.append(template["spec"]["template"]["metadata"]["labels"])
        for labels in label_sets:
            pair = (labels["trading-system/report"], labels["trading-system/period"])
            assert labels["app.kubernetes.io/component"] == "daily-report"
            if release == RELEASE:
                assert pair == THREE_REPORT_CRONJOBS[cronjob["metadata"]["name"]]
    pairs = {
        (c["metadata"]["labels"]["trading-system/report"], c["metadata"]["labels"]["trading-system/period"])
        for c in cronjobs(objects)
    }
    assert len(pairs) == 7


def test_three_reports_use_an_existing_service_account_when_told_so() -> None:
    values = deep_merge(values_of(THREE_REPORTS), {"serviceAccount": {"create": False, "name": "trading-bot"}})
    objects = render(values)
    assert not [o for o in objects if o["kind"] == "ServiceAccount"]
    assert {pod_spec(c)["serviceAccountName"] for c in cronjobs(objects)} == {"trading-bot"}


def test_week_and_month_run_at_the_daily_minute_and_hour_with_their_period() -> None:
    values = deep_merge(values_of(THREE_REPORTS), {"dailyReport": {"args": ["--output", "/tmp/out"]}})
    jobs = by_name(render(values))
    for name, (report, period) in THREE_REPORT_CRONJOBS.items():
        spec = jobs[name]["spec"]
        day = jobs[f"{RELEASE}-{report}-report"]["spec"]
        args = pod_spec(jobs[name])["containers"][0]["args"]
        if period == "day":
            assert args == ["--output", "/tmp/out"]
            continue
        # --period before the user's arguments: it is an option of `report` itself, before any subcommand.
        assert args == ["--period", period, "--output", "/tmp/out"]
        assert spec["timeZone"] == day["timeZone"]
        minute, hour = day["schedule"].split()[:2]
        assert spec["schedule"] == f"{minute} {hour} " + ("* * 1" if period == "week" else "1 * *")
        daily_times = {(r.hour, r.minute) for r in next_runs(day["schedule"], day["timeZone"], 3)}
        runs = next_runs(spec["schedule"], spec["timeZone"], 14)
        assert {(r.hour, r.minute) for r in runs} == daily_times
        if period == "week":
            assert {r.isoweekday() for r in runs} == {1}
        else:
            assert {r.day for r in runs} == {1} and len({(r.year, r.month) for r in runs}) == 14
    # Without dailyReport.args the day runs `report` alone, as before.
    plain = by_name(render(values_of(THREE_REPORTS)))
    assert "args" not in pod_spec(plain[f"{RELEASE}-daily-report"])["containers"][0]
    assert pod_spec(plain[f"{RELEASE}-asia-report-week"])["containers"][0]["args"] == ["--period", "week"]


@pytest.mark.parametrize(
    ("schedule", "week"),
    [("30 6 * * 1-5", "30 6 * * 1"), ("@daily", "0 0 * * 1"), ("05  7 * * *", "5 7 * * 1")],
)
def test_the_week_schedule_is_derived_from_the_daily_one(schedule: str, week: str) -> None:
    values = {"dailyReport": {"schedule": schedule, "reports": [{"name": "daily", "periods": ["day", "week"]}]}}
    jobs = by_name(render(values))
    assert jobs[f"{RELEASE}-daily-report"]["spec"]["schedule"] == schedule
    assert jobs[f"{RELEASE}-daily-report-week"]["spec"]["schedule"] == week


def test_each_report_has_its_own_chat_agents_zone_and_state() -> None:
    values = values_of(THREE_REPORTS)
    jobs = by_name(render(values))
    expected = {
        "daily": {
            "TELEGRAM_CHAT_ID": "TELEGRAM_CHAT_ID",
            "REPORT_AGENTS": None,
            "REPORT_TIMEZONE": "UTC",
            "REPORT_STATE_DIR": "/var/lib/report",
            "REPORT_AGENT_CAPITAL": "100",
            "REPORT_DAILY_PNL_TARGET": "350",
            "REPORT_TARGET_WIN_RATE": "0.55",
            "REPORT_NAME": None,  # the default, daily
        },
        "asia": {
            "TELEGRAM_CHAT_ID": "ASIA_TELEGRAM_CHAT_ID",
            "REPORT_AGENTS": "momentum-sg,mean-revert-hk",
            "REPORT_TIMEZONE": "Asia/Singapore",
            "REPORT_STATE_DIR": "/var/lib/report/asia",
            "REPORT_AGENT_CAPITAL": "250",
            "REPORT_DAILY_PNL_TARGET": "350",
            "REPORT_TARGET_WIN_RATE": "0.55",
            "REPORT_NAME": "asia",
        },
        "hft": {
            "TELEGRAM_CHAT_ID": "RISK_TELEGRAM_CHAT_ID",
            "REPORT_AGENTS": "vpin-hft,market-maker",
            "REPORT_TIMEZONE": "UTC",
            "REPORT_STATE_DIR": "/var/lib/report/hft",
            "REPORT_AGENT_CAPITAL": "100",
            "REPORT_DAILY_PNL_TARGET": "120",
            "REPORT_TARGET_WIN_RATE": "0.6",
            "REPORT_NAME": "hft",
        },
    }
    shared = container_env(jobs[f"{RELEASE}-daily-report"])
    for name, (report, _period) in THREE_REPORT_CRONJOBS.items():
        cronjob = jobs[name]
        env = container_env(cronjob)
        assert {k: env.get(k) for k in expected[report]} == expected[report], name
        assert env["REPORT_SCHEDULE"] == cronjob["spec"]["schedule"]
        assert cronjob["spec"]["timeZone"] == env["REPORT_TIMEZONE"]
        # Everything else is the shared dailyReport.
        different = {k for k in env.keys() | shared.keys() if env.get(k) != shared.get(k)}
        assert different <= {*expected[report], "REPORT_SCHEDULE"}, name
        secrets = {
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in pod_spec(cronjob)["containers"][0]["env"]
            if "valueFrom" in e
        }
        assert secrets == {"cloud-trader-secrets"}
        # The state dir is on the one state volume.
        spec = pod_spec(cronjob)
        mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        assert Path(env["REPORT_STATE_DIR"]).is_relative_to(mounts["state"])
        assert {v["name"]: v for v in spec["volumes"]}["state"]["persistentVolumeClaim"]["claimName"] == (
            f"{RELEASE}-daily-report-state"
        )
    # Two reports never share delivery records: one folder per report, the periods of a report share it.
    folders = {container_env(jobs[n])["REPORT_STATE_DIR"] for n in THREE_REPORT_CRONJOBS}
    assert len(folders) == 3


def test_empty_settings_of_a_report_are_the_daily_report_defaults() -> None:
    empty = {"schedule": "", "timeZone": "", "chatIdKey": "", "agents": [], "agentCapital": ""}
    empty |= {"dailyPnlTarget": None, "targetWinRate": None, "suspend": None}
    values = {"dailyReport": {"timeZone": "Europe/Berlin", "suspend": True, "dailyPnlTarget": 0}}
    values["dailyReport"]["reports"] = [{"name": "daily"}, {"name": "desk", **empty}]
    jobs = by_name(render(values))
    daily, desk = jobs[f"{RELEASE}-daily-report"], jobs[f"{RELEASE}-desk-report"]
    own = {"REPORT_STATE_DIR": "/var/lib/report/desk", "REPORT_NAME": "desk"}
    assert container_env(desk) == container_env(daily) | own
    assert (desk["spec"]["schedule"], desk["spec"]["timeZone"], desk["spec"]["suspend"]) == (
        "5 0 * * *",
        "Europe/Berlin",
        True,
    )
    # A set value wins, even a zero or false.
    values["dailyReport"]["reports"][1] |= {"dailyPnlTarget": 0, "targetWinRate": 0, "suspend": False}
    desk = by_name(render(values))[f"{RELEASE}-desk-report"]
    env = container_env(desk)
    assert (env["REPORT_DAILY_PNL_TARGET"], env["REPORT_TARGET_WIN_RATE"], desk["spec"]["suspend"]) == ("0", "0", False)


def test_every_report_pod_is_covered_by_the_network_policy_and_the_alert() -> None:
    objects = render(values_of(THREE_REPORTS))
    selector = one(objects, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"]
    rules = one(objects, "PrometheusRule")["spec"]["groups"][0]["rules"]
    descriptions = [" ".join(rule["annotations"]["description"].split()) for rule in rules]
    alert_selector = dict(
        pair.split("=") for pair in re.search(r"get jobs -l (\S+?),? ", descriptions[0]).group(1).split(",")
    )
    for cronjob in cronjobs(objects):
        template = cronjob["spec"]["jobTemplate"]
        pod_labels = template["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items(), cronjob["metadata"]["name"]
        assert alert_selector.items() <= template["metadata"]["labels"].items(), cronjob["metadata"]["name"]
        # One rule per CronJob, naming it, watching its report's and period's own Pushgateway group.
        report, period = THREE_REPORT_CRONJOBS[cronjob["metadata"]["name"]]
        [own] = [r for r in rules if r["labels"]["report"] == report and r["labels"]["period"] == period]
        assert cronjob["metadata"]["name"] in " ".join(own["annotations"]["description"].split())
        assert f'job="daily_report", report="{report}", period="{period}"' in own["expr"]
    assert len(rules) == len(THREE_REPORT_CRONJOBS)


def test_notes_list_every_report_and_chat_key() -> None:
    text = notes(values_of(THREE_REPORTS))
    for name in THREE_REPORT_CRONJOBS:
        assert f"  {name}: report " in text
    assert "TELEGRAM_CHAT_ID, ASIA_TELEGRAM_CHAT_ID, RISK_TELEGRAM_CHAT_ID" in text


def three_reports_with(change: dict, index: int = 1) -> dict:
    """The three-report values with one entry changed."""
    values = copy.deepcopy(values_of(THREE_REPORTS))
    values["dailyReport"]["reports"][index] |= change
    return values


def chart_without_schema(tmp_path: Path) -> Path:
    """A copy of the chart without values.schema.json: the template's own checks (helm --skip-schema-validation)."""
    chart = tmp_path / "trading-system"
    shutil.copytree(CHART, chart)
    (chart / "values.schema.json").unlink()
    return chart


@pytest.mark.parametrize(
    ("values", "fault"),
    [
        (
            three_reports_with({"name": "daily"}),
            'dailyReport.reports[1] (name "daily"): the name is already used by dailyReport.reports[0]',
        ),
        (
            three_reports_with({"name": "hft"}, 0),
            'dailyReport.reports[2] (name "hft"): the name is already used by dailyReport.reports[0]',
        ),
        (
            three_reports_with({"schedule": "*/30 * * * *"}),
            "dailyReport.reports[1] (name \"asia\"): the week's and the month's CronJobs run at the minute and hour"
            ' of the daily schedule "*/30 * * * *"',
        ),
        (
            three_reports_with({"schedule": "@hourly"}),
            "dailyReport.reports[1] (name \"asia\"): the week's and the month's",
        ),
        (three_reports_with({"schedule": "0 24 * * *"}), 'dailyReport.reports[1] (name "asia"): the week\'s'),
    ],
    ids=["duplicate", "duplicate-later", "no-fixed-minute", "descriptor", "hour-24"],
)
def test_a_bad_report_list_fails_rendering_naming_the_entry(values: dict, fault: str, tmp_path: Path) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(fault)):
        render(values)
    # The same message without the schema (helm --skip-schema-validation).
    with pytest.raises(helm.HelmRenderError, match=re.escape(fault)):
        render(values, chart=chart_without_schema(tmp_path))


TOO_LONG = "a-desk-name-of-thirty-one-chars"


@pytest.mark.parametrize(
    ("change", "schema_fault", "template_fault"),
    [
        (
            {"name": TOO_LONG},
            "/dailyReport/reports/1/name",
            f'dailyReport.reports[1] (name "{TOO_LONG}"): the name is 31 characters, at most 30 fit',
        ),
        (
            {"name": "Asia"},
            "/dailyReport/reports/1/name",
            'dailyReport.reports[1]: name "Asia" is not a lowercase DNS label',
        ),
        (
            {"name": "store"},
            "/dailyReport/reports/1/name",
            'dailyReport.reports[1] (name "store"): the name is reserved',
        ),
        (
            {"name": "deliveries-week"},
            "/dailyReport/reports/1/name",
            'dailyReport.reports[1] (name "deliveries-week"): the name is reserved',
        ),
        (
            {"periods": ["day", "year"]},
            "/dailyReport/reports/1/periods/1",
            'dailyReport.reports[1] (name "asia"): period "year" is not one of day, week, month',
        ),
        (
            {"periods": ["week", "week"]},
            "/dailyReport/reports/1/periods",
            'dailyReport.reports[1] (name "asia"): period week is listed twice',
        ),
        (
            {"agents": ["a,b"]},
            "/dailyReport/reports/1/agents/0",
            'dailyReport.reports[1] (name "asia"): agent "a,b" must be an agent id',
        ),
    ],
    ids=[
        "too-long",
        "not-a-dns-label",
        "reserved",
        "reserved-records",
        "unknown-period",
        "period-twice",
        "comma-in-agent",
    ],
)
def test_a_bad_report_entry_is_refused_by_the_schema_and_the_template(
    change: dict, schema_fault: str, template_fault: str, tmp_path: Path
) -> None:
    values = three_reports_with(change)
    with pytest.raises(helm.HelmValuesError, match=re.escape(schema_fault)):
        render(values)
    with pytest.raises(helm.HelmRenderError, match=re.escape(template_fault)):
        render(values, chart=chart_without_schema(tmp_path))


@pytest.mark.parametrize(
    ("change", "fault"),
    [
        ({"name": None}, "/dailyReport/reports/1/name"),
        ({"chatId": "X"}, "chatId"),
        ({"periods": []}, "/dailyReport/reports/1/periods"),
        ({"timeZone": "Asia Singapore"}, "/dailyReport/reports/1/timeZone"),
        ({"targetWinRate": 55}, "/dailyReport/reports/1/targetWinRate"),
        ({"dailyPnlTarget": "120"}, "/dailyReport/reports/1/dailyPnlTarget"),
    ],
)
def test_a_wrong_report_setting_is_refused_by_the_schema(change: dict, fault: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=re.escape(fault)):
        render(three_reports_with(change))


def test_the_longest_names_fit_a_long_release_name(tmp_path: Path) -> None:
    name = "a-desk-name-of-exactly-30-char"
    assert len(name) == 30
    values = {
        "dailyReport": {
            "reports": [
                {"name": "daily", "periods": ["day", "week", "month"]},
                {"name": name, "periods": ["day", "week", "month"]},
            ]
        }
    }
    objects = render(values, release=LONG_RELEASE)
    names = [c["metadata"]["name"] for c in cronjobs(objects)]
    assert len(set(names)) == 6 and all(len(n) <= 52 for n in names)
    # At least 8 characters of the release's name stay in front.
    assert all(n.startswith(LONG_RELEASE[:8]) for n in names)
    assert names[0] == f"{LONG_RELEASE[:38]}-daily-report"
    validate_all(objects, KUBE_VERSIONS[-1], tmp_path)
