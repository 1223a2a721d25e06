"""The chart's backfill across nodes (issue 22): a Kubernetes Indexed Job whose pods each build a share of the days.

``ci/backfill-values.yaml`` is also linted and validated strictly with every other value set by test_helm.py; here:
the Job itself, strictly, for every Kubernetes version tested; its shares cover the range once as the report's own
command line reads them; what it refuses to render.
"""

from __future__ import annotations

import re
from datetime import date

import helm_python as helm
import kubernetes_validate
import pytest
from helm_chart import CHART, KUBE_VERSIONS, RELEASE, api_server_problems, assert_hardened, pod_spec, render, values_of

from reports.cli_args import build_parser as _parser
from reports.operations.backfill import days_between
from reports.operations.parallel import parse_shard, share

BACKFILL = "backfill-values.yaml"
JOB = f"{RELEASE}-daily-report-backfill"
LONG_RELEASE = "trading-system-production-europe-west1-canary-blue-02"  # Helm allows 53 characters


def the_job(values: dict) -> dict:
    (job,) = [o for o in render(values) if o["kind"] == "Job"]
    return job


def env_of(job: dict) -> dict[str, dict]:
    return {e["name"]: e for e in pod_spec(job)["containers"][0]["env"]}


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_the_indexed_job_renders_and_validates_strictly(version: str) -> None:
    job = the_job(values_of(BACKFILL))
    kubernetes_validate.validate(job, version, strict=True)
    assert api_server_problems(job) == []
    assert job["metadata"]["name"] == JOB
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 8, 4)
    assert spec["backoffLimit"] >= 1 and spec["activeDeadlineSeconds"] > 0 and spec["ttlSecondsAfterFinished"] > 0
    assert_hardened(pod_spec(job))


def test_each_index_builds_its_share_and_the_shares_cover_the_range_once() -> None:
    job = the_job(values_of(BACKFILL))
    container = pod_spec(job)["containers"][0]
    args = container["args"]
    assert "command" not in container, "the image's ENTRYPOINT is `report`"
    # The index comes from the pod's annotation, through a variable Kubernetes expands in the arguments.
    index = env_of(job)["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert index == "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    assert "$(JOB_COMPLETION_INDEX)/8" in args
    shares = []
    for i in range(job["spec"]["completions"]):
        argv = [a.replace("$(JOB_COMPLETION_INDEX)", str(i)) for a in args]
        parsed = _parser().parse_args(argv)  # the report's own command line takes them
        assert parsed.workers == 2 and not parsed.dry_run
        first, last = date.fromisoformat(parsed.date_from), date.fromisoformat(parsed.date_to)
        shares.append(share(days_between(first, last), parse_shard(parsed.shard)))
    days = days_between(date(2025, 1, 1), date(2025, 3, 31))
    assert sorted(d for s in shares for d in s) == days  # every day once: none built (or sent) by two pods
    assert {len(s) for s in shares} == {11, 12}


def test_the_pods_share_the_state_database_and_push_nothing() -> None:
    job = the_job(values_of(BACKFILL))
    env = env_of(job)
    assert env["REPORT_STATE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "trading-system-report",
        "key": "REPORT_STATE_URL",
    }
    assert env["REPORT_TIMEZONE"]["value"] == "America/New_York"
    assert "PUSHGATEWAY_URL" not in env  # the daily job's alert must not be silenced by a backfill's runs
    volumes = {v["name"]: v for v in pod_spec(job)["volumes"]}
    assert volumes["state"] == {"name": "state", "emptyDir": {}}  # no claim: any node
    # The report's NetworkPolicy selects the Job's pods (and lets them reach the database).
    (policy,) = [o for o in render(values_of(BACKFILL)) if o["kind"] == "NetworkPolicy"]
    labels = job["spec"]["template"]["metadata"]["labels"]
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert all(labels.get(k) == v for k, v in selector.items())


def test_a_dry_run_backfill_writes_to_tmp_and_sends_nothing() -> None:
    values = values_of(BACKFILL)
    values["backfill"] |= {"dryRun": True}
    args = pod_spec(the_job(values))["containers"][0]["args"]
    assert args[-3:] == ["--dry-run", "--output", "/tmp/out"]


def test_off_by_default() -> None:
    assert not [o for o in render() if o["kind"] == "Job"]
    assert helm.Chart.load(str(CHART)).values["backfill"]["enabled"] is False


def test_without_the_state_database_it_refuses_to_render() -> None:
    values = values_of(BACKFILL)
    values["dailyReport"]["state"]["urlKey"] = ""
    with pytest.raises(helm.HelmRenderError, match=re.escape("backfill needs dailyReport.state.urlKey")):
        render(values)


def test_without_its_dates_it_refuses_to_render() -> None:
    values = values_of(BACKFILL)
    values["backfill"]["to"] = ""
    with pytest.raises(helm.HelmValuesError, match="/backfill/to"):
        render(values)


@pytest.mark.parametrize(
    ("change", "fault"),
    [
        ({"from": "1 January 2025"}, "/backfill/from"),
        ({"completions": 0}, "/backfill/completions"),
        ({"workers": 0}, "/backfill/workers"),
        ({"shards": 4}, "shards"),
    ],
)
def test_a_wrong_backfill_value_is_refused_by_the_schema(change: dict, fault: str) -> None:
    values = values_of(BACKFILL)
    values["backfill"] = {**values["backfill"], **change}
    with pytest.raises(helm.HelmValuesError, match=re.escape(fault)):
        render(values)


def test_each_pods_hostname_fits_for_a_long_release_name() -> None:
    # An Indexed Job's pod is named for its index: <job>-<index> is its hostname, a DNS label of at most 63.
    values = values_of(BACKFILL)
    values["backfill"]["completions"] = 100
    (job,) = [o for o in render(values, release=LONG_RELEASE) if o["kind"] == "Job"]
    assert api_server_problems(job) == []
    assert len(f"{job['metadata']['name']}-{job['spec']['completions'] - 1}") <= 63
    values["backfill"]["completions"] = 101
    with pytest.raises(helm.HelmValuesError, match="/backfill/completions"):
        render(values)
